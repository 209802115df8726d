"""`xpu bench llm`: Ollama and llama-server backends side by side on the same model.

The real run: llama-server's Vulkan build on Mesa's lavapipe (the GPU side) against its CPU build
(the CPU side), the CPU build once more as a backend of its own (no CPU side: ranked, not judged),
and the Ollama double (the IPEX-LLM Ollama's runner cannot generate without an Intel GPU). No speed
is asserted: shapes, where each number came from, and the verdict's logic.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from xpu_testkit.bench.llm_bench import choose_model, same_model, schedule
from xpu_testkit.bench.report import to_dict, to_markdown
from xpu_testkit.bench.results import BackendResult, BenchReport, DeviceRun
from xpu_testkit.doubles._server import LoopbackServer
from xpu_testkit.doubles.ollama import GENERATE_SAMPLE, OllamaDouble
from xpu_testkit.services.llama_server import BUILDS, LAVAPIPE, LlamaServer, binary_for
from xpu_tool.cli.exit_codes import Exit
from xpu_tool.errors import ConfigError
from xpu_tool.services.tiny_gguf import write_tiny_llama

from .misbehaving import MisbehavingServer, silent
from .xpu_command import on_a_terminal, run_xpu

BUILT_HERE = "bootstrap.sh test builds llama-server from llama.cpp's source and exports it"


@dataclass
class Rate:
    decode_tokens_per_s: float
    prompt_tokens_per_s: float = 100.0


def backend(name: str, gpu: float, cpu: float | None, engine: str = "llama-cpp") -> BackendResult:
    def run(device: str, v: float) -> DeviceRun:
        return DeviceRun(name, device, (Rate(v), Rate(v), Rate(v)))

    return BackendResult(
        name,
        "http://x",
        "b1",
        run("gpu", gpu),
        None if cpu is None else run("cpu", cpu),
        engine,
        None if cpu is None or engine == "ollama" else "http://y",
    )


def test_verdict_fastest_and_backends_without_a_cpu_side() -> None:
    report = BenchReport(
        "m",
        "p",
        3,
        1,
        32,
        (backend("vk", 50.0, 20.0), backend("ol", 90.0, 30.0, "ollama"), backend("solo", 120.0, None)),
        1.0,
        1.0,
    )
    vk, ol, solo = report.results
    assert vk.decode_ratio == 2.5 and vk.passed and ol.passed and report.passed
    assert solo.decode_ratio is None and not solo.judged and not solo.passed
    assert report.fastest is solo and report.title == "LLM"  # ranked, though not judged
    slow = BenchReport("m", "p", 3, 1, 32, (backend("vk", 30.0, 20.0), backend("solo", 9.0, None)), 1.0, 1.0)
    assert not slow.passed and slow.fastest is slow.results[0]
    unjudged = BenchReport("m", "p", 3, 1, 32, (backend("solo", 9.0, None),), 1.0, 1.0)
    assert not unjudged.passed and not unjudged.judged  # no verdict at all is not a pass


def test_the_sides_take_turns() -> None:
    assert schedule(3, 1, 2) == [(0, False), (1, False), (2, False)] + [(0, True), (1, True), (2, True)] * 2


def test_same_model_by_content_else_by_name(tmp_path: Path) -> None:
    a = write_tiny_llama(tmp_path / "a.gguf", seed=1).path
    copy = tmp_path / "copy" / "b.gguf"
    copy.parent.mkdir()
    copy.write_bytes(a.read_bytes())
    other = tmp_path / "other.gguf"
    other.write_bytes(a.read_bytes() + b"\0")
    assert same_model(str(a), str(copy)) and not same_model(str(a), str(other))
    assert same_model(str(a), "/remote/models/a.gguf") and not same_model(str(a), "/remote/b.gguf")
    assert choose_model(None, {"vk": str(a), "vk (--cpu)": str(copy)}) == a  # the server's file, for Ollama too
    assert choose_model(None, {"vk": "/remote/x.gguf"}) is None
    with pytest.raises(ConfigError, match=r"^model mismatch: --gguf has .*a\.gguf, vk serves .*other\.gguf; "):
        choose_model(a, {"vk": str(other)})


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["--backend", "a=vllm:http://127.0.0.1:1"],
            ("--backend 'a=vllm:http://127.0.0.1:1': unknown engine 'vllm' (one of ollama, llama-cpp)"),
        ),
        (
            ["--backend", "a=http://127.0.0.1:1", "--backend", "a=llama-cpp:http://127.0.0.1:2"],
            "--backend 'a' is given twice; give each backend its own name",
        ),
        (
            ["--backend", "a=llama-cpp:http://127.0.0.1:1", "--cpu", "b=http://127.0.0.1:2"],
            "--cpu 'b=http://127.0.0.1:2': no --backend named 'b'",
        ),
        (
            ["--backend", "a=http://127.0.0.1:1", "--cpu", "a=http://127.0.0.1:2"],
            "--cpu 'a=http://127.0.0.1:2': a is ollama, which measures its CPU side in the same server",
        ),
        (
            ["--backend", "a=llama-cpp:http://localhost:80", "--cpu", "a=http://LOCALHOST/"],
            "--cpu 'a=http://LOCALHOST/': the same server as --backend a; the CPU side is another "
            "llama-server with the same model, started with -ngl 0 (or a CPU build)",
        ),
        (
            ["--backend", "a=llama-cpp:http://127.0.0.1:8080/", "--cpu", "a=http://127.0.0.1:8080"],
            "--cpu 'a=http://127.0.0.1:8080': the same server as --backend a; the CPU side is another "
            "llama-server with the same model, started with -ngl 0 (or a CPU build)",
        ),
        (
            ["--backend", "a b=llama-cpp:http://127.0.0.1:1"],
            "--backend 'a b=llama-cpp:http://127.0.0.1:1': the name 'a b' is not a plain name (a letter or "
            "digit, then letters, digits, '.', '_' or '-', at most 64)",
        ),
        (
            ["--backend", ".x=http://127.0.0.1:1"],
            "--backend '.x=http://127.0.0.1:1': the name '.x' is not a plain name (a letter or "
            "digit, then letters, digits, '.', '_' or '-', at most 64)",
        ),
        (
            ["--backend", "a;rm=http://127.0.0.1:1"],
            "--backend 'a;rm=http://127.0.0.1:1': the name 'a;rm' is not a plain name (a letter or "
            "digit, then letters, digits, '.', '_' or '-', at most 64)",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str], message: str, tmp_path: Path) -> None:
    run = run_xpu("bench", "llm", *args, "--out", str(tmp_path / "out"))
    assert run.returncode == Exit.USAGE, run.stderr
    assert run.stderr.splitlines() == [f"xpu: error: {message}"] and not (tmp_path / "out").exists()


def test_the_help_says_how_a_cpu_side_is_started() -> None:
    """llama-server's default is -ngl auto (it offloads): "without -ngl" would be a GPU side again."""
    text = " ".join(run_xpu("bench", "--help").stdout.split())
    assert "started with -ngl 0, or a CPU build" in text and "without -ngl" not in text


def test_the_markdown_names_sides_not_devices(tmp_path: Path) -> None:
    """The bench cannot see where a side ran: rows say "GPU side"/"CPU side" and a note says where to look;
    the JSON keeps its "gpu"/"cpu" keys (xpu export reads them)."""
    report = BenchReport("m", "p", 3, 1, 32, (backend("cpubuild", 50.0, None),), 1.0, 1.0)
    markdown = to_markdown(report)
    assert "| backend | engine | side |" in markdown and "| cpubuild | llama-cpp | GPU side | 50.0 |" in markdown
    assert "| gpu |" not in markdown and "device" not in markdown.splitlines()[2]
    assert "the GPU side is each server as configured" in markdown and "xpu check llama-cpp" in markdown
    assert set(to_dict(report)["backends"][0]) >= {"gpu", "cpu"}


def test_bench_ollama_stays_ollama_only() -> None:
    run = run_xpu("bench", "ollama", "--backend", "a=llama-cpp:http://127.0.0.1:1")
    assert run.returncode == Exit.USAGE and run.stderr.splitlines() == [
        (
            "xpu: error: --backend 'a=llama-cpp:http://127.0.0.1:1': xpu bench ollama measures Ollama only; "
            "use xpu bench llm"
        )
    ]
    run = run_xpu("bench", "ollama", "--backend", "a=http://127.0.0.1:1", "--cpu", "a=http://127.0.0.1:2")
    assert run.returncode == Exit.USAGE and "--cpu applies to" in run.stderr


def test_unreachable_llama_server_is_exit_4(tmp_path: Path) -> None:
    run = run_xpu("bench", "llm", "--backend", "a=llama-cpp:http://127.0.0.1:1", "--out", str(tmp_path))
    assert run.returncode == Exit.UNREACHABLE and "Traceback" not in run.stderr
    [line] = run.stderr.splitlines()
    assert line.startswith("xpu: error: cannot connect to llama-server at http://127.0.0.1:1"), line


# -- the real servers ----------------------------------------------------------------------------


@dataclass
class RecordingProxy(LoopbackServer):
    """Passes every request to ``upstream`` and keeps each /completion answer as the server sent it."""

    upstream: str
    completions: list[dict[str, Any]] = field(default_factory=list)
    asked: list[dict[str, Any]] = field(default_factory=list)  # the /completion request bodies
    _server: ThreadingHTTPServer | None = None
    _stop: Any = field(default_factory=lambda: __import__("threading").Event())

    def start(self) -> RecordingProxy:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _pass(self, method: str) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)) if method == "POST" else None
                request = urllib.request.Request(
                    proxy.upstream + self.path, data=body, method=method, headers={"Content-Type": "application/json"}
                )
                try:
                    with urllib.request.urlopen(request, timeout=300) as answer:
                        status, data = answer.status, answer.read()
                except urllib.error.HTTPError as exc:
                    status, data = exc.code, exc.read()
                if self.path == "/completion" and status == 200:
                    proxy.asked.append(json.loads(body or b"{}"))
                    proxy.completions.append(json.loads(data))
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._pass("GET")

            def do_POST(self) -> None:
                self._pass("POST")

        return self._serve(Handler)


def _binary(build: str) -> Path:
    binary = binary_for(build)
    if binary is None:
        pytest.skip(f"{BUILDS[build]} is unset: no {build} llama-server to run ({BUILT_HERE})")
    return binary


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_llama(tmp_path_factory.mktemp("models") / "xpu-tiny.gguf", seed=1).path


@pytest.fixture(scope="module")
def servers(tiny_model: Path) -> Iterator[tuple[LlamaServer, LlamaServer]]:
    """(the Vulkan build on lavapipe, the CPU build) on the tiny model."""
    vulkan, cpu = _binary("vulkan"), _binary("cpu")
    with LlamaServer(vulkan, tiny_model, env=LAVAPIPE) as gpu_side, LlamaServer(cpu, tiny_model) as cpu_side:
        yield gpu_side, cpu_side


def test_one_run_compares_real_backends(
    servers: tuple[LlamaServer, LlamaServer], tiny_model: Path, tmp_path: Path
) -> None:
    lavapipe, cpu = servers
    eval_duration = GENERATE_SAMPLE["eval_duration"]
    assert isinstance(eval_duration, int)
    slower_cpu = dict(GENERATE_SAMPLE, eval_duration=eval_duration * 3)
    with RecordingProxy(lavapipe.url) as proxy, OllamaDouble("gpu", cpu_response=slower_cpu) as ollama:
        run = run_xpu(
            "bench",
            "llm",
            "--backend",
            f"vulkan=llama-cpp:{proxy.url}",
            "--cpu",
            f"vulkan={cpu.url}",
            "--backend",
            f"cpu-build=llama-cpp:{cpu.url}",
            "--backend",
            f"ollama-double={ollama.url}",
            "--num-predict",
            "16",
            "--out",
            str(tmp_path),
            timeout=600,
        )
        created = [b for _, path, b in ollama.requests if path == "/api/create"]
    assert run.returncode in (Exit.OK, Exit.FAILED), run.stderr
    report = json.loads((tmp_path / "llm-bench.json").read_text())
    assert (tmp_path / "llm-bench.md").read_text() == run.stdout.split("written: ")[0]
    by_name = {b["backend"]: b for b in report["backends"]}
    assert {n: b["engine"] for n, b in by_name.items()} == {
        "vulkan": "llama-cpp",
        "cpu-build": "llama-cpp",
        "ollama-double": "ollama",
    }
    assert by_name["vulkan"]["cpu_url"] == cpu.url and by_name["vulkan"]["version"]  # llama-server build_info
    for b in report["backends"]:
        for device in ("gpu", "cpu"):
            if b[device] is not None:
                assert b[device]["decode_tokens_per_s"]["n"] == 3
                assert all(s["decode_tokens_per_s"] > 0 and s["prompt_tokens_per_s"] > 0 for s in b[device]["samples"])
    # provenance: the vulkan GPU side's numbers are the server's own timings of its measured runs
    assert len(proxy.completions) == 4  # 1 warm-up + 3
    assert [s["decode_tokens_per_s"] for s in by_name["vulkan"]["gpu"]["samples"]] == [
        c["timings"]["predicted_per_second"] for c in proxy.completions[1:]
    ]
    assert [s["prompt_tokens_per_s"] for s in by_name["vulkan"]["gpu"]["samples"]] == [
        c["timings"]["prompt_per_second"] for c in proxy.completions[1:]
    ]
    assert all(0 < c["tokens_predicted"] <= 16 for c in proxy.completions)  # the tiny model may stop early
    assert all((a["n_predict"], a["seed"], a["temperature"]) == (16, 42, 0) for a in proxy.asked)
    # the Ollama side got the file the llama-servers serve (read from /props model_path)
    assert report["gguf"] == str(tiny_model) and len(created) == 1
    # the verdict: the double's CPU is 3x slower; cpu-build has no CPU side and is only ranked
    assert by_name["ollama-double"]["passed"] is True and by_name["ollama-double"]["decode_ratio"] == pytest.approx(3.0)
    assert by_name["cpu-build"]["passed"] is None and by_name["cpu-build"]["cpu"] is None
    assert by_name["vulkan"]["passed"] is (by_name["vulkan"]["decode_ratio"] > 2)
    assert report["passed"] is (by_name["vulkan"]["passed"] and by_name["ollama-double"]["passed"])
    assert run.returncode == (Exit.OK if report["passed"] else Exit.FAILED)
    fastest = max(report["backends"], key=lambda b: b["gpu"]["decode_tokens_per_s"]["median"])
    assert report["fastest"]["backend"] == fastest["backend"] in by_name
    assert f"fastest: {fastest['backend']} ({fastest['engine']})" in run.stdout
    assert "note: cpu-build: no CPU side" in run.stdout
    assert {p.name for p in tmp_path.iterdir()} == {"llm-bench.json", "llm-bench.md", "llm-bench.png"}


def test_a_different_model_is_refused(servers: tuple[LlamaServer, LlamaServer], tmp_path: Path) -> None:
    other = write_tiny_llama(tmp_path / "other.gguf", seed=2).path
    lavapipe, _ = servers
    run = run_xpu(
        "bench",
        "llm",
        "--backend",
        f"vulkan=llama-cpp:{lavapipe.url}",
        "--gguf",
        str(other),
        "--out",
        str(tmp_path / "out"),
        timeout=600,
    )
    assert run.returncode == Exit.USAGE, run.stderr
    [line] = run.stderr.splitlines()
    assert (
        line.startswith(f"xpu: error: model mismatch: --gguf has {other}, vulkan serves ") and "xpu-tiny.gguf" in line
    )


def test_export_loads_new_and_old_reports(tmp_path: Path) -> None:
    from xpu_testkit.bench.report import write_reports
    from xpu_tool.export.metrics import Export, load_bench, render
    from xpu_tool.model import Report

    report = BenchReport("m", "p", 3, 1, 32, (backend("vk", 50.0, 20.0), backend("solo", 120.0, None)), 1.0, 1.0)
    new = write_reports(report, tmp_path, stem="llm-bench")["json"]
    old = tmp_path / "ollama-bench.json"  # the shape before engines and backends without a CPU side
    old.write_text(
        json.dumps(
            {
                "backends": [
                    {
                        "backend": "sycl",
                        "decode_ratio": 3.5,
                        "gpu": {"decode_tokens_per_s": {"median": 42.0}},
                        "cpu": {"decode_tokens_per_s": {"median": 12.0}},
                    }
                ]
            }
        )
    )
    lines = {}
    for path in (new, old):
        data, mtime = load_bench(path)
        text = render(Export(Report("t", (), ()), bench=data, bench_mtime=mtime)).decode()
        lines[path.name] = {line for line in text.splitlines() if line.startswith("xpu_bench_")}
    assert 'xpu_bench_gpu_cpu_ratio{backend="vk"} 2.5' in lines["llm-bench.json"]
    assert 'xpu_bench_decode_tokens_per_second{backend="solo",device="gpu"} 120.0' in lines["llm-bench.json"]
    assert not any('backend="solo",device="cpu"' in x or 'ratio{backend="solo"}' in x for x in lines["llm-bench.json"])
    assert 'xpu_bench_backend_info{backend="vk",engine="llama-cpp"} 1.0' in lines["llm-bench.json"]
    assert 'xpu_bench_fastest{backend="solo",engine="llama-cpp"} 1.0' in lines["llm-bench.json"]
    assert 'xpu_bench_gpu_cpu_ratio{backend="sycl"} 3.5' in lines["ollama-bench.json"]
    assert 'xpu_bench_backend_info{backend="sycl",engine="ollama"} 1.0' in lines["ollama-bench.json"]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"backends": [{"backend": "x", "decode_ratio": None, "gpu": {}, "cpu": None}]}))
    with pytest.raises(ValueError, match=r"backends\[0\]\.gpu\.decode_tokens_per_s\.median"):
        load_bench(bad)


def test_progress_shows_on_a_terminal_and_never_in_a_pipe(tmp_path: Path) -> None:
    """A llama-server that never answers: on a terminal stderr says what the bench waits for and for
    how long (updated in place, cleared at the end); a pipe sees exactly what it saw before."""
    with MisbehavingServer(silent) as quiet:
        args = ["bench", "llm", "--backend", f"vk=llama-cpp:{quiet.url}", "--timeout", "2.5", "--out", str(tmp_path)]
        code, out, terminal = on_a_terminal(*args, timeout=60)
        piped = run_xpu(*args)
    assert code == piped.returncode != Exit.OK, (terminal, piped.stderr)
    assert "xpu: benchmarking vk ... 0 s (timeout 2.5 s)" in terminal and "... 2 s (timeout 2.5 s)" in terminal
    assert "benchmarking" not in terminal.rsplit("\r", 1)[-1]  # cleared before the error line
    assert "benchmarking" not in piped.stderr and "\r" not in piped.stderr and out == piped.stdout
