"""Materialize a recorded machine layout (tests/machines/*.yaml) as a real directory tree.

The tree is laid out as the kernel lays out sysfs, procfs and /dev/dri (files, symlinks, modes),
so the real scan script reads it unchanged through ``--sysroot``.
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml

MACHINES = Path(__file__).parent / "machines"
ZERO = "0x0000000000000000 0x0000000000000000 0x0000000000000000"


def machine_names() -> list[str]:
    """The recorded GPU machines (passthrough host layouts live in machines/passthrough/)."""
    return sorted(p.stem for p in MACHINES.glob("*.yaml"))


def load(name: str) -> dict:
    layout: dict = yaml.safe_load((MACHINES / f"{name}.yaml").read_text())
    return layout


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + "\n")


def _pci_device(root: Path, address: str, spec: dict, vendor: str = "0x8086") -> None:
    dev = root / "sys/devices/pci0000:00" / address
    dev.mkdir(parents=True)
    link = root / "sys/bus/pci/devices" / address
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(os.path.relpath(dev, link.parent))
    _write(dev / "vendor", spec.get("vendor", vendor))
    for key in ("device", "class", "revision", "subsystem_vendor", "subsystem_device", "boot_vga", "sriov_totalvfs"):
        if key in spec:
            _write(dev / key, str(spec[key]))
    _write(dev / "driver_override", spec.get("driver_override", "(null)"))
    lines = [ZERO] * 13
    for index, (start, end, flags) in (spec.get("bars") or {}).items():
        lines[int(index)] = f"0x{start:016x} 0x{end:016x} 0x{flags:016x}"
    _write(dev / "resource", "\n".join(lines))
    if spec.get("driver"):
        (dev / "driver").symlink_to(f"../../../bus/pci/drivers/{spec['driver']}")
    if "iommu_group" in spec:
        (dev / "iommu_group").symlink_to(f"../../../kernel/iommu_groups/{spec['iommu_group']}")
        members = root / "sys/kernel/iommu_groups" / str(spec["iommu_group"]) / "devices"
        members.mkdir(parents=True, exist_ok=True)
        (members / address).symlink_to(f"../../../../devices/pci0000:00/{address}")
    if "physfn" in spec:
        (dev / "physfn").symlink_to(f"../{spec['physfn']}")
    for node in spec.get("drm") or []:
        (dev / "drm" / node).mkdir(parents=True)
    for connector, status in (spec.get("connectors") or {}).items():
        card = connector.split("-", 1)[0]
        _write(dev / "drm" / card / connector / "status", status)


def materialize(name: str, root: Path) -> Path:
    """Write machine ``name`` (e.g. "arc-a770-i915" or "passthrough/shared-group") below ``root``;
    return root (pass it as the sysroot)."""
    spec = load(name)
    for driver in spec.get("drivers") or []:
        for f in ("bind", "unbind", "new_id", "remove_id"):
            _write(root / "sys/bus/pci/drivers" / driver / f, "")
    if spec.get("drivers"):
        _write(root / "sys/bus/pci/drivers_probe", "")
    for address, dev in (spec.get("devices") or {}).items():
        _pci_device(root, address, dev)
    for address, dev in (spec.get("other_pci") or {}).items():
        _pci_device(root, address, dev, vendor=dev["vendor"])
    _write(root / "proc/cmdline", spec["cmdline"])
    _write(root / "proc/sys/kernel/osrelease", spec["kernel"])
    for group in spec.get("iommu_groups") or []:
        (root / "sys/kernel/iommu_groups" / str(group) / "devices").mkdir(parents=True, exist_ok=True)
    dri = root / "dev/dri"
    dri.mkdir(parents=True, exist_ok=True)
    for node, mode in (spec.get("nodes") or {}).items():
        (dri / node).touch()
        (dri / node).chmod(int(str(mode), 8))
    return root
