"""What an LLM benchmark measured: per backend (an Ollama or a llama-server endpoint) its GPU side
and, when it has one, its CPU side, each a run of generations timed by the server itself."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from .stats import PASS_RATIO, Stats, ratio, summarize

MODEL = "xpu-bench"
PROMPT = "Explain in one paragraph why the sky is blue."
ENGINES = ("ollama", "llama-cpp")


class Measured(Protocol):
    """One generation, as the server timed it (Ollama's Generation, a llama-server Sample)."""

    @property
    def decode_tokens_per_s(self) -> float: ...

    @property
    def prompt_tokens_per_s(self) -> float: ...


@dataclass(frozen=True)
class DeviceRun:
    backend: str
    device: str  # "gpu" (the backend as configured) or "cpu"
    generations: tuple[Measured, ...]

    @property
    def decode(self) -> Stats:
        return summarize([g.decode_tokens_per_s for g in self.generations])

    @property
    def prompt(self) -> Stats:
        return summarize([g.prompt_tokens_per_s for g in self.generations])


@dataclass(frozen=True)
class BackendResult:
    """``cpu`` is None for a llama-server given without a CPU server: measured and ranked, no verdict."""

    backend: str
    url: str
    version: str
    gpu: DeviceRun
    cpu: DeviceRun | None
    engine: str = "ollama"
    cpu_url: str | None = None  # llama-cpp: the CPU server (Ollama measures its CPU in the same server)

    @property
    def decode_ratio(self) -> float | None:
        return None if self.cpu is None else ratio(self.gpu.decode, self.cpu.decode)

    @property
    def prompt_ratio(self) -> float | None:
        return None if self.cpu is None else ratio(self.gpu.prompt, self.cpu.prompt)

    @property
    def judged(self) -> bool:
        return self.cpu is not None

    @property
    def passed(self) -> bool:
        r = self.decode_ratio
        return r is not None and r > PASS_RATIO


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
    gguf: str = ""  # the model file every side ran

    @property
    def harness_overhead(self) -> float:
        """Share of the run spent outside requests (bookkeeping, statistics)."""
        return max(0.0, (self.wall_seconds - self.request_seconds) / self.wall_seconds) if self.wall_seconds else 0.0

    @property
    def judged(self) -> tuple[BackendResult, ...]:
        return tuple(r for r in self.results if r.judged)

    @property
    def passed(self) -> bool:
        """Every backend with a CPU side is more than ``pass_ratio`` times faster there; at least one has one."""
        return bool(self.judged) and all(r.passed for r in self.judged)

    @property
    def fastest(self) -> BackendResult | None:
        """The backend with the highest GPU-side decode median: the fastest backend on this machine."""
        return max(self.results, key=lambda r: r.gpu.decode.median, default=None)

    @property
    def title(self) -> str:
        return "Ollama" if all(r.engine == "ollama" for r in self.results) else "LLM"
