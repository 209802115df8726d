"""Ollama throughput on the GPU against the CPU (``num_gpu: 0``), per backend, in one run.

Throughput comes from the server's own counters (``eval_count / eval_duration`` for decode,
``prompt_eval_count / prompt_eval_duration`` for the prompt), so HTTP and client time do not
enter it. The harness's own time (everything in the loop that is not a request) is measured and
reported as ``harness_overhead``; it must stay under 1 % of the run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from xpu_tool.http import Deadline
from xpu_tool.services.ollama import Generation, OllamaClient
from .stats import PASS_RATIO, Stats, ratio, summarize

MODEL = "xpu-bench"
PROMPT = "Explain in one paragraph why the sky is blue."


@dataclass(frozen=True)
class DeviceRun:
    backend: str
    device: str  # "gpu" or "cpu"
    generations: tuple[Generation, ...]

    @property
    def decode(self) -> Stats:
        return summarize([g.decode_tokens_per_s for g in self.generations])

    @property
    def prompt(self) -> Stats:
        return summarize([g.prompt_tokens_per_s for g in self.generations])


@dataclass(frozen=True)
class BackendResult:
    backend: str
    url: str
    version: str
    gpu: DeviceRun
    cpu: DeviceRun

    @property
    def decode_ratio(self) -> float:
        return ratio(self.gpu.decode, self.cpu.decode)

    @property
    def prompt_ratio(self) -> float:
        return ratio(self.gpu.prompt, self.cpu.prompt)

    @property
    def passed(self) -> bool:
        return self.decode_ratio > PASS_RATIO


@dataclass(frozen=True)
class BenchReport:
    model: str
    prompt: str
    repetitions: int
    warmup: int
    num_predict: int
    results: tuple[BackendResult, ...]
    wall_seconds: float
    request_seconds: float
    pass_ratio: float = PASS_RATIO
    notes: tuple[str, ...] = field(default=())

    @property
    def harness_overhead(self) -> float:
        """Share of the run spent outside requests (bookkeeping, statistics)."""
        return max(0.0, (self.wall_seconds - self.request_seconds) / self.wall_seconds) if self.wall_seconds else 0.0

    @property
    def passed(self) -> bool:
        return bool(self.results) and all(r.passed for r in self.results)


def run_ollama_bench(backends: dict[str, str], gguf: Path, *, repetitions: int = 3, warmup: int = 1,
                     num_predict: int = 32, prompt: str = PROMPT, timeout: float = 600.0,
                     deadline: Deadline | None = None) -> BenchReport:
    """Every backend, GPU then CPU; each call within ``timeout`` seconds and all of them within
    ``deadline`` (an OllamaError of kind ``timeout`` when it passes)."""
    if repetitions < 3:
        raise ValueError("at least 3 repetitions")
    started = time.perf_counter()
    in_requests = 0.0

    def timed(call, *args, **kwargs):  # type: ignore[no-untyped-def]
        nonlocal in_requests
        t0 = time.perf_counter()
        try:
            return call(*args, **kwargs)
        finally:
            in_requests += time.perf_counter() - t0

    results = []
    for label, url in backends.items():
        client = OllamaClient(url, read_timeout=timeout, deadline=deadline)
        version = timed(client.version)
        timed(client.create_from_gguf, MODEL, gguf)
        runs = {}
        for device, num_gpu in (("gpu", None), ("cpu", 0)):
            generations = []
            for i in range(warmup + repetitions):
                g = timed(client.generate, MODEL, prompt, num_predict=num_predict, num_gpu=num_gpu, timeout=timeout)
                if i >= warmup:
                    generations.append(g)
            runs[device] = DeviceRun(label, device, tuple(generations))
        timed(client.delete, MODEL)
        results.append(BackendResult(label, url, version, runs["gpu"], runs["cpu"]))
    wall = time.perf_counter() - started
    return BenchReport(MODEL, prompt, repetitions, warmup, num_predict, tuple(results), wall, in_requests)
