"""The sysfs scan against machine layouts recorded from real Intel GPU machines (tests/machines)."""

from __future__ import annotations

import pytest

from . import machines
from xpu_testkit.model import Status
from xpu_testkit.probes.pci import judge_pci, scan_system
from xpu_testkit.probes.render import judge_render

# What a correct scan finds on each recorded machine: (address, device id, driver, kind, render, rebar)
EXPECTED = {
    "arc-a770-i915": [("0000:09:00.0", 0x56A0, "i915", "discrete", "renderD128", "on")],
    "arc-b580-xe-rebar-off": [("0000:29:00.0", 0xE20B, "xe", "discrete", "renderD128", "off")],
    "arc-b580-xe-vm": [("0000:00:10.0", 0xE20B, "xe", "discrete", "renderD128", "on")],
    "lunar-lake-xe": [("0000:00:02.0", 0x64A0, "xe", "integrated", "renderD128", "unknown")],
    "igpu-plus-arc": [("0000:00:02.0", 0x3E92, "i915", "integrated", "renderD129", "unknown"),
                      ("0000:03:00.0", 0x56A0, "i915", "discrete", "renderD128", "on")],
    "arc-a770-vfio": [("0000:09:00.0", 0x56A0, "vfio-pci", "discrete", None, "on")],
    "meteor-lake-unbound": [("0000:00:02.0", 0x7D45, None, "integrated", None, "unknown")],
    "no-intel-gpu": [],
}
PCI_STATUS = {
    "arc-a770-i915": Status.OK, "arc-b580-xe-rebar-off": Status.OK, "arc-b580-xe-vm": Status.OK,
    "lunar-lake-xe": Status.OK, "igpu-plus-arc": Status.OK, "arc-a770-vfio": Status.FAIL,
    "meteor-lake-unbound": Status.FAIL, "no-intel-gpu": Status.ABSENT,
}


def test_every_recorded_machine_is_covered() -> None:
    assert sorted(EXPECTED) == machines.machine_names()
    for name in machines.machine_names():
        assert machines.load(name)["source"], f"{name} must name its source"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_scan(name: str, ctx_for) -> None:
    ctx = ctx_for(name)
    scan = scan_system(ctx)
    got = [(g.address, g.device_id, g.driver, g.kind, g.render, g.resizable_bar) for g in scan.gpus]
    assert got == EXPECTED[name]
    spec = machines.load(name)
    assert scan.kernel == spec["kernel"]
    assert scan.cmdline == spec["cmdline"]
    assert judge_pci(scan).status is PCI_STATUS[name]


def test_names_and_families_come_from_the_id_table(ctx_for) -> None:
    scan = scan_system(ctx_for("igpu-plus-arc"))
    assert [(g.name, g.family, g.arch) for g in scan.gpus] == [
        ("UHD Graphics 630", "CFL", "Gen9.5"), ("Arc A770", "DG2", "Xe-HPG")]


def test_kernel_parameters(ctx_for) -> None:
    scan = scan_system(ctx_for("meteor-lake-unbound"))
    assert scan.kernel_param("i915.force_probe") == "!7d45"
    assert scan.kernel_param("xe.force_probe") is None
    assert scan.kernel_version == (6, 12)
    result = judge_pci(scan)
    assert result.data["force_probe"] == {"i915": "!7d45", "xe": None}
    assert "i915.force_probe=!7d45" in result.evidence


def test_vfio_bound_device(ctx_for) -> None:
    gpu = scan_system(ctx_for("arc-a770-vfio")).gpus[0]
    assert (gpu.driver, gpu.driver_override, gpu.iommu_group) == ("vfio-pci", "vfio-pci", "19")


def test_no_intel_gpu_ignores_other_vendors_and_classes(ctx_for) -> None:
    scan = scan_system(ctx_for("no-intel-gpu"))
    assert scan.gpus == ()
    result = judge_pci(scan)
    assert result.summary == "no Intel GPU on this machine"


def test_render_node_the_user_cannot_open(ctx_for) -> None:
    """nobody is neither the owner of the 0660 node nor in its group."""
    ctx = ctx_for("arc-a770-i915", user="nobody")
    result = judge_render(ctx, scan_system(ctx))
    assert result.status is Status.FAIL
    assert result.data["nodes"][0]["accessible"] is False
    assert "not in group" in result.data["nodes"][0]["reason"]


def test_render_node_open_for_the_running_user(ctx_for) -> None:
    ctx = ctx_for("arc-a770-i915")
    result = judge_render(ctx, scan_system(ctx))
    assert result.status is Status.OK  # the tree's owner (this test's user) may read and write it


def test_render_node_missing_from_dev(ctx_for, tmp_path) -> None:
    ctx = ctx_for("arc-b580-xe-vm")
    (tmp_path / "arc-b580-xe-vm/dev/dri/renderD128").unlink()
    result = judge_render(ctx, scan_system(ctx))
    assert result.status is Status.FAIL
    assert "missing" in result.evidence[0]


def test_unknown_user_is_reported(ctx_for) -> None:
    ctx = ctx_for("arc-a770-i915", user="no-such-user-xpu")
    result = judge_render(ctx, scan_system(ctx))
    assert result.status is Status.FAIL and "does not exist" in result.summary
