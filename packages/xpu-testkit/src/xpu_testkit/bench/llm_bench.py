"""Backends side by side: the same GGUF and prompt on any mix of Ollama and llama-server endpoints,
each on its GPU and on the CPU, in one run.

Speeds are the servers' own: Ollama's ``eval_count / eval_duration`` (and the prompt's), llama-server's
``timings.predicted_per_second`` and ``timings.prompt_per_second``. Every side gets the same prompt,
token count, seed and temperature 0. An Ollama backend's CPU side is the same server with
``num_gpu: 0``; a llama-server loads its model with a fixed ``-ngl`` at start, so its CPU side is
another server (``Endpoint.cpu_url``) started with ``-ngl 0`` or a CPU build (the default, ``-ngl
auto``, offloads to the GPU), and without one it is measured and ranked but not judged. Neither side
is checked for where it ran: llama-server's API does not say (b11434's /props, /slots and /v1/models
name no device and no ``n_gpu_layers``; only its log does, `xpu check llama-cpp --journal UNIT`).
The sides take turns (warm-up rounds first, then measured rounds over every side), so a change in
the machine's load falls on all of them alike.
"""

from __future__ import annotations

import functools
import hashlib
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from xpu_tool.deadline import Deadline
from xpu_tool.errors import ConfigError
from xpu_tool.services.llama_cpp import Completion, LlamaCppClient, LlamaCppError
from xpu_tool.services.ollama import OllamaClient

from .results import (
    ENGINES,
    MODEL,
    PROMPT,
    BackendResult,
    BenchReport,
    DeviceRun,
    Measured,
)

T = TypeVar("T")


@dataclass(frozen=True)
class Endpoint:
    name: str
    engine: str  # one of ENGINES
    url: str
    cpu_url: str | None = None  # llama-cpp: another server, same model, started with -ngl 0 or a CPU build


@dataclass(frozen=True)
class Sample:
    """One llama-server completion, its speeds from the server's own ``timings``."""

    completion: Completion

    @property
    def decode_tokens_per_s(self) -> float:
        assert self.completion.timings is not None  # checked when made (complete_sample)
        return self.completion.timings.predicted_per_second

    @property
    def prompt_tokens_per_s(self) -> float:
        assert self.completion.timings is not None
        return self.completion.timings.prompt_per_second


def complete_sample(client: LlamaCppClient, prompt: str, num_predict: int) -> Sample:
    c = client.complete(prompt, n_predict=num_predict)
    if not c.worked:
        raise LlamaCppError(
            f"POST /completion at {client.base_url}: the server generated nothing "
            f"(tokens_predicted {c.tokens_predicted}, timings {c.timings})",
            kind="answer",
        )
    return Sample(c)


# -- the same model everywhere --------------------------------------------------------------------


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _local(path: str) -> Path | None:
    """``path`` when it names a file this process can read."""
    p = Path(path)
    return p if path and p.is_file() and os.access(p, os.R_OK) else None


def same_model(a: str, b: str) -> bool:
    """Size and sha256 when both are readable files here, else the file name."""
    pa, pb = _local(a), _local(b)
    if pa is None or pb is None:
        return Path(a).name == Path(b).name
    if pa.samefile(pb):
        return True
    return pa.stat().st_size == pb.stat().st_size and _sha256(pa) == _sha256(pb)


def model_paths(endpoints: Iterable[Endpoint], deadline: Deadline | None = None) -> dict[str, str]:
    """Each llama-server's (GPU and CPU) model file, from /props model_path, by who serves it."""
    paths: dict[str, str] = {}
    for ep in endpoints:
        if ep.engine != "llama-cpp":
            continue
        for who, url in ((ep.name, ep.url), (f"{ep.name} (--cpu)", ep.cpu_url)):
            if url is not None:
                client = LlamaCppClient(url, deadline=deadline)
                client.wait_until_ready()
                paths[who] = client.props().model_path
    return paths


def choose_model(gguf: Path | None, served: dict[str, str]) -> Path | None:
    """The GGUF for the Ollama sides: ``gguf``, else the first llama-server's model when it is a
    readable file here, else None (the caller's tiny model). ConfigError, one line, when two sides
    would run different files."""
    chosen = gguf if gguf is not None else next((p for p in map(_local, served.values()) if p), None)
    label = "--gguf" if gguf is not None else next((w for w, p in served.items() if _local(p)), "")
    reference = (label, str(chosen)) if chosen is not None else next(iter(served.items()), None)
    if reference is not None:
        for who, path in served.items():
            if not same_model(reference[1], path):
                raise ConfigError(
                    f"model mismatch: {reference[0]} has {reference[1]}, {who} serves {path}; "
                    "give every server the same GGUF"
                )
    return chosen


def check_tiny_model(tiny: Path, served: dict[str, str]) -> None:
    """The tiny model written for the Ollama sides must be what the llama-servers serve too."""
    for who, path in served.items():
        if not same_model(str(tiny), path):
            raise ConfigError(
                f"model mismatch: the Ollama sides get the tiny test model {tiny.name}, {who} serves "
                f"{path}; pass that file as --gguf"
            )


# -- the run --------------------------------------------------------------------------------------


def schedule(sides: int, warmup: int, repetitions: int) -> list[tuple[int, bool]]:
    """The runs in order, as (side index, measured): every side in turn, warm-up rounds first."""
    return [
        (i, measured)
        for measured, rounds in ((False, warmup), (True, repetitions))
        for _ in range(rounds)
        for i in range(sides)
    ]


def run_llm_bench(
    endpoints: list[Endpoint],
    gguf: Path | None,
    *,
    repetitions: int = 3,
    warmup: int = 1,
    num_predict: int = 32,
    prompt: str = PROMPT,
    timeout: float = 600.0,
    deadline: Deadline | None = None,
    model: str | None = None,
) -> BenchReport:
    """Every endpoint's sides in turn (``schedule``); ``gguf`` is created on the Ollama endpoints
    (needed when there are any); ``model`` names it in the report (default: the file's name).
    Each call within ``timeout`` seconds and all within ``deadline``."""
    if repetitions < 3:
        raise ValueError("at least 3 repetitions")
    started = time.perf_counter()
    in_requests = 0.0

    def timed(call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        nonlocal in_requests
        t0 = time.perf_counter()
        try:
            return call(*args, **kwargs)
        finally:
            in_requests += time.perf_counter() - t0

    sides: list[tuple[str, str, Callable[[], Measured]]] = []  # (backend, device, one generation)
    versions: dict[str, str] = {}
    created: list[OllamaClient] = []
    for ep in endpoints:
        if ep.engine == "ollama":
            if gguf is None:
                raise ValueError("an Ollama endpoint needs the GGUF to create")
            client = OllamaClient(ep.url, read_timeout=timeout, deadline=deadline)
            versions[ep.name] = timed(client.version)
            timed(client.create_from_gguf, MODEL, gguf)
            created.append(client)
            for device, num_gpu in (("gpu", None), ("cpu", 0)):
                generate = functools.partial(
                    client.generate, MODEL, prompt, num_predict=num_predict, num_gpu=num_gpu, timeout=timeout
                )
                sides.append((ep.name, device, generate))
        elif ep.engine == "llama-cpp":
            for device, url in (("gpu", ep.url), ("cpu", ep.cpu_url)):
                if url is None:
                    continue
                server = LlamaCppClient(url, deadline=deadline)
                timed(server.wait_until_ready)
                if device == "gpu":
                    versions[ep.name] = timed(server.props).build_info
                sides.append((ep.name, device, functools.partial(complete_sample, server, prompt, num_predict)))
        else:
            raise ValueError(f"unknown engine {ep.engine!r} (one of {', '.join(ENGINES)})")
    measured: dict[tuple[str, str], list[Measured]] = {(b, d): [] for b, d, _ in sides}
    for i, keep in schedule(len(sides), warmup, repetitions):
        backend, device, call = sides[i]
        sample = timed(call)
        if keep:
            measured[(backend, device)].append(sample)
    for client in created:
        timed(client.delete, MODEL)

    def run(name: str, device: str) -> DeviceRun | None:
        samples = measured.get((name, device))
        return None if samples is None else DeviceRun(name, device, tuple(samples))

    results = []
    for ep in endpoints:
        gpu = run(ep.name, "gpu")
        assert gpu is not None
        results.append(
            BackendResult(ep.name, ep.url, versions[ep.name], gpu, run(ep.name, "cpu"), ep.engine, ep.cpu_url)
        )
    notes = tuple(
        f"{r.backend}: no CPU side (--cpu {r.backend}=URL); measured and ranked, no GPU/CPU verdict"
        for r in results
        if not r.judged
    )
    if model is None:
        model = MODEL if gguf is None or all(ep.engine == "ollama" for ep in endpoints) else gguf.name
    wall = time.perf_counter() - started
    return BenchReport(
        model,
        prompt,
        repetitions,
        warmup,
        num_predict,
        tuple(results),
        wall,
        in_requests,
        notes=notes,
        gguf=str(gguf or ""),
    )
