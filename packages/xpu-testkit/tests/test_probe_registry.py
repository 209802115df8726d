"""The probe registry is the one list of probes: every probe module registers itself, and the doctor,
the metrics, the inventory and the hardware suite all read it."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import generate_latest

from xpu_tool.export.metrics import Export, registry_for
from xpu_tool.inventory import parse_inventory
from xpu_tool.model import Facts, ProbeResult, Report, Status
from xpu_tool.probes import registry

PROBES_DIR = Path(registry.__file__).parent
NOT_PROBES = {"__init__", "context", "registry", "reach"}  # infrastructure; reach judges the way in


def registering_modules() -> set[str]:
    """The modules of xpu_tool.probes whose source applies the @probe decorator."""
    found = set()
    for path in PROBES_DIR.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef) and any(
                isinstance(d, ast.Call) and getattr(d.func, "id", None) == "probe" for d in node.decorator_list
            ):
                found.add(path.stem)
    return found


def test_every_probe_module_registers_and_nothing_else_does() -> None:
    modules = {p.stem for p in PROBES_DIR.glob("*.py")} - NOT_PROBES
    assert registering_modules() == modules
    assert {p.run.__module__.rsplit(".", 1)[-1] for p in registry.probes()} == modules


def test_names_and_places_are_unique() -> None:
    probes = registry.probes()
    assert len({p.name for p in probes}) == len(probes)
    assert len({p.order for p in probes}) == len(probes)
    assert [p.order for p in probes] == sorted(p.order for p in probes)
    assert probes[0].name == "pci"  # every GPU verdict starts from the PCI scan


def test_a_second_probe_of_the_same_name_is_refused() -> None:
    with pytest.raises(ValueError, match="two probes are named 'pci'"):
        registry.probe("pci", order=999)(lambda collected: ProbeResult("pci", Status.OK, "x"))
    assert registry.by_name("pci").order == 10


def test_the_inventory_accepts_exactly_the_registered_runtimes(tmp_path: Path) -> None:
    runtimes = registry.runtimes()
    assert {"level_zero", "sycl", "opencl", "torch"} <= set(runtimes)
    text = "targets:\n  box:\n    url: local://\n    expect:\n      runtimes: [{}]\n"
    inventory = parse_inventory(text.format(", ".join(runtimes)), "lab.yaml")
    assert inventory.targets[0].expect.runtimes == runtimes
    with pytest.raises(Exception, match="unknown runtime 'cuda'") as refused:
        parse_inventory(text.format("cuda"), "lab.yaml")
    assert all(r in str(refused.value) for r in runtimes)


@dataclass(frozen=True)
class _Listed(Facts):
    """Facts whose JSON form is the given dict: what the GPU readers read."""

    listed: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return self.listed


def _result(name: str, data: dict[str, Any]) -> ProbeResult:
    return ProbeResult(name, Status.OK, "seen", facts=_Listed(data))


def test_each_gpu_metric_counts_what_its_probe_lists() -> None:
    """xpu_gpus{probe} reads each probe's own list: torch lists its devices under `devices` (the
    metric once read `gpus` for every probe and so always said 0 for torch)."""
    two = [{"name": "Intel(R) Arc(TM) A770 Graphics"}, {"name": "Intel(R) Arc(TM) B580 Graphics"}]
    results = []
    for p in registry.probes():
        if p.gpus is None:
            continue
        result = next(
            _result(p.name, data)
            for data in ({"gpus": two}, {"devices": two})
            if len(p.gpus_of(_result(p.name, data))) == 2
        )
        results.append(result)
    exported = generate_latest(registry_for(Export(Report("local://", tuple(results), ())))).decode()
    for result in results:
        assert f'xpu_gpus{{probe="{result.probe}"}} 2.0' in exported
    assert 'xpu_gpus{probe="torch"} 2.0' in exported
