"""GPU passthrough (VFIO): preflight checks, reversible binding to vfio-pci, QEMU device arguments.

Every read and write goes through the target (so the same code runs on a recorded sysfs tree),
and every bind is paired with its restore: ``VfioBinding`` is a context manager whose exit puts
the original driver back, also when the run fails or is interrupted.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

from ..gpu_ids import Kind, lookup
from ..model import Finding, Severity
from ..probes.context import ProbeContext

INTEL = "0x8086"


@dataclass(frozen=True)
class GroupMember:
    address: str
    driver: str | None
    class_code: str


@dataclass(frozen=True)
class DeviceState:
    address: str
    vendor: str
    device: str
    class_code: str
    driver: str | None
    has_driver_override: bool
    iommu_group: str | None
    physfn: str | None  # set for an SR-IOV virtual function
    boot_vga: bool
    connected_outputs: tuple[str, ...]

    @property
    def integrated(self) -> bool:
        model = lookup(int(self.device, 16)) if self.device else None
        if model is not None and self.physfn is None:
            return model.kind is Kind.INTEGRATED
        return self.address.endswith("00:02.0")

    @property
    def drives_display(self) -> bool:
        return self.boot_vga or bool(self.connected_outputs)


@dataclass(frozen=True)
class Preflight:
    device: DeviceState
    iommu_groups: int
    cmdline: str
    members: tuple[GroupMember, ...]
    vfio_module: bool
    memlock_kib: int | None  # None: unlimited
    findings: tuple[Finding, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not any(f.severity is Severity.FAIL for f in self.findings)


def _read(ctx: ProbeContext, path: str) -> str | None:
    text = ctx.target.read_text(ctx.sysroot + path)
    return text.strip() if text is not None else None


def _link_name(ctx: ProbeContext, path: str) -> str | None:
    out = ctx.target.run(f"readlink {shlex.quote(ctx.sysroot + path)}", timeout=ctx.timeout)
    return out.stdout.strip().rsplit("/", 1)[-1] if out.ok and out.stdout.strip() else None


def _ls(ctx: ProbeContext, path: str) -> list[str]:
    out = ctx.target.run(f"ls -1 {shlex.quote(ctx.sysroot + path)} 2>/dev/null", timeout=ctx.timeout)
    return out.stdout.split() if out.ok else []


def device_state(ctx: ProbeContext, address: str) -> DeviceState | None:
    base = f"/sys/bus/pci/devices/{address}"
    vendor = _read(ctx, f"{base}/vendor")
    if vendor is None:
        return None
    outputs = []
    for card in (c for c in _ls(ctx, f"{base}/drm") if c.startswith("card")):
        for conn in _ls(ctx, f"{base}/drm/{card}"):
            if conn.startswith(f"{card}-") and _read(ctx, f"{base}/drm/{card}/{conn}/status") == "connected":
                outputs.append(conn.removeprefix(f"{card}-"))
    return DeviceState(
        address=address, vendor=vendor, device=_read(ctx, f"{base}/device") or "",
        class_code=_read(ctx, f"{base}/class") or "", driver=_link_name(ctx, f"{base}/driver"),
        has_driver_override=ctx.target.exists(ctx.sysroot + f"{base}/driver_override"),
        iommu_group=_link_name(ctx, f"{base}/iommu_group"), physfn=_link_name(ctx, f"{base}/physfn"),
        boot_vga=_read(ctx, f"{base}/boot_vga") == "1", connected_outputs=tuple(outputs),
    )


def preflight(ctx: ProbeContext, address: str, *, memory_mb: int = 4096, force: bool = False) -> Preflight:
    """Check that ``address`` can be handed to a VM; findings say what blocks it and how to fix it."""
    dev = device_state(ctx, address)
    if dev is None:
        raise ValueError(f"no PCI device {address} on {ctx.target.url}")
    groups = len(_ls(ctx, "/sys/kernel/iommu_groups"))
    cmdline = _read(ctx, "/proc/cmdline") or ""
    members = []
    if dev.iommu_group:
        for member in _ls(ctx, f"/sys/kernel/iommu_groups/{dev.iommu_group}/devices"):
            base = f"/sys/bus/pci/devices/{member}"
            members.append(GroupMember(member, _link_name(ctx, f"{base}/driver"), _read(ctx, f"{base}/class") or ""))
    vfio_module = ctx.target.exists(ctx.sysroot + "/sys/bus/pci/drivers/vfio-pci")
    limit = ctx.target.run("ulimit -l", timeout=ctx.timeout).stdout.strip()
    memlock = None if limit in ("unlimited", "") else int(limit) if limit.isdigit() else 0
    findings: list[Finding] = []
    if groups == 0 or not dev.iommu_group:
        findings.append(Finding(
            "iommu-off", Severity.FAIL, "The IOMMU is off: no IOMMU groups",
            (f"/sys/kernel/iommu_groups has {groups} groups", f"cmdline: {cmdline}"),
            fix="enable VT-d in the firmware and boot with intel_iommu=on iommu=pt",
            nixos='boot.kernelParams = [ "intel_iommu=on" "iommu=pt" ];'))
    blockers = [m for m in members if m.address != address and m.driver not in (None, "vfio-pci", "pcieport")]
    if blockers:
        findings.append(Finding(
            "iommu-group-shared", Severity.FAIL, f"IOMMU group {dev.iommu_group} has other devices in use",
            tuple(f"{m.address} (class {m.class_code}) bound to {m.driver}" for m in blockers),
            fix="pass every device of the group to the VM or unbind them; or move the card to a slot with its own group"))
    if dev.drives_display:
        what = "it is the boot VGA device" if dev.boot_vga else f"outputs {', '.join(dev.connected_outputs)} are connected"
        findings.append(Finding(
            "drives-host-display", Severity.WARN if force else Severity.FAIL,
            f"{address} drives the host's display", (what,),
            fix="use a GPU the host does not display on, or pass --force to take the display away"))
    if dev.driver == "vfio-pci":
        findings.append(Finding("already-vfio", Severity.INFO, f"{address} is already bound to vfio-pci", (),
                                fix="nothing to bind; it will not be rebound to a GPU driver afterwards"))
    if not vfio_module:
        findings.append(Finding(
            "vfio-not-loaded", Severity.FAIL, "The vfio-pci driver is not loaded", ("/sys/bus/pci/drivers/vfio-pci missing",),
            fix="modprobe vfio-pci", nixos='boot.kernelModules = [ "vfio-pci" ];'))
    if memlock is not None and memlock < memory_mb * 1024:
        findings.append(Finding(
            "memlock-too-low", Severity.FAIL, f"Locked-memory limit {memlock} KiB is below the VM's {memory_mb} MiB",
            (f"ulimit -l = {limit}",), fix="raise the memlock limit for the user running QEMU (or run it as root)",
            nixos='security.pam.loginLimits = [ { domain = "@kvm"; type = "-"; item = "memlock"; value = "unlimited"; } ];'))
    if dev.physfn:
        findings.append(Finding("sriov-vf", Severity.INFO, f"{address} is an SR-IOV virtual function of {dev.physfn}", (),
                                fix="the physical function stays with the host driver"))
    return Preflight(dev, groups, cmdline, tuple(members), vfio_module, memlock, tuple(findings))


@dataclass(frozen=True)
class SysfsWrite:
    path: str
    value: str


def bind_writes(dev: DeviceState) -> list[SysfsWrite]:
    """The writes that hand ``dev`` to vfio-pci (driver_override where the kernel has it, else new_id)."""
    base = f"/sys/bus/pci/devices/{dev.address}"
    writes = []
    if dev.has_driver_override:
        writes.append(SysfsWrite(f"{base}/driver_override", "vfio-pci"))
    if dev.driver:
        writes.append(SysfsWrite(f"/sys/bus/pci/drivers/{dev.driver}/unbind", dev.address))
    if dev.has_driver_override:
        writes.append(SysfsWrite("/sys/bus/pci/drivers_probe", dev.address))
    else:
        writes.append(SysfsWrite("/sys/bus/pci/drivers/vfio-pci/new_id", f"{dev.vendor[2:]} {dev.device[2:]}"))
    return writes


def restore_writes(dev: DeviceState) -> list[SysfsWrite]:
    """The writes that give ``dev`` back to the driver it had before ``bind_writes``."""
    base = f"/sys/bus/pci/devices/{dev.address}"
    writes = [SysfsWrite("/sys/bus/pci/drivers/vfio-pci/unbind", dev.address)]
    if dev.has_driver_override:
        writes.append(SysfsWrite(f"{base}/driver_override", "\n"))
    else:
        writes.append(SysfsWrite("/sys/bus/pci/drivers/vfio-pci/remove_id", f"{dev.vendor[2:]} {dev.device[2:]}"))
    if dev.driver:
        writes.append(SysfsWrite(f"/sys/bus/pci/drivers/{dev.driver}/bind", dev.address))
    return writes


class VfioBinding:
    """Bind a device to vfio-pci for the duration of a ``with`` block; restore it on any exit."""

    def __init__(self, ctx: ProbeContext, dev: DeviceState) -> None:
        self.ctx = ctx
        self.dev = dev
        self.done: list[SysfsWrite] = []

    def _write(self, w: SysfsWrite) -> None:
        out = self.ctx.target.run(f"printf '%s' {shlex.quote(w.value)} > {shlex.quote(self.ctx.sysroot + w.path)}",
                                  timeout=self.ctx.timeout)
        if not out.ok:
            raise OSError(f"writing {w.value!r} to {w.path} failed: {out.stderr.strip() or out.rc}")
        self.done.append(w)

    def __enter__(self) -> VfioBinding:
        if self.dev.driver == "vfio-pci":
            return self
        try:
            for w in bind_writes(self.dev):
                self._write(w)
        except BaseException:
            self.restore()
            raise
        return self

    def restore(self) -> None:
        if self.dev.driver == "vfio-pci":
            return
        errors = []
        for w in restore_writes(self.dev):
            try:
                self._write(w)
            except OSError as exc:  # keep going: put back as much as possible
                errors.append(str(exc))
        if errors:
            raise OSError("restoring the original driver failed: " + "; ".join(errors))

    def __exit__(self, *exc: object) -> None:
        self.restore()


def qemu_device_args(dev: DeviceState) -> list[str]:
    """QEMU arguments that give ``dev`` to the guest: a whole iGPU also needs its OpRegion."""
    options = [f"host={dev.address}"]
    if dev.integrated and dev.physfn is None:
        options.append("x-igd-opregion=on")
    return ["-device", "vfio-pci," + ",".join(options)]
