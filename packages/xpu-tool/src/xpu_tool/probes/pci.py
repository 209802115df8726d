"""PCI and DRM facts from sysfs: which Intel GPUs exist, their driver, render node and BARs, and
what passing a device to a VM needs (its IOMMU group, driver_override, the displays it drives).

One model for everyone: ``PciDevice`` is what the scan knows of any PCI device, ``PciGpu`` an
Intel display-class one with its name, DRM nodes and BARs. The doctor scans every Intel GPU;
passthrough scans one address (and its IOMMU group); both read ``collectors/sysfs_scan.sh`` in one
target command and parse it here.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import asdict, dataclass, field
from importlib import resources
from typing import Any

from .. import gpu_ids
from ..model import Facts, ProbeResult, Status
from .context import ProbeContext
from .registry import Collected, listed_gpus, probe

INTEL = 0x8086
IORESOURCE_MEM = 0x200
IORESOURCE_PREFETCH = 0x2000
IORESOURCE_MEM_64 = 0x100000
MIB = 1 << 20
# With Resizable BAR off an Arc card exposes its VRAM through a 256 MiB window.
REBAR_OFF_MAX_BAR = 256 * MIB
# domain (4 hex digits, more behind a VMD), bus, device (0-1f), function: as `lspci -D` prints it
PCI_ADDRESS = re.compile(r"(?:([0-9a-f]{4,8}):)?([0-9a-f]{2}):([01][0-9a-f])\.([0-7])")


def parse_pci_address(text: str) -> str:
    """'0000:03:00.0', or '03:00.0' as plain `lspci` prints it -> the full address; ValueError otherwise."""
    m = PCI_ADDRESS.fullmatch(text.strip().lower())
    if m is None:
        raise ValueError(
            f"{text[:40]!r} is not a PCI address (DDDD:BB:DD.F as `lspci -D` prints it, e.g. 0000:03:00.0)"
        )
    domain, bus, device, function = m.groups()
    return f"{domain or '0000'}:{bus}:{device}.{function}"


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


@dataclass(frozen=True, kw_only=True)
class PciDevice:
    """One PCI device as sysfs shows it."""

    address: str
    vendor: int
    device_id: int
    class_code: int
    driver: str | None
    driver_override: str | None  # None: none set ("(null)"), or the kernel has no driver_override
    has_driver_override: bool  # the kernel offers /sys/bus/pci/devices/ADDR/driver_override
    iommu_group: str | None
    physfn: str | None  # set for an SR-IOV virtual function: its physical function's address
    boot_vga: bool
    connected_outputs: tuple[str, ...] = ()  # DRM connectors with a display attached ("HDMI-A-1")

    @property
    def class_text(self) -> str:
        """The class as sysfs writes it (0x030000)."""
        return f"0x{self.class_code:06x}"

    @property
    def ids(self) -> str:
        """Vendor and device id as new_id and remove_id take them ("8086 56a0")."""
        return f"{self.vendor:04x} {self.device_id:04x}"

    @property
    def integrated(self) -> bool:
        return False  # only an Intel GPU is one (PciGpu)

    @property
    def drives_display(self) -> bool:
        """The host shows something through it: the boot VGA device, or a connected output."""
        return self.boot_vga or bool(self.connected_outputs)


@dataclass(frozen=True, kw_only=True)
class PciGpu(PciDevice):
    """An Intel display-class device, named from the PCI id table."""

    name: str
    family: str | None
    arch: str | None
    kind: str
    sriov_totalvfs: int
    card: str | None
    render: str | None
    bars: tuple[Bar, ...] = ()

    @property
    def integrated(self) -> bool:
        return self.kind == gpu_ids.Kind.INTEGRATED.value

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
class SystemScan(Facts):
    """Everything one sysfs scan found: the pci probe's facts."""

    gpus: tuple[PciGpu, ...]
    cmdline: str
    kernel: str
    iommu_groups: int | None
    nodes: tuple[RenderNode, ...] = ()
    raw: str = field(default="", repr=False)
    # a scan of one address (``scan_system(ctx, address)``) also has:
    others: tuple[PciDevice, ...] = ()  # the devices it found that are not Intel GPUs (IOMMU group members)
    vfio_pci: bool | None = None  # the vfio-pci driver is loaded
    memlock: str | None = None  # the locked-memory limit (`ulimit -l`: KiB or "unlimited")

    @property
    def devices(self) -> tuple[PciDevice, ...]:
        """Every device found, in address order (as `ls` lists them)."""
        return tuple(sorted((*self.gpus, *self.others), key=lambda d: d.address))

    def device(self, address: str) -> PciDevice | None:
        return next((d for d in self.devices if d.address == address), None)

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


def _device(
    address: str, facts: dict[str, str], resources_: list[tuple[int, int, int]], drm: list[str], outputs: list[str]
) -> PciDevice:
    override = facts.get("driver_override")
    common: dict[str, Any] = {
        "address": address,
        "vendor": _int(facts.get("vendor")),
        "device_id": _int(facts.get("device")),
        "class_code": _int(facts.get("class")),
        "driver": facts.get("driver"),
        "driver_override": None if override in (None, "", "(null)") else override,
        "has_driver_override": "driver_override" in facts,
        "iommu_group": facts.get("iommu_group"),
        "physfn": facts.get("physfn"),
        "boot_vga": facts.get("boot_vga") == "1",
        "connected_outputs": tuple(o.split("-", 1)[1] for o in outputs if "-" in o),
    }
    if common["vendor"] != INTEL or common["class_code"] >> 16 != 0x03:
        return PciDevice(**common)
    model = gpu_ids.lookup(common["device_id"])
    if model is not None:
        kind = model.kind.value
    else:  # unknown id: a VGA controller in slot 00:02.0 is the integrated GPU on every Intel platform
        kind = gpu_ids.Kind.INTEGRATED.value if address.endswith("00:02.0") else gpu_ids.Kind.DISCRETE.value
    return PciGpu(
        **common,
        name=model.name if model else f"unknown Intel GPU 0x{common['device_id']:04x}",
        family=model.family.code if model else None,
        arch=model.family.arch if model else None,
        kind=kind,
        sriov_totalvfs=_int(facts.get("sriov_totalvfs")),
        card=next((d for d in drm if d.startswith("card")), None),
        render=next((d for d in drm if d.startswith("renderD")), None),
        bars=_bars(resources_),
    )


def parse_scan(text: str) -> SystemScan:
    """Parse the output of ``sysfs_scan.sh``."""
    devices: list[PciDevice] = []
    nodes: list[RenderNode] = []
    cmdline = kernel = ""
    iommu_groups: int | None = None
    vfio_pci: bool | None = None
    memlock: str | None = None
    current: str | None = None
    facts: dict[str, str] = {}
    res: list[tuple[int, int, int]] = []
    drm: list[str] = []
    outputs: list[str] = []

    def flush() -> None:
        if current is not None:
            devices.append(_device(current, facts, res, drm, outputs))

    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if key == "@dev":
            flush()
            current, facts, res, drm, outputs = value.strip(), {}, [], [], []
        elif key.startswith("@"):
            flush()
            current = None
            if key == "@cmdline":
                cmdline = value.strip()
            elif key == "@kernel":
                kernel = value.strip()
            elif key == "@iommu_groups":
                iommu_groups = _int(value.strip(), 0)
            elif key == "@vfio_pci":
                vfio_pci = value.strip() == "yes"
            elif key == "@memlock":
                memlock = value.strip()
            elif key == "@node":
                parts = value.strip().split("|")
                if len(parts) == 8:
                    name, uid, gid, owner, group, mode, perms, access = parts
                    nodes.append(
                        RenderNode(
                            name, _int(uid), _int(gid), owner, group, int(mode, 8), perms.endswith("+"), access == "yes"
                        )
                    )
        elif current is not None:
            if key == "resource":
                nums = [_int(x) for x in value.split()]
                if len(nums) == 3:
                    res.append((nums[0], nums[1], nums[2]))
            elif key == "drm":
                drm.append(value.strip())
            elif key == "output":
                outputs.append(value.strip())
            elif key:
                facts[key] = value.strip()
    flush()
    gpus = tuple(d for d in devices if isinstance(d, PciGpu))
    others = tuple(d for d in devices if not isinstance(d, PciGpu))
    return SystemScan(
        gpus, cmdline, kernel, iommu_groups, tuple(nodes), raw=text, others=others, vfio_pci=vfio_pci, memlock=memlock
    )


def scan_system(ctx: ProbeContext, address: str | None = None) -> SystemScan:
    """Run the sysfs scan on the target (one command, whatever the transport): every Intel GPU,
    or, given ``address`` (a full address, as ``parse_pci_address`` returns it), that device and
    its IOMMU group. ValueError for an address that is not one."""
    args = [ctx.sysroot]
    if address is not None:
        if PCI_ADDRESS.fullmatch(address) is None or address != parse_pci_address(address):
            raise ValueError(f"{address[:40]!r} is not a full PCI address (DDDD:BB:DD.F, e.g. 0000:03:00.0)")
        args.append(address)
    script = resources.files("xpu_tool.collectors").joinpath("sysfs_scan.sh").read_text()
    out = ctx.target.run(f"set -- {shlex.join(args)}\n{script}", timeout=ctx.timeout)
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
    if not scan.gpus:
        return ProbeResult(
            "pci",
            Status.ABSENT,
            "no Intel GPU on this machine",
            tuple(evidence),
            cause="no PCI device with vendor 0x8086 and display class 0x03xxxx is present",
            fix="run on a machine with an Intel GPU, or pass one through to this VM (xpu vm, VFIO)",
            facts=scan,
        )
    bound = [g for g in scan.gpus if g.driver in ("i915", "xe")]
    if not bound:
        drivers = ", ".join(sorted({g.driver or "none" for g in scan.gpus}))
        return ProbeResult(
            "pci",
            Status.FAIL,
            f"{len(scan.gpus)} Intel GPU(s), none bound to i915 or xe",
            tuple(evidence),
            cause=f"the GPU kernel driver is not bound (bound now: {drivers})",
            fix="load i915 or xe for the device (see the kernel-driver finding); unbind vfio-pci if it was reserved",
            facts=scan,
        )
    if len(bound) < len(scan.gpus):
        return ProbeResult(
            "pci",
            Status.WARN,
            f"{len(bound)} of {len(scan.gpus)} Intel GPUs have a GPU driver",
            tuple(evidence),
            cause="some Intel GPUs are not bound to i915 or xe",
            fix="bind the remaining devices to i915/xe unless they are reserved for passthrough",
            facts=scan,
        )
    return ProbeResult("pci", Status.OK, f"{len(bound)} Intel GPU(s) with a GPU driver", tuple(evidence), facts=scan)


@probe("pci", order=10, gpus=listed_gpus)
def run(collected: Collected) -> ProbeResult:
    scan: SystemScan = collected.scan.result()
    return judge_pci(scan)
