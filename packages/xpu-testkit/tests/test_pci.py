"""The sysfs scan against machine layouts recorded from real Intel GPU machines (tests/machines)."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import replace
from importlib import resources

import pytest

from xpu_tool.model import Status
from xpu_tool.probes.pci import PciGpu, judge_pci, parse_scan, scan_system
from xpu_tool.probes.render import judge_render

from . import machines

# What a correct scan finds on each recorded machine: (address, device id, driver, kind, render, rebar)
EXPECTED = {
    "arc-a770-i915": [("0000:09:00.0", 0x56A0, "i915", "discrete", "renderD128", "on")],
    "arc-b580-xe-rebar-off": [("0000:29:00.0", 0xE20B, "xe", "discrete", "renderD128", "off")],
    "arc-b580-xe-vm": [("0000:00:10.0", 0xE20B, "xe", "discrete", "renderD128", "on")],
    "lunar-lake-xe": [("0000:00:02.0", 0x64A0, "xe", "integrated", "renderD128", "unknown")],
    "igpu-plus-arc": [
        ("0000:00:02.0", 0x3E92, "i915", "integrated", "renderD129", "unknown"),
        ("0000:03:00.0", 0x56A0, "i915", "discrete", "renderD128", "on"),
    ],
    "arc-a770-vfio": [("0000:09:00.0", 0x56A0, "vfio-pci", "discrete", None, "on")],
    "meteor-lake-unbound": [("0000:00:02.0", 0x7D45, None, "integrated", None, "unknown")],
    "no-intel-gpu": [],
}
PCI_STATUS = {
    "arc-a770-i915": Status.OK,
    "arc-b580-xe-rebar-off": Status.OK,
    "arc-b580-xe-vm": Status.OK,
    "lunar-lake-xe": Status.OK,
    "igpu-plus-arc": Status.OK,
    "arc-a770-vfio": Status.FAIL,
    "meteor-lake-unbound": Status.FAIL,
    "no-intel-gpu": Status.ABSENT,
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
        ("UHD Graphics 630", "CFL", "Gen9.5"),
        ("Arc A770", "DG2", "Xe-HPG"),
    ]


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


def test_the_scan_reads_what_passthrough_needs(ctx_for) -> None:
    """driver_override, the IOMMU group, boot VGA and the connected outputs are in the doctor's scan."""
    [gpu] = scan_system(ctx_for("arc-a770-vfio")).gpus
    assert (gpu.vendor, gpu.class_text, gpu.has_driver_override, gpu.drives_display) == (
        0x8086,
        "0x030000",
        True,
        False,
    )
    igpu = scan_system(ctx_for("passthrough/igpu-display")).gpus[0]
    assert (igpu.boot_vga, igpu.connected_outputs, igpu.integrated) == (True, ("HDMI-A-1",), True)
    assert igpu.drives_display
    data = judge_pci(scan_system(ctx_for("passthrough/igpu-display"))).data  # what `xpu doctor --json` shows
    assert data["gpus"][0]["connected_outputs"] == ("HDMI-A-1",)


def test_one_address_and_its_iommu_group(ctx_for) -> None:
    """Given an address, the scan reads that device whatever it is, and the rest of its IOMMU group."""
    ctx = ctx_for("passthrough/shared-group")
    scan = scan_system(ctx, "0000:0a:00.0")
    assert [d.address for d in scan.devices] == ["0000:00:01.0", "0000:09:00.0", "0000:0a:00.0"]
    usb = scan.device("0000:0a:00.0")
    assert usb is not None and not isinstance(usb, PciGpu)
    assert (usb.vendor, usb.ids, usb.class_text, usb.driver, usb.iommu_group) == (
        0x1B21,
        "1b21 2142",
        "0x0c0330",
        "xhci_hcd",
        "1",
    )
    assert [g.address for g in scan.gpus] == ["0000:09:00.0"]  # an Intel GPU stays a PciGpu
    assert scan.vfio_pci is True and scan.memlock
    assert scan_system(ctx).others == () and scan_system(ctx).vfio_pci is None  # the doctor's scan: GPUs only


@pytest.mark.parametrize("address", ["09:00.0", "0000:09:00.0/../..", "../../../../tmp", "0000:09:00.0; true", ""])
def test_the_scan_takes_only_a_full_pci_address(address: str, ctx_for) -> None:
    with pytest.raises(ValueError, match="is not a full PCI address"):
        scan_system(ctx_for("passthrough/shared-group"), address)


@pytest.mark.parametrize("shell", ["dash", "bash", "busybox"])
def test_the_scan_script_is_posix_sh(shell: str, ctx_for, local) -> None:
    """The same facts under dash, bash and busybox sh (what NixOS, Debian and the test guest have)."""
    if shutil.which(shell) is None:
        pytest.skip(f"{shell} is not installed")
    ctx = ctx_for("passthrough/sriov-vf")
    script = resources.files("xpu_tool.collectors").joinpath("sysfs_scan.sh").read_text()
    argv = [shell, "sh"] if shell == "busybox" else [shell]
    for address in ([], ["0000:00:02.1"]):
        run = subprocess.run(
            [*argv, "-c", script, "sysfs_scan.sh", ctx.sysroot, *address],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        assert run.stderr == ""
        assert parse_scan(run.stdout) == replace(scan_system(ctx, *address), raw=run.stdout)
    vf = parse_scan(run.stdout).device("0000:00:02.1")
    assert vf is not None and vf.physfn == "0000:00:02.0"
