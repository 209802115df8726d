"""The xpu-testkit pytest plugin's per-run state, apart from its hooks and fixtures so that both
(and a suite's conftest.py) can import it without importing each other."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from xpu_tool.doctor import run_doctor
from xpu_tool.inventory import Inventory, InventoryTarget
from xpu_tool.model import Report
from xpu_tool.probes.context import ProbeContext
from xpu_tool.target import Target, open_target


@dataclass
class XpuSession:
    """Per-run state: the targets to test and what was learned about them."""

    hardware: bool
    specs: tuple[InventoryTarget, ...]
    inventory: Inventory | None
    strict_skips: bool
    _targets: dict[str, Target] = field(default_factory=dict)
    _reports: dict[str, Report] = field(default_factory=dict)

    def target(self, spec: InventoryTarget) -> Target:
        if spec.name not in self._targets:
            self._targets[spec.name] = open_target(spec.url)
        return self._targets[spec.name]

    def report(self, spec: InventoryTarget) -> Report:
        if spec.name not in self._reports:
            self._reports[spec.name] = run_doctor(ProbeContext(self.target(spec), user=spec.user))
        return self._reports[spec.name]


XPU_SESSION = pytest.StashKey[XpuSession]()
# VMs a test started; their console logs are attached to the report when it fails
XPU_VMS = pytest.StashKey[list]()
