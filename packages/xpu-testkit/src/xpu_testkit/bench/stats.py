"""Summary statistics for repeated measurements."""

from __future__ import annotations

import statistics
from dataclasses import dataclass

PASS_RATIO = 2.0  # the project's bar: GPU more than twice as fast as the CPU on the same machine


@dataclass(frozen=True)
class Stats:
    n: int
    median: float
    minimum: float
    maximum: float

    @property
    def spread(self) -> float:
        """Relative spread, (max - min) / median."""
        return (self.maximum - self.minimum) / self.median if self.median else 0.0


def summarize(values: list[float]) -> Stats:
    if not values:
        raise ValueError("no measurements")
    return Stats(len(values), statistics.median(values), min(values), max(values))


def ratio(gpu: Stats, cpu: Stats) -> float:
    """GPU over CPU throughput, by medians."""
    return gpu.median / cpu.median if cpu.median else float("inf")
