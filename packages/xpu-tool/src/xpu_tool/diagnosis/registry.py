"""The rules' registry: the typed ``Observations`` they read, ``@rule`` that lists a rule, and
``diagnose`` that runs them all.

Every rule module of the package ends its rules with ``@rule``; ``ORDER`` is the order their
findings are listed in within one severity (the machine and its kernel first, then the compute
runtimes, then what follows from them), and a rule it does not name is refused when it registers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from ..model import F, Finding, NixosSetting, ProbeResult, Severity, Status
from ..probes.environment import EnvFacts
from ..probes.pci import PciGpu, SystemScan
from ..probes.units import UnitFacts

XPU_ENABLE = NixosSetting("hardware.intel-xpu.enable", "true")


@dataclass(frozen=True)
class Observations:
    """Everything the rules may look at, gathered once per doctor run."""

    scan: SystemScan
    results: dict[str, ProbeResult]
    env: EnvFacts
    units: tuple[UnitFacts, ...] = field(default=())

    def status(self, probe: str) -> Status | None:
        r = self.results.get(probe)
        return r.status if r else None

    def facts(self, probe: str, kind: type[F]) -> F | None:
        """The typed facts of a probe that ran and recorded them."""
        r = self.results.get(probe)
        return r.facts_as(kind) if r else None

    @property
    def gpus(self) -> tuple[PciGpu, ...]:
        return self.scan.gpus

    @property
    def driven_gpus(self) -> tuple[PciGpu, ...]:
        return tuple(g for g in self.scan.gpus if g.driver in ("i915", "xe"))

    def variable(self, name: str) -> str | None:
        """A variable as the target shell or any service unit sees it."""
        if name in self.env.variables:
            return self.env.variables[name]
        return next((u.environment[name] for u in self.units if name in u.environment), None)


Rule = Callable[[Observations], Iterable[Finding]]
RULES: list[Rule] = []
# The rules by name, in the order their findings of one severity are listed.
ORDER = (
    "commands_not_found",
    "no_intel_gpu",
    "kernel_driver",
    "level_zero",
    "level_zero_gpu_not_in_sysfs",
    "sycl",
    "opencl",
    "selector_hides_gpu",
    "render_access",
    "igpu_dropped",
    "vulkan",
    "sysman",
    "device_selection",
    "jit_hardening",
    "service_ordering",
    "sycl_cache",
    "resizable_bar",
    "fp64_emulation",
    "torch_xpu",
    "nixos_driver_split",
)


def rule(fn: Rule) -> Rule:
    name = getattr(fn, "__name__", repr(fn))
    if name not in ORDER:
        raise ValueError(f"rule {name} is not in xpu_tool.diagnosis.registry.ORDER")
    RULES.append(fn)
    RULES.sort(key=lambda r: ORDER.index(getattr(r, "__name__", "")))
    return fn


def no_gpu_note(obs: Observations) -> tuple[str, ...]:
    return ("(this machine has no Intel GPU, so this follows from that)",) if not obs.gpus else ()


def diagnose(obs: Observations) -> list[Finding]:
    """Every finding the rules make, most severe first."""
    order = {Severity.FAIL: 0, Severity.WARN: 1, Severity.INFO: 2}
    findings = [f for r in RULES for f in r(obs)]
    return sorted(findings, key=lambda f: order[f.severity])
