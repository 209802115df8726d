"""ComfyUI sampling speed on an Intel GPU against the CPU (a server started with ``--cpu``).

Iterations per second come from the KSampler's ``progress`` events on /ws: the time from the
first step's event to the last one's, over the steps in between (the first step, which includes
model loading and kernel compilation, is left out). Every run gets a new seed, so ComfyUI's cache
cannot answer it, and a run whose sampler did not execute is an error, not a measurement.

Each side's device comes from its /system_stats. The ">2x over the CPU" verdict is given only when
the xpu side runs on an Intel GPU and the cpu side on the CPU; a harness run measures whatever
the two servers run on (two CPU servers, or one server twice) and gives no verdict.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass
from typing import Any

from xpu_tool.deadline import Deadline
from xpu_tool.services.comfyui import MODEL_WORKFLOW, ComfyClient, ComfyError, Run, fresh_workflow, load_workflow

from .stats import PASS_RATIO, Stats, ratio, summarize

DEFAULT_SECONDS = 1800.0  # the whole benchmark, without a deadline from the caller


def iterations_per_second(events: tuple[dict[str, Any], ...], arrivals: tuple[float, ...]) -> float:
    """Steps per second between the first and the last progress event of the sampler."""
    progress = [(t, e["data"]) for e, t in zip(events, arrivals, strict=True) if e.get("type") == "progress"]
    if len(progress) < 2:
        raise ValueError("fewer than two progress events: not enough steps to time")
    (t0, first), (t1, last) = progress[0], progress[-1]
    steps = int(last["value"]) - int(first["value"])
    if steps <= 0 or t1 <= t0:
        raise ValueError("progress events do not advance")
    return steps / (t1 - t0)


def sampling_workflow(steps: int) -> dict[str, Any]:
    workflow = load_workflow(MODEL_WORKFLOW)
    for node in workflow.values():
        if node["class_type"] == "KSampler":
            node["inputs"]["steps"] = steps
    return workflow


@dataclass(frozen=True)
class Side:
    """One server of the comparison and the device its /system_stats names."""

    role: str  # "xpu" or "cpu": what the command line says it is
    url: str
    device_type: str | None
    device_name: str | None

    def describe(self) -> str:
        return f"{self.device_type} ({self.device_name})"


@dataclass(frozen=True)
class Sides:
    xpu: Side
    cpu: Side

    @property
    def mismatch(self) -> str | None:
        """Why a GPU-over-CPU verdict would mean nothing here, or None."""
        if self.xpu.device_type != "xpu":
            return f"the --xpu server {self.xpu.url} runs on {self.xpu.describe()}, not an Intel GPU"
        if self.cpu.device_type != "cpu":
            return f"the --cpu server {self.cpu.url} runs on {self.cpu.describe()}, not the CPU"
        return None


def read_side(role: str, url: str, deadline: Deadline | None = None) -> Side:
    stats = ComfyClient(url, deadline=deadline).system_stats()
    device = (stats.get("devices") or [{}])[0]
    return Side(role, url, device.get("type"), device.get("name"))


def read_sides(xpu_url: str, cpu_url: str, deadline: Deadline | None = None) -> Sides:
    """Both servers' devices, from /system_stats (a ComfyError names the one that did not answer)."""
    return Sides(read_side("xpu", xpu_url, deadline), read_side("cpu", cpu_url, deadline))


@dataclass(frozen=True)
class ComfyBench:
    xpu: Stats
    cpu: Stats
    steps: int
    repetitions: int
    sides: Sides
    harness: bool = False

    @property
    def ratio(self) -> float:
        return ratio(self.xpu, self.cpu)

    @property
    def verdict(self) -> str | None:
        """ "pass" or "fail" on the project's bar; None where no verdict is given (see verdict_text)."""
        if self.harness or self.sides.mismatch:
            return None
        return "pass" if self.ratio > PASS_RATIO else "fail"

    @property
    def passed(self) -> bool:
        return self.verdict == "pass"

    @property
    def verdict_text(self) -> str:
        if self.verdict is not None:
            return f"{'pass' if self.passed else 'FAIL'}: bar {PASS_RATIO:g}x"
        why = self.sides.mismatch or "both sides on their intended devices"
        return f"harness run, no verdict: {why}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "steps": self.steps,
            "repetitions": self.repetitions,
            "harness": self.harness,
            "devices": {s.role: asdict(s) for s in (self.sides.xpu, self.sides.cpu)},
            "ratio": self.ratio,
            "pass_ratio": PASS_RATIO,
            "verdict": self.verdict,
            "passed": self.passed,
            "xpu_it_per_s": asdict(self.xpu),
            "cpu_it_per_s": asdict(self.cpu),
        }


def timed_run(
    client: ComfyClient, steps: int, deadline: float, checkpoint: str | None, rng: random.Random
) -> tuple[Run, float]:
    """One fresh sampling run: the run and its iterations per second."""
    fresh = fresh_workflow(sampling_workflow(steps), rng, checkpoint=checkpoint)
    run = client.run(fresh.workflow, deadline=deadline)
    if run.error is not None:
        raise ComfyError(
            f"{client.base_url}: node {run.error.get('node_id')} ({run.error.get('node_type')}): "
            f"{str(run.error.get('exception_message', '')).strip()}"
        )
    stale = run.not_executed(fresh.changed)
    if stale:
        raise ComfyError(
            f"{client.base_url}: the sampler (node {', '.join(stale)}) did not execute; "
            f"cached: {sorted(run.cached_nodes)}"
        )
    try:
        return run, iterations_per_second(run.events, run.arrivals)
    except ValueError as exc:
        raise ComfyError(f"{client.base_url}: {exc} ({run.progress_steps} progress events)") from None


def schedule(warmup: int, repetitions: int) -> list[tuple[str, bool]]:
    """The runs in order, as (side, measured): the sides alternate, warm-up runs first, so a change
    in the machine's load during the bench falls on both sides alike."""
    return [
        (side, measured)
        for measured, rounds in ((False, warmup), (True, repetitions))
        for _ in range(rounds)
        for side in ("xpu", "cpu")
    ]


def run_comfyui_bench(
    sides: Sides,
    *,
    steps: int = 20,
    repetitions: int = 3,
    warmup: int = 1,
    deadline: Deadline | None = None,
    checkpoint: str | None = None,
    harness: bool = False,
    rng: random.Random | None = None,
) -> ComfyBench:
    """The same one-checkpoint workflow, with a new seed each run, on the xpu and the cpu server in
    turn (``schedule``), every call within ``deadline`` (default 1800 s from now; a ComfyError of
    kind ``timeout`` when it passes)."""
    if repetitions < 3:
        raise ValueError("at least 3 repetitions")
    rng = rng or random.Random()
    deadline = deadline or Deadline.after(DEFAULT_SECONDS)
    clients = {
        "xpu": ComfyClient(sides.xpu.url, deadline=deadline),
        "cpu": ComfyClient(sides.cpu.url, deadline=deadline),
    }
    values: dict[str, list[float]] = {"xpu": [], "cpu": []}
    for side, measured in schedule(warmup, repetitions):
        _, ips = timed_run(clients[side], steps, deadline.seconds, checkpoint, rng)
        if measured:
            values[side].append(ips)
    return ComfyBench(summarize(values["xpu"]), summarize(values["cpu"]), steps, repetitions, sides, harness)
