"""GPU against CPU on each target's Ollama: the project's bar is more than 2x.

    pytest pytests/test_benchmarks.py --hardware --inventory lab.yaml --bench-out results/

Writes ollama-bench.json, .md and .png per target below --bench-out.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from xpu_testkit.bench.ollama_bench import run_ollama_bench
from xpu_testkit.bench.report import to_markdown, write_reports
from xpu_testkit.inventory import InventoryTarget
from xpu_testkit.services.tiny_gguf import write_tiny_llama


@pytest.mark.hardware
@pytest.mark.slow
def test_ollama_gpu_beats_cpu(ollama_target: InventoryTarget, bench_out: Path, tmp_path: Path) -> None:
    gguf = write_tiny_llama(tmp_path / "xpu-bench.gguf").path
    report = run_ollama_bench({ollama_target.name: ollama_target.services["ollama"]}, gguf)
    write_reports(report, bench_out / ollama_target.name)
    assert report.harness_overhead < 0.01
    assert report.passed, to_markdown(report)


@pytest.mark.hardware
@pytest.mark.slow
def test_comfyui_xpu_beats_cpu(comfyui_target: InventoryTarget) -> None:
    """Needs services.comfyui and services.comfyui_cpu (the same ComfyUI with --cpu) and the
    one-step-sd15 workflow's checkpoint on both servers."""
    from xpu_testkit.bench.comfyui_bench import run_comfyui_bench

    if "comfyui_cpu" not in comfyui_target.services:
        pytest.fail(f"{comfyui_target.name}: add services.comfyui_cpu (ComfyUI started with --cpu) to the inventory")
    bench = run_comfyui_bench(comfyui_target.services["comfyui"], comfyui_target.services["comfyui_cpu"])
    assert bench.passed, f"xpu {bench.xpu.median:.2f} it/s vs cpu {bench.cpu.median:.2f} it/s ({bench.ratio:.2f}x)"
