"""GPU passthrough runs from the inventory: preflight, bind to vfio-pci, boot the VM with the GPU,
check that the GPU enumerates inside on Level Zero and SYCL, and restore the host driver.

    pytest pytests/test_passthrough.py --hardware --xpu-inventory lab.yaml

Runs on the lab host itself (the inventory target's url is local://) as a user that may write
sysfs and use /dev/vfio.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from xpu_testkit.vm.passthrough import VfioBinding, device_state, preflight, qemu_device_args
from xpu_testkit.vm.qemu import QemuVM, VmSpec, detect_accel
from xpu_tool.doctor import run_doctor
from xpu_tool.inventory import InventoryTarget
from xpu_tool.probes.context import ProbeContext
from xpu_tool.target import console_target, open_target


@pytest.mark.xpu_hardware
@pytest.mark.xpu_boots_vm
@pytest.mark.xpu_slow
def test_gpu_passed_through_enumerates_inside(passthrough_target: InventoryTarget) -> None:
    spec = passthrough_target.passthrough
    assert spec is not None
    if not passthrough_target.url.startswith("local"):
        pytest.fail(f"{passthrough_target.name}: passthrough runs on the lab host itself (url: local://)")
    host = ProbeContext(open_target("local://"))
    pf = preflight(host, spec.pci, memory_mb=spec.memory_mb, force=spec.force)
    assert pf.ok, "\n".join(f"{f.title}: {'; '.join(f.evidence)} -> {f.fix}" for f in pf.findings)
    original = pf.device.driver
    with VfioBinding(host, pf.device):
        kernel = Path(spec.kernel) if spec.kernel else None
        vm_spec = VmSpec(
            name=f"xpu-passthrough-{passthrough_target.name}",
            kernel=kernel,
            initrd=Path(spec.initrd) if spec.initrd else None,
            append=spec.append,
            run_script=Path(spec.run_script) if spec.run_script else None,
            memory_mb=spec.memory_mb,
            accel=detect_accel(kernel) if kernel else "kvm",
            boot_timeout=900,
            extra_args=tuple(qemu_device_args(pf.device)),
        )
        with QemuVM(vm_spec) as vm:
            assert vm.backdoor is not None  # the spec asks for one (VmSpec.backdoor), and starting waited for it
            report = run_doctor(ProbeContext(console_target(vm.backdoor, vm_spec.name), timeout=120))
    for probe in ("level-zero", "sycl"):
        names = [str(g.get("name")) for g in report.probe(probe).data.get("gpus", [])]
        assert names, f"{probe} inside the VM: {report.probe(probe).summary}"
        if spec.expect_device:
            assert any(spec.expect_device in n for n in names), f"{spec.expect_device!r} not among {names}"
    restored = device_state(host, spec.pci)
    assert restored is not None and restored.driver == original, "the host driver was not restored"
