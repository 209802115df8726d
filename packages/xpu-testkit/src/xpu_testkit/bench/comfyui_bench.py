"""ComfyUI sampling speed on an Intel GPU against the CPU (a server started with ``--cpu``).

Iterations per second come from the KSampler's ``progress`` events on /ws: the time from the
first step's event to the last one's, over the steps in between (the first step, which includes
model loading and kernel compilation, is left out).
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from typing import Any

from ..services.comfyui import ComfyClient, ComfyError, Run, load_workflow
from .stats import PASS_RATIO, Stats, ratio, summarize


def iterations_per_second(events: tuple[dict[str, Any], ...], arrivals: tuple[float, ...]) -> float:
    """Steps per second between the first and the last progress event of the sampler."""
    progress = [(t, e["data"]) for e, t in zip(events, arrivals) if e.get("type") == "progress"]
    if len(progress) < 2:
        raise ValueError("fewer than two progress events: not enough steps to time")
    (t0, first), (t1, last) = progress[0], progress[-1]
    steps = int(last["value"]) - int(first["value"])
    if steps <= 0 or t1 <= t0:
        raise ValueError("progress events do not advance")
    return steps / (t1 - t0)


def sampling_workflow(steps: int) -> dict[str, Any]:
    workflow = copy.deepcopy(load_workflow("one-step-sd15"))
    for node in workflow.values():
        if node["class_type"] == "KSampler":
            node["inputs"]["steps"] = steps
    return workflow


@dataclass(frozen=True)
class ComfyBench:
    xpu: Stats
    cpu: Stats
    steps: int
    repetitions: int

    @property
    def ratio(self) -> float:
        return ratio(self.xpu, self.cpu)

    @property
    def passed(self) -> bool:
        return self.ratio > PASS_RATIO


def _measure(url: str, steps: int, repetitions: int, warmup: int, deadline: float) -> Stats:
    client = ComfyClient(url)
    values = []
    for i in range(warmup + repetitions):
        run: Run = client.run(sampling_workflow(steps), deadline=deadline)
        if run.error is not None:
            raise ComfyError(f"{url}: {run.error.get('exception_message')}")
        if i >= warmup:
            values.append(iterations_per_second(run.events, run.arrivals))
    return summarize(values)


def run_comfyui_bench(xpu_url: str, cpu_url: str, *, steps: int = 20, repetitions: int = 3, warmup: int = 1,
                      deadline: float = 1800.0) -> ComfyBench:
    """The same one-checkpoint workflow on the xpu server and on the --cpu server."""
    if repetitions < 3:
        raise ValueError("at least 3 repetitions")
    started = time.monotonic()
    xpu = _measure(xpu_url, steps, repetitions, warmup, deadline)
    cpu = _measure(cpu_url, steps, repetitions, warmup, max(1.0, deadline - (time.monotonic() - started)))
    return ComfyBench(xpu, cpu, steps, repetitions)
