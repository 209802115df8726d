"""The one list of probes: each probe module registers itself with ``@probe``, and the doctor, the
metrics, the inventory's ``expect.runtimes`` keys and the hardware suite iterate ``probes()``.

Adding a probe is one module in this package (found by ``probes()``, no list to extend) and its
recorded fixtures. What several probes read (the PCI scan, the environment, the service units) is
collected once per doctor run and handed to each probe as ``Collected``.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..model import ProbeResult
from .context import ProbeContext

GpuList = Callable[[ProbeResult], list[dict[str, Any]]]


@dataclass(frozen=True)
class Collected:
    """What several probes and the rules read, collected once per doctor run; each is a Future, so a
    probe waits only for what it reads: ``scan`` a pci.SystemScan, ``env`` an environment.EnvFacts,
    ``units`` the services.UnitFacts list (None without systemd). Their modules register probes
    here, so this module names their types only in words (an import would run in a circle)."""

    ctx: ProbeContext
    scan: Future[Any]
    env: Future[Any]
    units: Future[Any]


def listed_gpus(result: ProbeResult) -> list[dict[str, Any]]:
    """The Intel GPUs a probe lists under ``data["gpus"]`` (the usual place)."""
    gpus = result.data.get("gpus", [])
    return list(gpus) if isinstance(gpus, list) else []


@dataclass(frozen=True)
class Probe:
    """One registered probe.

    ``order`` places it in the doctor's table; ``runtime`` is its key in an inventory's
    ``expect.runtimes`` (None: not a runtime a target can be expected to enumerate GPUs on);
    ``gpus`` reads the Intel GPUs it saw from its result (None: it lists no GPUs), for the
    ``xpu_gpus{probe}`` metric and the hardware suite.
    """

    name: str
    order: int
    run: Callable[[Collected], ProbeResult]
    runtime: str | None = None
    gpus: GpuList | None = None

    def gpus_of(self, result: ProbeResult) -> list[dict[str, Any]]:
        return self.gpus(result) if self.gpus is not None else []


_REGISTERED: dict[str, Probe] = {}


def probe(
    name: str, *, order: int, runtime: str | None = None, gpus: GpuList | None = None
) -> Callable[[Callable[[Collected], ProbeResult]], Callable[[Collected], ProbeResult]]:
    """Register the decorated ``run(collected) -> ProbeResult`` as the probe ``name``."""

    def register(run: Callable[[Collected], ProbeResult]) -> Callable[[Collected], ProbeResult]:
        known = _REGISTERED.get(name)
        if known is not None and known.run.__qualname__ != run.__qualname__:
            raise ValueError(f"two probes are named {name!r}: {known.run.__module__} and {run.__module__}")
        _REGISTERED[name] = Probe(name, order, run, runtime, gpus)
        return run

    return register


def _load_all() -> None:
    """Import every module of this package, so that each registers its probes."""
    for info in pkgutil.iter_modules([str(Path(__file__).parent)]):
        importlib.import_module(f"{__package__}.{info.name}")


def probes() -> tuple[Probe, ...]:
    """Every registered probe, in the doctor's order."""
    _load_all()
    return tuple(sorted(_REGISTERED.values(), key=lambda p: (p.order, p.name)))


def by_name(name: str) -> Probe:
    for p in probes():
        if p.name == name:
            return p
    raise KeyError(name)


def runtimes() -> tuple[str, ...]:
    """The runtimes an inventory may expect GPUs on (``expect.runtimes``), in the doctor's order."""
    return tuple(p.runtime for p in probes() if p.runtime is not None)
