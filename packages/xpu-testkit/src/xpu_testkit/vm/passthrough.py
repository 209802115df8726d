"""GPU passthrough (VFIO): preflight checks, reversible binding to vfio-pci, QEMU device arguments.

The device, its IOMMU group and the host's readiness come from one sysfs scan on the target
(``probes.pci``, the model the doctor uses too); every path is below its sysroot (so the same code
runs on a recorded sysfs tree), and every bind is paired with its restore: ``VfioBinding`` is a context
manager whose exit puts the original driver back, also when the run fails or is interrupted, and
however many signals arrive meanwhile. Binding happens on this machine (where QEMU runs): the
writes are made by this process itself, so no helper process can outlive it.

No wait on the kernel is unbounded: each write has ``timeout`` seconds (``xpu vm --sysfs-timeout``,
default 10), a signal ends a bind write's wait at once, and the give-back that follows a signal has
at most ``GIVE_BACK_AFTER_SIGNAL`` seconds; what it could not do is printed as commands to run by hand.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from xpu_tool.deadline import Deadline, call_by
from xpu_tool.errors import ConfigError
from xpu_tool.model import Finding, Severity
from xpu_tool.probes.context import ProbeContext
from xpu_tool.probes.pci import PciDevice, SystemScan, scan_system

from ..process import signals_deferred
from .errors import VmFailure

SYSFS_TIMEOUT = 10.0  # seconds one sysfs write may take: an unbind or a probe takes well under that
MAX_SYSFS_TIMEOUT = 600.0
GIVE_BACK_AFTER_SIGNAL = 5.0  # seconds the give-back may still take once a signal has come


@dataclass(frozen=True)
class Preflight:
    device: PciDevice
    iommu_groups: int
    cmdline: str
    members: tuple[PciDevice, ...]  # the devices of its IOMMU group, itself included
    vfio_module: bool
    memlock_kib: int | None  # None: unlimited
    findings: tuple[Finding, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not any(f.severity is Severity.FAIL for f in self.findings)


def _scan(ctx: ProbeContext, address: str) -> SystemScan:
    try:
        return scan_system(ctx, address)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def device_state(ctx: ProbeContext, address: str) -> PciDevice | None:
    """``address`` as the sysfs scan sees it now (one target command); None if there is none."""
    return _scan(ctx, address).device(address)


def _memlock_kib(limit: str) -> int | None:
    """`ulimit -l` -> KiB, None for unlimited (or no answer), 0 for an answer that is not a number."""
    return None if limit in ("unlimited", "") else int(limit) if limit.isdigit() else 0


def preflight(ctx: ProbeContext, address: str, *, memory_mb: int = 4096, force: bool = False) -> Preflight:
    """Check that ``address`` can be handed to a VM; findings say what blocks it and how to fix it.
    Everything comes from one sysfs scan of the device and its IOMMU group."""
    scan = _scan(ctx, address)
    dev = scan.device(address)
    if dev is None:
        raise ConfigError(f"no PCI device {address} on {ctx.target.url} (`lspci -D` lists them)")
    groups = scan.iommu_groups or 0
    cmdline = scan.cmdline
    members = scan.devices if dev.iommu_group else ()
    vfio_module = bool(scan.vfio_pci)
    limit = scan.memlock or ""
    memlock = _memlock_kib(limit)
    findings: list[Finding] = []
    if groups == 0 or not dev.iommu_group:
        findings.append(
            Finding(
                "iommu-off",
                Severity.FAIL,
                "The IOMMU is off: no IOMMU groups",
                (f"/sys/kernel/iommu_groups has {groups} groups", f"cmdline: {cmdline}"),
                fix="enable VT-d in the firmware and boot with intel_iommu=on iommu=pt",
                nixos='boot.kernelParams = [ "intel_iommu=on" "iommu=pt" ];',
            )
        )
    blockers = [m for m in members if m.address != address and m.driver not in (None, "vfio-pci", "pcieport")]
    if blockers:
        findings.append(
            Finding(
                "iommu-group-shared",
                Severity.FAIL,
                f"IOMMU group {dev.iommu_group} has other devices in use",
                tuple(f"{m.address} (class {m.class_text}) bound to {m.driver}" for m in blockers),
                fix=(
                    "pass every device of the group to the VM or unbind them; "
                    "or move the card to a slot with its own group"
                ),
            )
        )
    if dev.drives_display:
        what = (
            "it is the boot VGA device" if dev.boot_vga else f"outputs {', '.join(dev.connected_outputs)} are connected"
        )
        findings.append(
            Finding(
                "drives-host-display",
                Severity.WARN if force else Severity.FAIL,
                f"{address} drives the host's display",
                (what,),
                fix="use a GPU the host does not display on, or pass --force to take the display away",
            )
        )
    if dev.driver == "vfio-pci":
        findings.append(
            Finding(
                "already-vfio",
                Severity.INFO,
                f"{address} is already bound to vfio-pci",
                (),
                fix="nothing to bind; it will not be rebound to a GPU driver afterwards",
            )
        )
    if not vfio_module:
        findings.append(
            Finding(
                "vfio-not-loaded",
                Severity.FAIL,
                "The vfio-pci driver is not loaded",
                ("/sys/bus/pci/drivers/vfio-pci missing",),
                fix="modprobe vfio-pci",
                nixos='boot.kernelModules = [ "vfio-pci" ];',
            )
        )
    if memlock is not None and memlock < memory_mb * 1024:
        findings.append(
            Finding(
                "memlock-too-low",
                Severity.FAIL,
                f"Locked-memory limit {memlock} KiB is below the VM's {memory_mb} MiB",
                (f"ulimit -l = {limit}",),
                fix="raise the memlock limit for the user running QEMU (or run it as root)",
                nixos=(
                    "security.pam.loginLimits = "
                    '[ { domain = "@kvm"; type = "-"; item = "memlock"; value = "unlimited"; } ];'
                ),
            )
        )
    if dev.physfn:
        findings.append(
            Finding(
                "sriov-vf",
                Severity.INFO,
                f"{address} is an SR-IOV virtual function of {dev.physfn}",
                (),
                fix="the physical function stays with the host driver",
            )
        )
    return Preflight(dev, groups, cmdline, members, vfio_module, memlock, tuple(findings))


@dataclass(frozen=True)
class SysfsWrite:
    path: str
    value: str

    def command(self, sysroot: str = "") -> str:
        """This write as a shell command to type by hand (as root)."""
        path = shlex.quote(sysroot + self.path)
        return f"echo > {path}" if self.value == "\n" else f"printf %s {shlex.quote(self.value)} > {path}"


def _write_once(path: str, value: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


def write_sysfs(
    path: str, value: str, deadline: Deadline | Callable[[], Deadline], interrupted: Callable[[], bool] = lambda: False
) -> None:
    """Write ``value`` to a sysfs attribute in one write(2), as the kernel wants it; OSError if it fails.

    The write runs under ``xpu_tool.deadline.call_by``: one that the kernel holds (an unbind
    waiting for a driver, a bind probing hardware) is given up when ``deadline`` passes
    (TimeoutError; a callable is asked again as the wait goes on, so it may come sooner) or as soon
    as ``interrupted()`` is true (KeyboardInterrupt); a write that answers at once is never given
    up. No helper process is left to outlive the caller.
    """
    call_by(lambda: _write_once(path, value), deadline, name=f"write {path}", interrupted=interrupted)


def bind_writes(dev: PciDevice) -> list[SysfsWrite]:
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
        writes.append(SysfsWrite("/sys/bus/pci/drivers/vfio-pci/new_id", dev.ids))
    return writes


def restore_writes(dev: PciDevice, attempted: Sequence[SysfsWrite] | None = None) -> list[SysfsWrite]:
    """The writes that undo the ``attempted`` ones of ``bind_writes(dev)`` (by default all of them)
    and give ``dev`` back to the driver it had. A write that failed may still have happened, so
    it is undone too."""
    done = {w.path.rsplit("/", 1)[1] for w in (bind_writes(dev) if attempted is None else attempted)}
    base = f"/sys/bus/pci/devices/{dev.address}"
    writes = []
    if done & {"drivers_probe", "new_id"}:
        writes.append(SysfsWrite("/sys/bus/pci/drivers/vfio-pci/unbind", dev.address))
    if "driver_override" in done:
        writes.append(SysfsWrite(f"{base}/driver_override", "\n"))
    if "new_id" in done:
        writes.append(SysfsWrite("/sys/bus/pci/drivers/vfio-pci/remove_id", dev.ids))
    if "unbind" in done and dev.driver:
        writes.append(SysfsWrite(f"/sys/bus/pci/drivers/{dev.driver}/bind", dev.address))
    return writes


class BindError(VmFailure):
    """The device could not be handed to vfio-pci (what was done has been undone)."""


class RestoreError(VmFailure):
    """The device was not given back to its driver. The message keeps the error that ended the run
    (if any) and lists the commands that finish the restore by hand, one a line."""

    def __init__(
        self, dev: PciDevice, failures: Sequence[str], commands: Sequence[str], original: BaseException | None = None
    ) -> None:
        self.original = original
        self.commands = tuple(commands)
        lines = [] if original is None else [_describe(original)]
        lines.append(
            f"{dev.address} was not given back to {dev.driver}: {'; '.join(failures)}; finish by hand, as root:"
        )
        lines += [f"  {command}" for command in commands]
        super().__init__("\n".join(lines))


def _describe(exc: BaseException) -> str:
    return "interrupted" if isinstance(exc, KeyboardInterrupt) else str(exc) or type(exc).__name__


class VfioBinding:
    """Bind a device to vfio-pci for the duration of a ``with`` block; restore it on any exit.

    Each sysfs write waits at most ``timeout`` seconds. Ctrl-C, SIGTERM or SIGHUP during the bind ends
    the wait at once (the write may still happen: it is undone too) and the run unwinds. The restore
    (the give-back) is not abandoned for a signal, but once one has come it has at most
    GIVE_BACK_AFTER_SIGNAL seconds; what it could not do is raised as a RestoreError whose commands
    finish it by hand. ``say`` is told what is happening (one line each), e.g. to print it.
    """

    def __init__(
        self,
        ctx: ProbeContext,
        dev: PciDevice,
        *,
        say: Callable[[str], None] = lambda line: None,
        timeout: float = SYSFS_TIMEOUT,
    ) -> None:
        if not ctx.target.local:
            raise ValueError("a device is bound to vfio-pci on this machine (local://), where QEMU runs")
        self.ctx = ctx
        self.dev = dev
        self.say = say
        self.timeout = timeout
        self.done: list[SysfsWrite] = []  # every write that succeeded, bind and restore, in order
        self.attempted: list[SysfsWrite] = []  # every bind write tried, including one that failed
        self.restored = False

    def _write(
        self,
        w: SysfsWrite,
        deadline: Deadline | Callable[[], Deadline],
        interrupted: Callable[[], bool] = lambda: False,
    ) -> None:
        try:
            write_sysfs(self.ctx.sysroot + w.path, w.value, deadline, interrupted)
        except OSError as exc:
            raise OSError(exc.errno, f"writing {w.value.strip()!r} to {w.path} failed: {exc.strerror or exc}") from None
        self.done.append(w)

    def __enter__(self) -> VfioBinding:
        if self.dev.driver == "vfio-pci":
            return self
        with signals_deferred() as received:  # noted, so the give-back below runs whatever comes
            try:
                for w in bind_writes(self.dev):
                    if received:
                        raise KeyboardInterrupt
                    self.attempted.append(w)
                    try:
                        self._write(w, Deadline.after(self.timeout), lambda: bool(received))
                    except OSError as exc:
                        raise BindError(f"could not bind {self.dev.address} to vfio-pci: {exc.strerror}") from None
                if received:
                    raise KeyboardInterrupt
            except BaseException as exc:
                self.restore(original=exc)
                raise
        return self

    def restore(self, original: BaseException | None = None) -> None:
        """Undo the bind. Raises RestoreError, keeping ``original`` (the error that ended the run; a
        signal during the restore makes it KeyboardInterrupt if there was none), when a write fails or
        finds no answer in time; KeyboardInterrupt when a signal came during a restore that ended a
        run without an error."""
        hurry: list[Deadline] = []  # the give-back's bound, once a signal has come
        if isinstance(original, KeyboardInterrupt):
            hurry.append(Deadline.after(min(GIVE_BACK_AFTER_SIGNAL, self.timeout)))

        def signalled(signum: int) -> None:
            if not hurry:
                hurry.append(Deadline.after(min(GIVE_BACK_AFTER_SIGNAL, self.timeout)))
                self.say(
                    f"giving {self.dev.address} back to {self.dev.driver} first (signal {signum} waits for "
                    f"it, at most {hurry[0].seconds:g} s)"
                )

        with signals_deferred(signalled) as received:
            writes = [] if self.restored else restore_writes(self.dev, self.attempted)
            self.restored = True
            failures: list[str] = []
            first_failed = len(writes)
            if writes:
                self.say(
                    f"giving {self.dev.address} back to {self.dev.driver}"
                    + (f" (at most {hurry[0].seconds:g} s)" if hurry else "")
                )
            for n, w in enumerate(writes):
                own = Deadline.after(self.timeout)

                def bound(own: Deadline = own) -> Deadline:  # its own time, or less once a signal came
                    return min([own, *hurry], key=lambda d: d.at)

                try:  # keep going: put back as much as possible
                    self._write(w, bound)
                except OSError as exc:
                    failures.append(exc.strerror or str(exc))
                    first_failed = min(first_failed, n)
        if failures:
            raise RestoreError(
                self.dev,
                failures,
                [w.command(self.ctx.sysroot) for w in writes[first_failed:]],
                KeyboardInterrupt() if received and original is None else original,
            )
        if received and original is None:
            raise KeyboardInterrupt

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        self.restore(original=exc)


def qemu_device_args(dev: PciDevice) -> list[str]:
    """QEMU arguments that give ``dev`` to the guest: a whole iGPU also needs its OpRegion."""
    options = [f"host={dev.address}"]
    if dev.integrated and dev.physfn is None:
        options.append("x-igd-opregion=on")
    return ["-device", "vfio-pci," + ",".join(options)]
