"""Ollama on each target, end to end: the services.ollama URL of every inventory target.

    pytest pytests/test_ollama.py --hardware --inventory lab.yaml

A model is created from the tiny GGUF (no download), generates with a fixed seed, and must run
fully on the GPU (/api/ps size_vram == size).
"""

from __future__ import annotations

import pytest

from xpu_testkit.inventory import InventoryTarget
from xpu_testkit.services.ollama_check import check_ollama, journal_reader
from xpu_testkit.target import open_target


@pytest.mark.hardware
def test_ollama_generates_on_the_gpu(ollama_target: InventoryTarget) -> None:
    """The service's journal on the target names GPU failures (read through the target)."""
    logs = journal_reader(open_target(ollama_target.url))
    result = check_ollama(ollama_target.services["ollama"], expect_gpu=True, log_reader=logs)
    explain = "\n".join(f"{f.title}: {'; '.join(f.evidence)} -> {f.fix}" for f in result.findings)
    assert result.generation is not None and result.generation.text, explain
    assert result.placement is not None and result.placement.offload == "gpu", explain
    assert result.ok, explain
