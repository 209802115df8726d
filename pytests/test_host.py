"""The Intel GPU driver stack on each target: PCI, kernel driver, render nodes, and device
enumeration on every runtime the inventory expects (Level Zero, SYCL, OpenCL, PyTorch XPU).

    pytest pytests/                      # this machine; GPU tests skip
    pytest pytests/ --hardware           # this machine must have a working Intel GPU
    pytest pytests/ --hardware --xpu-inventory lab.yaml
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from xpu_tool.inventory import InventoryTarget
from xpu_tool.model import Report, Status
from xpu_tool.probes import registry

PROBE_OF = {p.runtime: p for p in registry.probes() if p.runtime is not None}


def gpu_names(report: Report, runtime: str) -> list[str]:
    probe = PROBE_OF[runtime]
    return [str(item.get("name")) for item in probe.gpus_of(report.probe(probe.name))]


def explain(report: Report) -> str:
    return "\n".join(f"{f.severity.value}: {f.title} -> {f.fix}" for f in report.findings)


def test_the_doctor_command_agrees_with_the_suite(xpu_report: Report, xpu_target_spec: InventoryTarget) -> None:
    """`xpu doctor --json` run the way a user runs it, on the same target as the same user, reaches
    the suite's verdict with the same findings; a machine with no Intel GPU on PCI is never usable."""
    argv = [sys.executable, "-m", "xpu_tool", "doctor", "--json", "--target", xpu_target_spec.url]
    if xpu_target_spec.user:
        argv += ["--user", xpu_target_spec.user]
    run = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode in (0, 1), run.stderr
    out = json.loads(run.stdout)
    [cli] = out["reports"]
    assert out["usable"] is cli["usable"]
    assert (
        [p["probe"] for p in cli["probes"]]
        == [p.probe for p in xpu_report.probes]
        == [p.name for p in registry.probes()]
    )
    assert (cli["usable"], run.returncode) == (xpu_report.usable, 0 if xpu_report.usable else 1)
    assert sorted(f["id"] for f in cli["findings"]) == sorted(f.id for f in xpu_report.findings)
    if xpu_report.probe("pci").status is Status.ABSENT:
        assert xpu_report.finding("no-intel-gpu") is not None and not xpu_report.usable


def test_expected_runtimes_are_installed(xpu_report: Report, xpu_target_spec: InventoryTarget) -> None:
    """Each runtime the target should have answers there (installed and runnable), GPU or not."""
    missing = []
    for runtime in xpu_target_spec.expect.runtimes:
        result = xpu_report.probe(PROBE_OF[runtime].name)
        if result.status is Status.ABSENT or result.data.get("ran") is False:
            missing.append(f"{runtime}: {result.summary} ({result.fix})")
    assert not missing, "\n".join(missing)


@pytest.mark.xpu_hardware
def test_intel_gpu_with_a_kernel_driver(xpu_report: Report, xpu_target_spec: InventoryTarget) -> None:
    gpus = [g for g in xpu_report.probe("pci").data["gpus"] if g["driver"] in ("i915", "xe")]
    assert len(gpus) >= xpu_target_spec.expect.min_gpus, explain(xpu_report)


@pytest.mark.xpu_hardware
def test_render_nodes_can_be_opened(xpu_report: Report) -> None:
    result = xpu_report.probe("render-nodes")
    assert result.status is Status.OK, f"{result.summary}: {result.cause}; fix: {result.fix}"


@pytest.mark.xpu_hardware
@pytest.mark.xpu_allowed_skip("a runtime the inventory does not expect on this target")
def test_gpu_enumerates_on_runtime(runtime: str, xpu_report: Report, xpu_target_spec: InventoryTarget) -> None:
    expect = xpu_target_spec.expect
    if runtime not in expect.runtimes:
        pytest.skip(f"{runtime} is not expected on {xpu_target_spec.name}")
    names = gpu_names(xpu_report, runtime)
    result = xpu_report.probe(PROBE_OF[runtime].name)
    assert len(names) >= expect.min_gpus, f"{runtime}: {result.summary}: {result.cause}\n{explain(xpu_report)}"
    if expect.gpu:
        assert any(expect.gpu in name for name in names), f"{expect.gpu!r} not among {names}"


@pytest.mark.xpu_hardware
def test_no_finding_blocks_acceleration(xpu_report: Report) -> None:
    assert xpu_report.usable, explain(xpu_report)
