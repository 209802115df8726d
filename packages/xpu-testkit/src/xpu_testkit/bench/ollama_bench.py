"""Ollama throughput on the GPU against the CPU (``num_gpu: 0``), per backend, in one run: the
Ollama-only case of ``llm_bench``.

Throughput comes from the server's own counters (``eval_count / eval_duration`` for decode,
``prompt_eval_count / prompt_eval_duration`` for the prompt), so HTTP and client time do not
enter it. The harness's own time (everything in the loop that is not a request) is measured and
reported as ``harness_overhead``; it must stay under 1 % of the run.
"""

from __future__ import annotations

from pathlib import Path

from xpu_tool.deadline import Deadline

from .llm_bench import Endpoint, run_llm_bench
from .results import MODEL, PROMPT, BackendResult, BenchReport, DeviceRun

__all__ = ["MODEL", "PROMPT", "BackendResult", "BenchReport", "DeviceRun", "run_ollama_bench"]


def run_ollama_bench(
    backends: dict[str, str],
    gguf: Path,
    *,
    repetitions: int = 3,
    warmup: int = 1,
    num_predict: int = 32,
    prompt: str = PROMPT,
    timeout: float = 600.0,
    deadline: Deadline | None = None,
) -> BenchReport:
    """Every backend's GPU and CPU side in turn; each call within ``timeout`` seconds and all of
    them within ``deadline`` (an OllamaError of kind ``timeout`` when it passes)."""
    return run_llm_bench(
        [Endpoint(name, "ollama", url) for name, url in backends.items()],
        gguf,
        repetitions=repetitions,
        warmup=warmup,
        num_predict=num_predict,
        prompt=prompt,
        timeout=timeout,
        deadline=deadline,
    )
