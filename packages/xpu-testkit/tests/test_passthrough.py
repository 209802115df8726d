"""Passthrough preflight, reversible vfio-pci binding and QEMU arguments on recorded host layouts."""

from __future__ import annotations

import os
import re
import resource
import time
from pathlib import Path
from typing import Any

import pytest

from xpu_testkit.vm.passthrough import (
    BindError,
    RestoreError,
    SysfsWrite,
    VfioBinding,
    device_state,
    preflight,
    qemu_device_args,
)
from xpu_tool.errors import ConfigError
from xpu_tool.model import Severity
from xpu_tool.probes.context import ProbeContext
from xpu_tool.probes.pci import parse_pci_address, scan_system
from xpu_tool.target import CommandOutput, Target

from . import machines


@pytest.fixture
def lab(local: Target, tmp_path: Path):
    """lab(layout) -> a ProbeContext on that recorded passthrough host layout."""
    made: dict[str, ProbeContext] = {}

    def make(name: str) -> ProbeContext:
        if name not in made:
            root = machines.materialize(f"passthrough/{name}", tmp_path / name)
            made[name] = ProbeContext(local, sysroot=str(root), timeout=30)
        return made[name]

    return make


def ids(pf) -> dict[str, Severity]:
    return {f.id: f.severity for f in pf.findings}


def test_every_layout_names_its_source() -> None:
    for p in (machines.MACHINES / "passthrough").glob("*.yaml"):
        assert machines.load(f"passthrough/{p.stem}")["source"]


def test_dgpu_in_its_own_group_is_ready(lab) -> None:
    pf = preflight(lab("dgpu-own-group"), "0000:09:00.0", memory_mb=1)
    assert pf.ok, pf.findings
    assert [m.address for m in pf.members] == ["0000:09:00.0"]
    assert (pf.device.driver, pf.device.iommu_group, pf.device.integrated) == ("i915", "19", False)


def test_iommu_off(lab) -> None:
    pf = preflight(lab("iommu-off"), "0000:09:00.0", memory_mb=1)
    assert ids(pf)["iommu-off"] is Severity.FAIL and not pf.ok
    finding = next(f for f in pf.findings if f.id == "iommu-off")
    assert "intel_iommu=on" in (finding.nixos or "")


def test_shared_group_names_the_device_in_use(lab) -> None:
    pf = preflight(lab("shared-group"), "0000:09:00.0", memory_mb=1)
    finding = next(f for f in pf.findings if f.id == "iommu-group-shared")
    assert finding.evidence == ("0000:0a:00.0 (class 0x0c0330) bound to xhci_hcd",)  # the root port is fine
    assert not pf.ok


def test_display_device_refused_unless_forced(lab) -> None:
    ctx = lab("igpu-display")
    pf = preflight(ctx, "0000:00:02.0", memory_mb=1)
    finding = next(f for f in pf.findings if f.id == "drives-host-display")
    assert finding.severity is Severity.FAIL and "boot VGA" in finding.evidence[0]
    assert preflight(ctx, "0000:00:02.0", memory_mb=1, force=True).ok


def test_sriov_vf(lab) -> None:
    ctx = lab("sriov-vf")
    pf = preflight(ctx, "0000:00:02.1", memory_mb=1)
    assert pf.ok and ids(pf)["sriov-vf"] is Severity.INFO
    assert pf.device.physfn == "0000:00:02.0"
    assert "drives-host-display" in ids(preflight(ctx, "0000:00:02.0", memory_mb=1))  # the PF shows the desktop


@pytest.fixture
def memlock_64m():
    """Lower this process's soft locked-memory limit (the target's shell inherits it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_MEMLOCK)
    limit = 64 << 20 if hard == resource.RLIM_INFINITY else min(64 << 20, hard)
    resource.setrlimit(resource.RLIMIT_MEMLOCK, (limit, hard))
    yield limit // 1024
    resource.setrlimit(resource.RLIMIT_MEMLOCK, (soft, hard))


def test_memlock_limit_below_guest_memory(lab, memlock_64m: int) -> None:
    pf = preflight(lab("dgpu-own-group"), "0000:09:00.0", memory_mb=4096)
    assert pf.memlock_kib == memlock_64m
    finding = next(f for f in pf.findings if f.id == "memlock-too-low")
    assert finding.severity is Severity.FAIL and "memlock" in (finding.nixos or "")
    assert "memlock-too-low" not in ids(preflight(lab("dgpu-own-group"), "0000:09:00.0", memory_mb=1))


def test_bind_and_restore_writes(lab) -> None:
    ctx = lab("dgpu-own-group")
    dev = device_state(ctx, "0000:09:00.0")
    assert dev is not None
    root = Path(ctx.sysroot)
    with VfioBinding(ctx, dev) as binding:
        assert binding.done == [
            SysfsWrite("/sys/bus/pci/devices/0000:09:00.0/driver_override", "vfio-pci"),
            SysfsWrite("/sys/bus/pci/drivers/i915/unbind", "0000:09:00.0"),
            SysfsWrite("/sys/bus/pci/drivers_probe", "0000:09:00.0"),
        ]
        assert (root / "sys/bus/pci/devices/0000:09:00.0/driver_override").read_text() == "vfio-pci"
    assert binding.done[3:] == [
        SysfsWrite("/sys/bus/pci/drivers/vfio-pci/unbind", "0000:09:00.0"),
        SysfsWrite("/sys/bus/pci/devices/0000:09:00.0/driver_override", "\n"),
        SysfsWrite("/sys/bus/pci/drivers/i915/bind", "0000:09:00.0"),
    ]
    assert (root / "sys/bus/pci/drivers/i915/bind").read_text() == "0000:09:00.0"


def test_restore_runs_when_the_run_is_interrupted(lab) -> None:
    ctx = lab("dgpu-own-group")
    dev = device_state(ctx, "0000:09:00.0")
    assert dev is not None
    binding = VfioBinding(ctx, dev)
    with pytest.raises(KeyboardInterrupt), binding:
        raise KeyboardInterrupt
    assert binding.done[-1] == SysfsWrite("/sys/bus/pci/drivers/i915/bind", "0000:09:00.0")


def test_new_id_when_driver_override_is_missing(lab) -> None:
    ctx = lab("dgpu-own-group")
    (Path(ctx.sysroot) / "sys/devices/pci0000:00/0000:09:00.0/driver_override").unlink()
    dev = device_state(ctx, "0000:09:00.0")
    assert dev is not None
    with VfioBinding(ctx, dev) as binding:
        assert binding.done[-1] == SysfsWrite("/sys/bus/pci/drivers/vfio-pci/new_id", "8086 56a0")
    assert SysfsWrite("/sys/bus/pci/drivers/vfio-pci/remove_id", "8086 56a0") in binding.done


def test_failed_bind_rolls_back(lab) -> None:
    ctx = lab("dgpu-own-group")
    dev = device_state(ctx, "0000:09:00.0")
    assert dev is not None
    (Path(ctx.sysroot) / "sys/bus/pci/drivers_probe").unlink()
    (Path(ctx.sysroot) / "sys/bus/pci/drivers_probe").mkdir()  # writing to it now fails
    binding = VfioBinding(ctx, dev)
    with (
        pytest.raises(
            BindError,
            match=re.escape(
                "could not bind 0000:09:00.0 to vfio-pci: writing '0000:09:00.0' to "
                "/sys/bus/pci/drivers_probe failed: Is a directory"
            ),
        ),
        binding,
    ):
        pass
    assert binding.done[2:] == [  # the probe may have bound it before failing: undone too
        SysfsWrite("/sys/bus/pci/drivers/vfio-pci/unbind", "0000:09:00.0"),
        SysfsWrite("/sys/bus/pci/devices/0000:09:00.0/driver_override", "\n"),
        SysfsWrite("/sys/bus/pci/drivers/i915/bind", "0000:09:00.0"),
    ]


def test_only_what_was_done_is_undone(lab) -> None:
    ctx = lab("dgpu-own-group")
    dev = device_state(ctx, "0000:09:00.0")
    assert dev is not None
    (Path(ctx.sysroot) / "sys/bus/pci/drivers/i915/unbind").unlink()
    (Path(ctx.sysroot) / "sys/bus/pci/drivers/i915/unbind").mkdir()  # the second write fails
    binding = VfioBinding(ctx, dev)
    with pytest.raises(BindError):
        binding.__enter__()
    assert binding.done == [
        SysfsWrite("/sys/bus/pci/devices/0000:09:00.0/driver_override", "vfio-pci"),
        SysfsWrite("/sys/bus/pci/devices/0000:09:00.0/driver_override", "\n"),
        SysfsWrite("/sys/bus/pci/drivers/i915/bind", "0000:09:00.0"),
    ]
    assert (Path(ctx.sysroot) / "sys/bus/pci/devices/0000:09:00.0/driver_override").read_text() == "\n"


def test_a_failed_restore_keeps_the_original_error_and_says_how_to_finish(lab) -> None:
    ctx = lab("dgpu-own-group")
    dev = device_state(ctx, "0000:09:00.0")
    assert dev is not None
    bind = Path(ctx.sysroot) / "sys/bus/pci/drivers/i915/bind"
    bind.unlink()
    bind.mkdir()  # the last restore write fails
    with pytest.raises(RestoreError) as err, VfioBinding(ctx, dev):
        raise RuntimeError("the VM did not boot")
    assert isinstance(err.value.original, RuntimeError)
    assert str(err.value).splitlines() == [
        "the VM did not boot",
        "0000:09:00.0 was not given back to i915: writing '0000:09:00.0' to /sys/bus/pci/drivers/i915/bind "
        "failed: Is a directory; finish by hand, as root:",
        f"  printf %s 0000:09:00.0 > {ctx.sysroot}/sys/bus/pci/drivers/i915/bind",
    ]


def test_a_write_the_kernel_holds_ends_at_its_timeout(lab, tmp_path: Path) -> None:
    """A write that never completes (a FIFO nobody reads: open(2) blocks, as a stuck unbind does)
    is a failure after the binding's timeout; the rest of the restore still runs."""
    ctx = lab("dgpu-own-group")
    dev = device_state(ctx, "0000:09:00.0")
    assert dev is not None
    unbind = Path(ctx.sysroot) / "sys/bus/pci/drivers/vfio-pci/unbind"
    unbind.unlink()
    os.mkfifo(unbind)
    started = time.monotonic()
    with (
        pytest.raises(RestoreError, match="vfio-pci/unbind failed: no answer within 1 s") as err,
        VfioBinding(ctx, dev, timeout=1),
    ):
        pass
    assert time.monotonic() - started < 5
    assert err.value.commands == (
        f"printf %s 0000:09:00.0 > {unbind}",
        f"echo > {ctx.sysroot}/sys/bus/pci/devices/0000:09:00.0/driver_override",
        f"printf %s 0000:09:00.0 > {ctx.sysroot}/sys/bus/pci/drivers/i915/bind",
    )
    assert (Path(ctx.sysroot) / "sys/bus/pci/drivers/i915/bind").read_text() == "0000:09:00.0"
    os.close(os.open(unbind, os.O_RDONLY | os.O_NONBLOCK))  # let the abandoned writer finish


@pytest.mark.parametrize(
    "text, address", [("0000:09:00.0", "0000:09:00.0"), ("09:00.0", "0000:09:00.0"), ("10000:E1:1F.7", "10000:e1:1f.7")]
)
def test_pci_addresses(text: str, address: str) -> None:
    assert parse_pci_address(text) == address


@pytest.mark.parametrize("text", ["zzzz", "../../../../tmp", "0000:09:00.0/../..", "0000:09:20.0", "0000:09:00.8", ""])
def test_what_is_not_a_pci_address(text: str) -> None:
    with pytest.raises(ValueError, match="is not a PCI address"):
        parse_pci_address(text)


def test_a_missing_device_is_a_usage_error(lab) -> None:
    with pytest.raises(ConfigError, match=re.escape("no PCI device 0000:0a:00.0")):
        preflight(lab("dgpu-own-group"), "0000:0a:00.0")


def test_qemu_arguments(lab) -> None:
    dgpu = device_state(lab("dgpu-own-group"), "0000:09:00.0")
    igpu = device_state(lab("igpu-display"), "0000:00:02.0")
    vf = device_state(lab("sriov-vf"), "0000:00:02.1")
    assert dgpu and igpu and vf
    assert qemu_device_args(dgpu) == ["-device", "vfio-pci,host=0000:09:00.0"]
    assert qemu_device_args(igpu) == ["-device", "vfio-pci,host=0000:00:02.0,x-igd-opregion=on"]
    assert qemu_device_args(vf) == ["-device", "vfio-pci,host=0000:00:02.1"]


class CountingTarget(Target):
    """The local target, counting the commands it is asked to run."""

    def __init__(self, target: Target) -> None:
        super().__init__(target.url, target.host, local=target.local)
        self.commands: list[str] = []

    def run(self, command: str, **kwargs: Any) -> CommandOutput:
        self.commands.append(command)
        return super().run(command, **kwargs)


@pytest.mark.parametrize("layout", sorted(p.stem for p in (machines.MACHINES / "passthrough").glob("*.yaml")))
def test_the_doctor_and_passthrough_see_the_same_device(layout: str, lab) -> None:
    """Every GPU of every recorded host, as the doctor's scan sees it, is the device preflight judges."""
    ctx = lab(layout)
    gpus = scan_system(ctx).gpus
    assert gpus
    for gpu in gpus:
        pf = preflight(ctx, gpu.address, memory_mb=1, force=True)
        assert pf.device == gpu
        assert pf.device.iommu_group == (
            None
            if layout == "iommu-off"
            else str(machines.load(f"passthrough/{layout}")["devices"][gpu.address]["iommu_group"])
        )


def test_preflight_and_binding_take_one_target_command(lab) -> None:
    ctx = lab("dgpu-own-group")
    counting = CountingTarget(ctx.target)
    ctx = ProbeContext(counting, sysroot=ctx.sysroot, timeout=ctx.timeout)
    pf = preflight(ctx, "0000:09:00.0", memory_mb=1)
    assert pf.ok and pf.vfio_module and len(counting.commands) == 1
    assert counting.commands[0].startswith(f"set -- {ctx.sysroot} 0000:09:00.0\n")
    assert "\n# Scan PCI devices" in counting.commands[0]  # the scan script follows its arguments
    with VfioBinding(ctx, pf.device) as binding:  # the writes are this process's own, not target commands
        assert len(binding.done) == 3
    assert len(counting.commands) == 1


def test_a_group_member_that_is_not_a_gpu(lab) -> None:
    """Any PCI device can be looked at (a USB controller to pass along with the GPU)."""
    pf = preflight(lab("shared-group"), "0000:0a:00.0", memory_mb=1)
    assert (pf.device.class_text, pf.device.driver, pf.device.integrated) == ("0x0c0330", "xhci_hcd", False)
    finding = next(f for f in pf.findings if f.id == "iommu-group-shared")
    assert finding.evidence == ("0000:09:00.0 (class 0x030000) bound to i915",)
    assert qemu_device_args(pf.device) == ["-device", "vfio-pci,host=0000:0a:00.0"]


def test_a_bad_address_from_the_library_is_a_usage_error(lab) -> None:
    with pytest.raises(ConfigError, match="is not a full PCI address"):
        preflight(lab("dgpu-own-group"), "0000:09:00.0/../..")
