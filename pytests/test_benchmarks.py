"""GPU against CPU on each target's Ollama and ComfyUI: the project's bar is more than 2x.

    pytest pytests/test_benchmarks.py [--hardware] [--xpu-inventory lab.yaml] [--bench-out results/]

Without --hardware the benchmarks run as far as the machine allows: the ComfyUI bench in harness
mode between services.comfyui and services.comfyui_cpu (on the server the suite starts here, the
same CPU server twice), the Ollama bench up to the first generation that needs a GPU. With
--hardware each must pass the bar. Reports go below --bench-out, one directory per target.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from xpu_testkit.bench.comfyui_bench import read_sides, run_comfyui_bench
from xpu_testkit.bench.ollama_bench import run_ollama_bench
from xpu_testkit.bench.report import to_markdown, write_reports
from xpu_tool.inventory import InventoryTarget
from xpu_tool.services.ollama import OllamaError, diagnose_text
from xpu_tool.services.tiny_gguf import write_tiny_llama


def comfyui_pair(target: InventoryTarget) -> tuple[str, str]:
    if "comfyui_cpu" not in target.services:
        pytest.fail(f"{target.name}: add services.comfyui_cpu (ComfyUI started with --cpu) to the inventory")
    return target.services["comfyui"], target.services["comfyui_cpu"]


def test_comfyui_bench_measures_both_sides(comfyui_target: InventoryTarget, bench_out: Path) -> None:
    """Harness mode: every run executes the sampler; each side's device is in the report."""
    sides = read_sides(*comfyui_pair(comfyui_target))
    bench = run_comfyui_bench(sides, steps=3, repetitions=3, warmup=0, harness=True)
    out = bench_out / comfyui_target.name
    out.mkdir(parents=True, exist_ok=True)
    (out / "comfyui-bench.json").write_text(json.dumps(bench.to_dict(), indent=2) + "\n")
    assert bench.xpu.n == bench.cpu.n == 3 and bench.xpu.minimum > 0 and bench.cpu.minimum > 0
    assert bench.verdict is None and sides.cpu.device_type == "cpu", bench.to_dict()["devices"]


@pytest.mark.xpu_hardware
@pytest.mark.xpu_slow
def test_comfyui_xpu_beats_cpu(comfyui_target: InventoryTarget) -> None:
    """Needs the one-step-sd15 workflow's checkpoint on both servers."""
    sides = read_sides(*comfyui_pair(comfyui_target))
    assert sides.mismatch is None, sides.mismatch
    bench = run_comfyui_bench(sides)
    assert bench.passed, f"xpu {bench.xpu.median:.2f} it/s vs cpu {bench.cpu.median:.2f} it/s ({bench.ratio:.2f}x)"


def test_ollama_bench_runs_up_to_the_generation(
    ollama_target: InventoryTarget, ollama_log: Callable[[], str], bench_out: Path, tmp_path: Path
) -> None:
    """The model is created and generation is asked for; where it cannot run (no GPU for the
    runner) the error and the server's log must name why."""
    gguf = write_tiny_llama(tmp_path / "xpu-bench.gguf").path
    try:
        report = run_ollama_bench({ollama_target.name: ollama_target.services["ollama"]}, gguf)
    except OllamaError as exc:
        assert "/api/generate" in str(exc) or "runner" in str(exc), exc
        assert diagnose_text(str(exc), ollama_log()), f"no diagnosis for: {exc}"
        return
    write_reports(report, bench_out / ollama_target.name)
    assert report.results and report.harness_overhead < 0.01, to_markdown(report)


@pytest.mark.xpu_hardware
@pytest.mark.xpu_slow
def test_ollama_gpu_beats_cpu(ollama_target: InventoryTarget, bench_out: Path, tmp_path: Path) -> None:
    gguf = write_tiny_llama(tmp_path / "xpu-bench.gguf").path
    report = run_ollama_bench({ollama_target.name: ollama_target.services["ollama"]}, gguf)
    write_reports(report, bench_out / ollama_target.name)
    assert report.harness_overhead < 0.01
    assert report.passed, to_markdown(report)


def test_llm_backends_side_by_side_here(bench_out: Path, tmp_path: Path) -> None:
    """llama-server's Vulkan build on Mesa's lavapipe against its CPU build, on the tiny model, with
    `xpu bench llm`'s code: the speeds go to --bench-out (llm-bench.md names the fastest); what is
    asserted is that every side generated, by the servers' own timings."""
    from xpu_testkit.bench.llm_bench import Endpoint, run_llm_bench
    from xpu_testkit.services.llama_server import (
        BUILDS,
        LAVAPIPE,
        LlamaServer,
        binary_for,
    )

    binaries = {build: path for build in BUILDS if (path := binary_for(build)) is not None}
    missing = [BUILDS[b] for b in BUILDS if b not in binaries]
    if missing:
        pytest.skip(f"{' and '.join(missing)} unset: no llama-server to run (bootstrap.sh test builds them)")
    model = write_tiny_llama(tmp_path / "xpu-tiny.gguf").path
    with LlamaServer(binaries["vulkan"], model, env=LAVAPIPE) as vulkan, LlamaServer(binaries["cpu"], model) as cpu:
        report = run_llm_bench([Endpoint("vulkan-lavapipe", "llama-cpp", vulkan.url, cpu.url)], model)
    write_reports(report, bench_out / "llama-cpp-here", stem="llm-bench")
    [r] = report.results
    assert r.cpu is not None and r.gpu.decode.minimum > 0 and r.cpu.decode.minimum > 0, to_markdown(report)
    assert report.fastest is r
