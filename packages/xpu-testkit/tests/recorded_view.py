"""Run pytest on this machine as a recorded one shows it (the hardware runner's view, without its GPU).

    python packages/xpu-testkit/tests/recorded_view.py arc-a770-i915 -- [pytest arguments]

The recorded layout (tests/machines/<name>.yaml, materialized by machines.py) is mounted, in a
private mount namespace, over exactly the paths the doctor's scan (collectors/sysfs_scan.sh) and the
passthrough probe read: /sys/bus/pci/devices with the device directories its links lead to
(/sys/devices/pci0000:00), /sys/kernel/iommu_groups and /sys/bus/pci/drivers where recorded,
/proc/cmdline, /proc/sys/kernel/osrelease and /dev/dri. Where this machine has no /dev/dri, /dev
is overlaid (its device nodes and submounts kept) so that the directory exists only in the
namespace. Everything else (the runtimes, QEMU, sshd, the network) is this machine's own. pytest
runs with XPU_TEST_RECORDED_VIEW=<name>; the mounts vanish with the namespace and the layout's
temporary directory is removed afterwards. Needs root (CAP_SYS_ADMIN) for the namespace.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

try:
    from . import machines
except ImportError:  # run as a script
    import machines  # type: ignore[no-redef, import-not-found]  # found on sys.path (the script's directory)

VIEW_VARIABLE = "XPU_TEST_RECORDED_VIEW"
# machine-layout path -> where the scan reads it on a real machine (when the recording has it)
VIEWED = (
    "sys/bus/pci/devices",
    "sys/devices/pci0000:00",
    "sys/kernel/iommu_groups",
    "sys/bus/pci/drivers",
    "proc/cmdline",
    "proc/sys/kernel/osrelease",
    "dev/dri",
)

CLONE_NEWNS = 0x00020000
MS_BIND, MS_MOVE, MS_REC, MS_PRIVATE = 0x1000, 0x2000, 0x4000, 0x40000


class ViewError(Exception):
    """The view cannot be set up; the message is the one line the runner prints."""


@dataclass(frozen=True)
class Mount:
    source: str
    target: str


@dataclass(frozen=True)
class Plan:
    """The binds for one recorded machine, and the overlay that gives /dev a dri directory if needed."""

    machine: str
    root: Path
    binds: tuple[Mount, ...]
    dev_overlay: Path | None  # a directory for the overlay's upper and work dirs, or None


def plan(machine: str, workdir: Path, real_root: Path = Path("/")) -> Plan:
    """Materialize ``machine`` below ``workdir`` and list the mounts that show it at ``real_root``."""
    if machine not in machines.machine_names():
        raise ViewError(f"unknown recorded machine {machine!r} (one of: {', '.join(machines.machine_names())})")
    root = machines.materialize(machine, workdir / "root")
    binds = []
    for rel in VIEWED:
        if not (root / rel).exists():
            continue
        target = real_root / rel
        if not target.exists() and rel != "dev/dri":
            raise ViewError(f"this machine has no {target} to show the recorded {rel} at")
        binds.append(Mount(str(root / rel), str(target)))
    dev_overlay = workdir / "dev" if not (real_root / "dev/dri").exists() else None
    return Plan(machine, root, tuple(binds), dev_overlay)


def _libc_call(name: str, *args: object) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if getattr(libc, name)(*args) != 0:
        err = ctypes.get_errno()
        shown = " ".join(str(a.decode() if isinstance(a, bytes) else a) for a in args if a)
        raise ViewError(f"{name} {shown}: {os.strerror(err)}")


def _mount(source: str | None, target: str, fstype: str | None = None, flags: int = 0, data: str | None = None) -> None:
    def enc(s: str | None) -> bytes | None:
        return None if s is None else s.encode()

    _libc_call("mount", enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data))


def _dev_submounts() -> list[str]:
    """The mount points directly below /dev (their own submounts travel with them)."""
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].encode().decode("unicode_escape")
        if point.startswith("/dev/"):
            points.append(point)
    top: list[str] = []
    for point in sorted(set(points)):
        if not any(point.startswith(t + "/") for t in top):
            top.append(point)
    return top


def _overlay_dev(work: Path) -> None:
    """Overlay /dev (lower: the real one) so that a dri directory can exist in this namespace only."""
    upper, scratch, held = work / "upper", work / "work", work / "held"
    for d in (upper, scratch, held):
        d.mkdir(parents=True, exist_ok=True)
    submounts = _dev_submounts()
    for i, point in enumerate(submounts):
        (held / str(i)).mkdir()
        _mount(point, str(held / str(i)), flags=MS_BIND | MS_REC)
    _mount("overlay", "/dev", "overlay", data=f"lowerdir=/dev,upperdir={upper},workdir={scratch}")
    for i, point in enumerate(submounts):
        _mount(str(held / str(i)), point, flags=MS_MOVE)
    Path("/dev/dri").mkdir()


def enter(view: Plan) -> None:
    """In this process: a private mount namespace with the recorded machine mounted over the real paths."""
    _libc_call("unshare", CLONE_NEWNS)
    _mount(None, "/", flags=MS_REC | MS_PRIVATE)
    if view.dev_overlay is not None:
        _overlay_dev(view.dev_overlay)
    for bind in view.binds:
        _mount(bind.source, bind.target, flags=MS_BIND)


def run(machine: str, pytest_args: Sequence[str]) -> int:
    """pytest under the view of ``machine``; its exit status."""
    if os.geteuid() != 0:
        raise ViewError("needs root for a private mount namespace (run it as root, or through sudo)")
    workdir = Path(tempfile.mkdtemp(prefix="xpu-recorded-view-"))
    try:
        view = plan(machine, workdir)
        env = {**os.environ, VIEW_VARIABLE: machine}
        pid = os.fork()
        if pid == 0:  # the child: enter the namespace, then become pytest
            try:
                enter(view)
                os.execve(sys.executable, [sys.executable, "-m", "pytest", *pytest_args], env)
            except (ViewError, OSError) as exc:
                print(f"recorded_view: {exc}", file=sys.stderr, flush=True)
            os._exit(2)

        def forward(signum: int, _frame: FrameType | None) -> None:
            os.kill(pid, signum)

        previous = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            _, status = os.waitpid(pid, 0)
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
        return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def main(argv: Sequence[str]) -> int:
    args = list(argv)
    if not args or args[0].startswith("-") or (len(args) > 1 and args[1] != "--"):
        print(
            f"usage: recorded_view.py MACHINE [-- PYTEST-ARGS] (MACHINE: {', '.join(machines.machine_names())})",
            file=sys.stderr,
        )
        return 2
    try:
        return run(args[0], args[2:])
    except ViewError as exc:
        print(f"recorded_view: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
