"""Ollama on each target, end to end: the services.ollama URL of every inventory target (or
Intel's IPEX-LLM Ollama, which the suite starts here where no target names one).

    pytest pytests/test_ollama.py [--hardware] [--xpu-inventory lab.yaml]

A model is created from the tiny GGUF (no download) and generates with a fixed seed. Without an
Intel GPU everything up to the generation must work and a failed generation must be explained by
a finding; with --hardware the model must run fully on the GPU (/api/ps size_vram == size).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from xpu_tool.inventory import InventoryTarget
from xpu_tool.model import Severity
from xpu_tool.services.ollama import OllamaCheck, check_ollama


def explain(result: OllamaCheck) -> str:
    return "\n".join(f"{f.id}: {f.title}: {'; '.join(f.evidence)} -> {f.fix}" for f in result.findings)


def test_ollama_answers_and_creates_the_model(ollama_target: InventoryTarget, ollama_log: Callable[[], str]) -> None:
    result = check_ollama(ollama_target.services["ollama"], log_reader=ollama_log)
    assert result.version is not None and result.created, explain(result)
    if result.generation is None:  # no GPU for the runner: the reason must be named, with a fix
        failures = [f for f in result.findings if f.severity is Severity.FAIL]
        assert failures and all(f.fix for f in failures), explain(result)
        assert "ollama-generate-failed" not in [f.id for f in failures], "an unexplained failure:\n" + explain(result)
    else:
        assert result.generation.text and result.generation.eval_count > 0, explain(result)


@pytest.mark.xpu_hardware
def test_ollama_generates_on_the_gpu(ollama_target: InventoryTarget, ollama_log: Callable[[], str]) -> None:
    """The service's log names GPU failures."""
    result = check_ollama(ollama_target.services["ollama"], expect_gpu=True, log_reader=ollama_log)
    explain_text = explain(result)
    assert result.generation is not None and result.generation.text, explain_text
    assert result.placement is not None and result.placement.offload == "gpu", explain_text
    assert result.ok, explain_text
