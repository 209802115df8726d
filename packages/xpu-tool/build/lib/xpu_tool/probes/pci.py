"""PCI and DRM facts from sysfs: which Intel GPUs exist, their driver, render node and BARs."""

from __future__ import annotations

import re
import shlex
from dataclasses import asdict, dataclass, field
from importlib import resources
from typing import Any

from .. import gpu_ids
from ..model import ProbeResult, Status
from .context import ProbeContext

IORESOURCE_MEM = 0x200
IORESOURCE_PREFETCH = 0x2000
IORESOURCE_MEM_64 = 0x100000
MIB = 1 << 20
# With Resizable BAR off an Arc card exposes its VRAM through a 256 MiB window.
REBAR_OFF_MAX_BAR = 256 * MIB


@dataclass(frozen=True)
class Bar:
    index: int
    size: int
    prefetchable: bool
    is64: bool


@dataclass(frozen=True)
class RenderNode:
    name: str
    uid: int
    gid: int
    owner: str
    group: str
    mode: int
    acl: bool
    accessible_by_runner: bool

    @property
    def path(self) -> str:
        return f"/dev/dri/{self.name}"


@dataclass(frozen=True)
class PciGpu:
    address: str
    device_id: int
    class_code: int
    name: str
    family: str | None
    arch: str | None
    kind: str
    driver: str | None
    driver_override: str | None
    iommu_group: str | None
    physfn: str | None
    boot_vga: bool
    sriov_totalvfs: int
    card: str | None
    render: str | None
    bars: tuple[Bar, ...] = ()

    @property
    def device_hex(self) -> str:
        return f"{self.device_id:04x}"

    @property
    def model(self) -> gpu_ids.GpuModel | None:
        return gpu_ids.lookup(self.device_id)

    @property
    def largest_prefetchable_bar(self) -> int:
        return max((b.size for b in self.bars if b.prefetchable), default=0)

    @property
    def resizable_bar(self) -> str:
        """'on', 'off' or 'unknown' (integrated GPUs and devices without BAR data)."""
        if self.kind != gpu_ids.Kind.DISCRETE.value or not self.bars:
            return "unknown"
        return "off" if self.largest_prefetchable_bar <= REBAR_OFF_MAX_BAR else "on"

    def label(self) -> str:
        return f"{self.name} [8086:{self.device_hex}] at {self.address}"


@dataclass(frozen=True)
class SystemScan:
    """Everything one sysfs scan found."""

    gpus: tuple[PciGpu, ...]
    cmdline: str
    kernel: str
    iommu_groups: int | None
    nodes: tuple[RenderNode, ...] = ()
    raw: str = field(default="", repr=False)

    @property
    def kernel_version(self) -> tuple[int, int] | None:
        m = re.match(r"(\d+)\.(\d+)", self.kernel)
        return (int(m.group(1)), int(m.group(2))) if m else None

    def kernel_param(self, name: str) -> str | None:
        for token in self.cmdline.split():
            key, sep, value = token.partition("=")
            if key == name:
                return value if sep else ""
        return None

    def node(self, name: str | None) -> RenderNode | None:
        return next((n for n in self.nodes if n.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "gpus": [dict(asdict(g), label=g.label(), resizable_bar=g.resizable_bar) for g in self.gpus],
            "cmdline": self.cmdline,
            "force_probe": {drv: self.kernel_param(f"{drv}.force_probe") for drv in ("i915", "xe")},
            "kernel": self.kernel,
            "iommu_groups": self.iommu_groups,
            "nodes": [asdict(n) for n in self.nodes],
        }


def _int(text: str | None, default: int = 0) -> int:
    try:
        return int(text or "", 0)
    except ValueError:
        return default


def _bars(lines: list[tuple[int, int, int]]) -> tuple[Bar, ...]:
    bars = []
    for index, (start, end, flags) in enumerate(lines[:6]):
        if flags & IORESOURCE_MEM and end > start:
            bars.append(Bar(index, end - start + 1, bool(flags & IORESOURCE_PREFETCH), bool(flags & IORESOURCE_MEM_64)))
    return tuple(bars)


def _gpu(address: str, facts: dict[str, str], resources_: list[tuple[int, int, int]], drm: list[str]) -> PciGpu:
    device_id = _int(facts.get("device"))
    model = gpu_ids.lookup(device_id)
    if model is not None:
        kind = model.kind.value
    else:  # unknown id: a VGA controller in slot 00:02.0 is the integrated GPU on every Intel platform
        kind = gpu_ids.Kind.INTEGRATED.value if address.endswith("00:02.0") else gpu_ids.Kind.DISCRETE.value
    override = facts.get("driver_override")
    return PciGpu(
        address=address,
        device_id=device_id,
        class_code=_int(facts.get("class")),
        name=model.name if model else f"unknown Intel GPU 0x{device_id:04x}",
        family=model.family.code if model else None,
        arch=model.family.arch if model else None,
        kind=kind,
        driver=facts.get("driver"),
        driver_override=None if override in (None, "", "(null)") else override,
        iommu_group=facts.get("iommu_group"),
        physfn=facts.get("physfn"),
        boot_vga=facts.get("boot_vga") == "1",
        sriov_totalvfs=_int(facts.get("sriov_totalvfs")),
        card=next((d for d in drm if d.startswith("card")), None),
        render=next((d for d in drm if d.startswith("renderD")), None),
        bars=_bars(resources_),
    )


def parse_scan(text: str) -> SystemScan:
    """Parse the output of ``sysfs_scan.sh``."""
    gpus: list[PciGpu] = []
    nodes: list[RenderNode] = []
    cmdline = kernel = ""
    iommu_groups: int | None = None
    current: str | None = None
    facts: dict[str, str] = {}
    res: list[tuple[int, int, int]] = []
    drm: list[str] = []

    def flush() -> None:
        if current is not None:
            gpus.append(_gpu(current, facts, res, drm))

    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if key == "@dev":
            flush()
            current, facts, res, drm = value.strip(), {}, [], []
        elif key.startswith("@"):
            flush()
            current = None
            if key == "@cmdline":
                cmdline = value.strip()
            elif key == "@kernel":
                kernel = value.strip()
            elif key == "@iommu_groups":
                iommu_groups = _int(value.strip(), 0)
            elif key == "@node":
                parts = value.strip().split("|")
                if len(parts) == 8:
                    name, uid, gid, owner, group, mode, perms, access = parts
                    nodes.append(RenderNode(name, _int(uid), _int(gid), owner, group, int(mode, 8),
                                            perms.endswith("+"), access == "yes"))
        elif current is not None:
            if key == "resource":
                nums = [_int(x) for x in value.split()]
                if len(nums) == 3:
                    res.append((nums[0], nums[1], nums[2]))
            elif key == "drm":
                drm.append(value.strip())
            elif key:
                facts[key] = value.strip()
    flush()
    return SystemScan(tuple(gpus), cmdline, kernel, iommu_groups, tuple(nodes), raw=text)


def scan_system(ctx: ProbeContext) -> SystemScan:
    """Run the sysfs scan on the target (one command, whatever the transport)."""
    script = resources.files("xpu_tool.remote").joinpath("sysfs_scan.sh").read_text()
    out = ctx.target.run(f"set -- {shlex.quote(ctx.sysroot)}\n{script}", timeout=ctx.timeout)
    return parse_scan(out.stdout)


def _gpu_line(gpu: PciGpu) -> str:
    driver = gpu.driver or "no driver"
    node = f", {gpu.render}" if gpu.render else ""
    extra = f", VF of {gpu.physfn}" if gpu.physfn else ""
    return f"{gpu.label()}: {gpu.kind}, {gpu.arch or 'unknown arch'}, driver {driver}{node}{extra}"


def judge_pci(scan: SystemScan) -> ProbeResult:
    """Are there Intel GPUs, and is a GPU kernel driver (i915 or xe) bound to them?"""
    evidence = [_gpu_line(g) for g in scan.gpus]
    evidence.append(f"kernel {scan.kernel or 'unknown'}; cmdline: {scan.cmdline or '(unreadable)'}")
    for drv in ("i915", "xe"):
        if (value := scan.kernel_param(f"{drv}.force_probe")) is not None:
            evidence.append(f"{drv}.force_probe={value}")
    data = scan.to_dict()
    if not scan.gpus:
        return ProbeResult(
            "pci", Status.ABSENT, "no Intel GPU on this machine", tuple(evidence),
            cause="no PCI device with vendor 0x8086 and display class 0x03xxxx is present",
            fix="run on a machine with an Intel GPU, or pass one through to this VM (xpu vm, VFIO)",
            data=data,
        )
    bound = [g for g in scan.gpus if g.driver in ("i915", "xe")]
    if not bound:
        drivers = ", ".join(sorted({g.driver or "none" for g in scan.gpus}))
        return ProbeResult(
            "pci", Status.FAIL, f"{len(scan.gpus)} Intel GPU(s), none bound to i915 or xe", tuple(evidence),
            cause=f"the GPU kernel driver is not bound (bound now: {drivers})",
            fix="load i915 or xe for the device (see the kernel-driver finding); unbind vfio-pci if it was reserved",
            data=data,
        )
    if len(bound) < len(scan.gpus):
        return ProbeResult(
            "pci", Status.WARN, f"{len(bound)} of {len(scan.gpus)} Intel GPUs have a GPU driver", tuple(evidence),
            cause="some Intel GPUs are not bound to i915 or xe",
            fix="bind the remaining devices to i915/xe unless they are reserved for passthrough",
            data=data,
        )
    return ProbeResult("pci", Status.OK, f"{len(bound)} Intel GPU(s) with a GPU driver", tuple(evidence), data=data)
