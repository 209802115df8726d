"""Benchmark arithmetic on known timings, the report files, and a run against the Ollama double."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import matplotlib.image
import pytest

from xpu_testkit.bench.ollama_bench import (
    BackendResult,
    BenchReport,
    DeviceRun,
    run_ollama_bench,
)
from xpu_testkit.bench.report import to_markdown, write_reports
from xpu_testkit.bench.stats import ratio, summarize
from xpu_testkit.doubles.comfyui import ComfyDouble
from xpu_testkit.doubles.ollama import GENERATE_SAMPLE, OllamaDouble
from xpu_tool.cli.exit_codes import Exit
from xpu_tool.services.ollama import Generation
from xpu_tool.services.tiny_gguf import write_tiny_llama

from .xpu_command import run_xpu


def gen(eval_count: int, eval_s: float, prompt_count: int = 20, prompt_s: float = 0.1) -> Generation:
    return Generation("x", "length", eval_count, int(eval_s * 1e9), prompt_count, int(prompt_s * 1e9), 0, 0)


def test_stats() -> None:
    s = summarize([30.0, 10.0, 20.0])
    assert (s.n, s.median, s.minimum, s.maximum, s.spread) == (3, 20.0, 10.0, 30.0, 1.0)
    assert summarize([1.0, 2.0, 3.0, 4.0]).median == 2.5
    assert ratio(summarize([90.0]), summarize([30.0])) == 3.0
    with pytest.raises(ValueError):
        summarize([])


def result(gpu_s: list[float], cpu_s: list[float]) -> BackendResult:
    gpu = DeviceRun("sycl", "gpu", tuple(gen(100, s) for s in gpu_s))
    cpu = DeviceRun("sycl", "cpu", tuple(gen(100, s) for s in cpu_s))
    return BackendResult("sycl", "http://x", "0.12.11", gpu, cpu)


def test_ratio_and_pass_bar_from_known_timings() -> None:
    fast = result([1.0, 1.25, 0.8], [4.0, 5.0, 4.0])  # GPU medians 100 tok/s, CPU 25 tok/s
    assert fast.cpu is not None
    assert fast.gpu.decode.median == 100.0 and fast.cpu.decode.median == 25.0
    assert fast.decode_ratio == 4.0 and fast.passed
    assert fast.gpu.prompt.median == 200.0  # 20 prompt tokens in 0.1 s
    slow = result([1.0, 1.0, 1.0], [1.5, 1.5, 1.5])
    assert slow.decode_ratio is not None
    assert round(slow.decode_ratio, 3) == 1.5 and not slow.passed


def test_report_files(tmp_path: Path) -> None:
    report = BenchReport("m", "p", 3, 1, 32, (result([1.0] * 3, [4.0] * 3),), wall_seconds=10.0, request_seconds=9.95)
    assert report.harness_overhead == pytest.approx(0.005)
    paths = write_reports(report, tmp_path / "out")
    data = json.loads(paths["json"].read_text())
    assert data["backends"][0]["decode_ratio"] == 4.0 and data["passed"] is True
    markdown = paths["markdown"].read_text()
    assert (
        "| sycl | ollama | GPU side | 100.0 |" in markdown and "fastest: sycl (ollama), 100.0 tok/s decode" in markdown
    )
    assert data["fastest"] == {"backend": "sycl", "engine": "ollama", "decode_tokens_per_s": 100.0}
    image = matplotlib.image.imread(paths["png"])
    assert image.shape[0] > 100 and image.shape[1] > 100 and image.std() > 0  # a drawn, not blank, chart


@pytest.fixture
def double_with_a_slower_cpu():
    # CPU answer for this test: the documented sample with 3x the decode time (a test input, not a recording)
    eval_duration = GENERATE_SAMPLE["eval_duration"]
    assert isinstance(eval_duration, int)
    cpu = dict(GENERATE_SAMPLE, eval_duration=eval_duration * 3)
    with OllamaDouble("gpu", cpu_response=cpu) as double:
        yield double


def test_bench_against_the_double(double_with_a_slower_cpu: OllamaDouble, tmp_path: Path) -> None:
    gguf = write_tiny_llama(tmp_path / "m.gguf").path
    report = run_ollama_bench({"double": double_with_a_slower_cpu.url}, gguf, repetitions=3, warmup=1)
    [r] = report.results
    assert r.cpu is not None
    assert len(r.gpu.generations) == 3 and len(r.cpu.generations) == 3
    assert r.decode_ratio == pytest.approx(3.0) and r.passed
    generates = [body for method, path, body in double_with_a_slower_cpu.requests if path == "/api/generate"]
    assert len(generates) == 8  # (1 warm-up + 3) x (GPU, CPU)
    assert [b["options"].get("num_gpu") for b in generates] == [None, 0] * 4  # the sides take turns
    assert report.harness_overhead < 0.01, f"harness overhead {report.harness_overhead:.2%}"
    assert "x |" in to_markdown(report)


def test_bench_cli(double_with_a_slower_cpu: OllamaDouble, tmp_path: Path) -> None:
    run = run_xpu("bench", "ollama", "--backend", f"double={double_with_a_slower_cpu.url}", "--out", str(tmp_path))
    assert run.returncode == 0, run.stderr
    assert {p.name for p in tmp_path.iterdir()} == {"ollama-bench.json", "ollama-bench.md", "ollama-bench.png"}


def test_bench_cli_bad_backend() -> None:
    run = run_xpu("bench", "ollama", "--backend", "nourl", timeout=60)
    assert run.returncode == 2 and run.stderr.strip() == (
        "xpu: error: --backend 'nourl': expected NAME=http://host:port"
    )


def progress(values: list[int], times: list[float], total: int = 20) -> tuple[tuple[dict, ...], tuple[float, ...]]:
    events = [{"type": "executing", "data": {"node": "5"}}] + [
        {"type": "progress", "data": {"value": v, "max": total, "node": "5"}} for v in values
    ]
    return tuple(events), (0.0, *times)


def test_comfyui_iterations_per_second_from_progress_events() -> None:
    from xpu_testkit.bench.comfyui_bench import iterations_per_second, sampling_workflow

    # step 1 arrives after 5 s (loading), then 19 steps in 3.8 s: 5 it/s
    events, arrivals = progress(list(range(1, 21)), [5.0 + 0.2 * i for i in range(20)])
    assert iterations_per_second(events, arrivals) == pytest.approx(5.0)
    with pytest.raises(ValueError):
        iterations_per_second(*progress([1], [1.0]))
    sampler = next(n for n in sampling_workflow(20).values() if n["class_type"] == "KSampler")
    assert sampler["inputs"]["steps"] == 20


@pytest.mark.parametrize(
    "xpu_type, cpu_type, harness, verdict, why",
    [
        ("xpu", "cpu", False, "pass", None),
        ("cpu", "cpu", False, None, "the --xpu server http://a runs on cpu (n), not an Intel GPU"),
        ("xpu", "xpu", False, None, "the --cpu server http://b runs on xpu (n), not the CPU"),
        ("xpu", "cpu", True, None, None),
    ],
)
def test_comfyui_verdict_only_for_an_intel_gpu_against_the_cpu(
    xpu_type: str, cpu_type: str, harness: bool, verdict: str | None, why: str | None
) -> None:
    from xpu_testkit.bench.comfyui_bench import ComfyBench, Side, Sides

    sides = Sides(Side("xpu", "http://a", xpu_type, "n"), Side("cpu", "http://b", cpu_type, "n"))
    bench = ComfyBench(summarize([5.0, 5.2, 4.8]), summarize([1.0, 1.1, 0.9]), 20, 3, sides, harness)
    assert bench.ratio == pytest.approx(5.0) and sides.mismatch == why
    assert bench.verdict == verdict and bench.passed is (verdict == "pass")
    slower = ComfyBench(summarize([1.5] * 3), summarize([1.0] * 3), 20, 3, sides, harness)
    assert slower.verdict == (None if verdict is None else "fail")
    assert bench.to_dict()["devices"]["xpu"]["device_type"] == xpu_type


def test_comfyui_bench_alternates_the_sides() -> None:
    from xpu_testkit.bench.comfyui_bench import Side, Sides, run_comfyui_bench, schedule

    assert schedule(1, 3) == [("xpu", False), ("cpu", False)] + [("xpu", True), ("cpu", True)] * 3
    with ComfyDouble() as xpu, ComfyDouble() as cpu:
        sides = Sides(Side("xpu", xpu.url, "xpu", "a"), Side("cpu", cpu.url, "cpu", "b"))
        bench = run_comfyui_bench(sides, steps=3, repetitions=3, warmup=1)
        starts = sorted(
            (m[1]["timestamp"], side)
            for side, double in (("xpu", xpu), ("cpu", cpu))
            for entry in double.history.values()
            for m in entry["status"]["messages"]
            if m[0] == "execution_start"
        )
    assert (bench.xpu.n, bench.cpu.n) == (3, 3) and len(starts) == 8  # 1 warm-up and 3 runs a side
    # each side's runs interleave with the other's (milliseconds: a run takes several round trips)
    assert [side for _, side in starts] == ["xpu", "cpu"] * 4, starts


def _bench_comfyui(xpu_url: str, cpu_url: str, out: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_xpu(
        "bench",
        "comfyui",
        "--xpu",
        xpu_url,
        "--cpu",
        cpu_url,
        "--steps",
        "3",
        "--repetitions",
        "3",
        "--warmup",
        "0",
        "--out",
        str(out),
        *args,
        timeout=300,
    )


def test_comfyui_bench_harness_on_the_real_server(xpu_comfyui_server, tmp_path: Path) -> None:
    """The whole bench against the real ComfyUI, as both sides: each run executes the sampler (a
    new seed each time), the devices are read and reported, and no verdict is given."""
    url = xpu_comfyui_server.url
    refused = _bench_comfyui(url, url, tmp_path / "no")
    assert refused.returncode == 1 and "Traceback" not in refused.stderr and not (tmp_path / "no").exists()
    assert refused.stderr.splitlines() == [
        (
            f"xpu: no GPU-over-CPU verdict: the --xpu server {url} runs on cpu (cpu), "
            "not an Intel GPU (--harness measures anyway)"
        )
    ]
    run = _bench_comfyui(url, url, tmp_path, "--harness")
    assert run.returncode == 0, run.stderr
    report = json.loads((tmp_path / "comfyui-bench.json").read_text())
    assert report["verdict"] is None and report["harness"] is True and report["passed"] is False
    assert {s["device_type"] for s in report["devices"].values()} == {"cpu"}
    assert report["xpu_it_per_s"]["n"] == 3 and report["cpu_it_per_s"]["median"] > 0
    assert "harness run, no verdict" in run.stdout


def test_comfyui_bench_verdict_for_an_xpu_server_against_the_real_cpu_server(
    xpu_comfyui_server, tmp_path: Path
) -> None:
    """The xpu side is the double (its sampler steps take no time); the cpu side the real server."""
    with ComfyDouble() as double:
        run = _bench_comfyui(double.url, xpu_comfyui_server.url, tmp_path)
    assert run.returncode == 0, run.stderr
    report = json.loads((tmp_path / "comfyui-bench.json").read_text())
    assert report["verdict"] == "pass" and report["devices"]["xpu"]["device_type"] == "xpu"
    assert report["devices"]["cpu"]["device_type"] == "cpu" and "(pass: bar 2x)" in run.stdout


def test_comfyui_bench_unreachable_side_is_one_line(tmp_path: Path) -> None:
    with ComfyDouble() as double:
        run = _bench_comfyui(double.url, "http://127.0.0.1:1", tmp_path)
    assert run.returncode == Exit.UNREACHABLE and "Traceback" not in run.stderr  # nothing listens there
    [line] = run.stderr.splitlines()  # the reason follows (e.g. ": Connection refused")
    assert line.startswith("xpu: error: cannot connect to ComfyUI at http://127.0.0.1:1: "), line


# -- packages/ipex-benchmarks: the script, run the way writeShellApplication runs it -----------------

IPEX_BENCHMARKS = Path(__file__).resolve().parents[3] / "packages" / "ipex-benchmarks" / "ipex-benchmarks.sh"


def _ipex_benchmarks(tmp_path: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """writeShellApplication puts `set -o errexit -o nounset -o pipefail` before the text and
    xpu-testkit's bin on PATH; here `xpu` is this environment's."""
    script = tmp_path / "ipex-benchmarks"
    script.write_text("#!/bin/bash\nset -o errexit\nset -o nounset\nset -o pipefail\n" + IPEX_BENCHMARKS.read_text())
    script.chmod(0o755)
    xpu_bin = Path(sys.executable).parent
    base = {"PATH": f"{xpu_bin}:/usr/bin:/bin", "HOME": str(tmp_path), "XPU_BENCH_OUT": str(tmp_path / "out")}
    return subprocess.run(
        [str(script), *args],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        check=False,
    )


def test_ipex_benchmarks_measures_ollama(double_with_a_slower_cpu: OllamaDouble, tmp_path: Path) -> None:
    run = _ipex_benchmarks(
        tmp_path, {"OLLAMA_URL": double_with_a_slower_cpu.url, "OLLAMA_BACKEND": "vulkan"}, "--repetitions", "3"
    )
    assert run.returncode == 0, run.stderr
    report = json.loads((tmp_path / "out" / "ollama-bench.json").read_text())
    assert [b["backend"] for b in report["backends"]] == ["vulkan"] and report["passed"] is True
    assert run.stdout.strip().endswith(f"reports in {tmp_path / 'out'}")


def test_ipex_benchmarks_below_the_bar_exits_1(tmp_path: Path) -> None:
    with OllamaDouble("gpu", cpu_response=GENERATE_SAMPLE) as same_speed:  # CPU as fast as the GPU
        run = _ipex_benchmarks(tmp_path, {"OLLAMA_URL": same_speed.url})
    assert run.returncode == 1, run.stderr
    assert json.loads((tmp_path / "out" / "ollama-bench.json").read_text())["passed"] is False


@pytest.mark.parametrize(
    "env, message",
    [
        ({"OLLAMA_URL": "nourl"}, "'nourl' is not an http(s) URL"),
        ({"COMFYUI_XPU_URL": "http://127.0.0.1:1"}, "set both COMFYUI_XPU_URL and COMFYUI_CPU_URL"),
    ],
)
def test_ipex_benchmarks_bad_input(
    env: dict[str, str], message: str, tmp_path: Path, double_with_a_slower_cpu: OllamaDouble
) -> None:
    env = {"OLLAMA_URL": double_with_a_slower_cpu.url, **env}
    run = _ipex_benchmarks(tmp_path, env, "--repetitions", "3")
    assert run.returncode == 2 and message in run.stderr and "Traceback" not in run.stderr
