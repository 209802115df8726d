"""`xpu vm run --pci` gives the host driver back whatever happens, run as a user runs it (`xpu` in
a subprocess) on a recorded host layout (`--sysroot`), with real signals.

A sysfs attribute that the kernel holds is a FIFO here: writing it blocks in open(2) until the test
reads it, as an unbind waiting for a driver blocks. QEMU is real; it stops at the device it cannot
find (nothing is bound for real), which is the boot failure the restore follows."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from xpu_tool.cli.exit_codes import Exit

from . import machines
from .faults import fresh_tmpdir
from .test_vm import qemu_processes

DEVICE = "0000:09:00.0"
pytestmark = pytest.mark.skipif(shutil.which("qemu-system-x86_64") is None,
                                reason="qemu-system-x86_64 is not installed (Debian: qemu-system-x86)")


@pytest.fixture
def lab(tmp_path: Path) -> Path:
    """The recorded host with an Arc A770 alone in its IOMMU group (i915, vfio-pci loaded)."""
    return machines.materialize("passthrough/dgpu-own-group", tmp_path / "lab")


def fifo(path: Path) -> Path:
    path.unlink()
    os.mkfifo(path)
    return path


def xpu_vm_run(lab: Path, env: dict[str, str], name: str, *extra: str) -> list[str]:
    kernel = lab / "vmlinuz"  # QEMU gives up at the vfio-pci device before it reads the kernel
    kernel.write_bytes(b"")
    return [sys.executable, "-m", "xpu_tool", "vm", "run", "--kernel", str(kernel), "--accel", "tcg",
            "--memory", "8", "--name", name, "--pci", DEVICE, "--sysroot", str(lab), *extra, "--", "true"]


def wait_until_blocked_on_a_fifo(pid: int, timeout: float = 30) -> None:
    """Until a thread of ``pid`` sleeps in the kernel's FIFO open (wchan wait_for_partner)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for task in Path(f"/proc/{pid}/task").glob("*"):
            try:
                if (task / "wchan").read_text() == "wait_for_partner":
                    return
            except OSError:
                pass
        time.sleep(0.05)
    raise AssertionError(f"process {pid} never blocked on the FIFO")


def signalled_while_blocked(argv: list[str], env: dict[str, str], attribute: Path,
                            signals: tuple[int, ...]) -> tuple[subprocess.Popen[str], str]:
    """Run ``argv``; once it blocks writing the FIFO ``attribute``, send ``signals`` (0.2 s apart),
    check that it is still there, then let the write through (it must be the device's address)
    and wait for the end. (the process, its stderr)"""
    proc = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True, env=env)
    try:
        wait_until_blocked_on_a_fifo(proc.pid)
        for signum in signals:
            proc.send_signal(signum)
            time.sleep(0.2)
        assert proc.poll() is None, "it must not leave during the write"
        with open(attribute) as f:  # the writer is waiting: this opens at once
            assert f.read() == DEVICE
        _, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill()
    return proc, stderr


def helpers_of(lab: Path) -> list[int]:
    """Processes whose command line names the recorded tree (a `sh -c printf` helper would)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and str(lab).encode() in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except OSError:
            pass
    return found


def driver_restored(lab: Path) -> bool:
    base = lab / "sys/bus/pci"
    return ((base / f"devices/{DEVICE}/driver_override").read_text() == "\n"
            and (base / "drivers/i915/bind").read_text() == DEVICE)


def test_repeated_signals_during_the_restore_wait_for_it(lab: Path, tmp_path: Path) -> None:
    env, tmp = fresh_tmpdir(tmp_path)
    unbind = fifo(lab / "sys/bus/pci/drivers/vfio-pci/unbind")  # the restore's first write blocks
    name = f"xpu-restore-{os.getpid()}"
    proc, stderr = signalled_while_blocked(xpu_vm_run(lab, env, name), env, unbind,
                                           (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGINT))
    assert driver_restored(lab)
    assert proc.returncode == Exit.VM_FAILED and "Traceback" not in stderr, stderr
    lines = stderr.splitlines()
    assert f"xpu vm: giving {DEVICE} back to i915 first (signal 2 waits for it)" in lines
    assert any(line.startswith(f"xpu: error: VM {name} did not boot") for line in lines)  # the error that ended it
    kept = [line.split()[3] for line in lines if line.startswith("xpu vm: kept ")]
    assert kept == [str(p) for p in tmp.iterdir()], "the one directory left is named (QEMU's messages are in it)"
    assert qemu_processes(name) == [] and helpers_of(lab) == []


def test_sighup_during_the_bind_unwinds(lab: Path, tmp_path: Path) -> None:
    """The terminal closes while i915 lets go of the device: the write completes, then the run
    unwinds as on Ctrl-C, and what was done is undone."""
    env, tmp = fresh_tmpdir(tmp_path)
    unbind = fifo(lab / "sys/bus/pci/drivers/i915/unbind")  # the bind's second write blocks
    name = f"xpu-bind-{os.getpid()}"
    proc, stderr = signalled_while_blocked(xpu_vm_run(lab, env, name), env, unbind, (signal.SIGHUP,))
    assert proc.returncode == 130 and stderr.splitlines()[-1] == "xpu: interrupted", stderr
    assert driver_restored(lab)
    assert not (lab / "sys/bus/pci/drivers_probe").read_text().strip(), "interrupted before the probe"
    assert list(tmp.iterdir()) == [] and qemu_processes(name) == [] and helpers_of(lab) == []


def test_a_failed_restore_keeps_the_error_and_gives_the_commands(lab: Path, tmp_path: Path) -> None:
    env, tmp = fresh_tmpdir(tmp_path)
    bind = lab / "sys/bus/pci/drivers/i915/bind"
    bind.unlink()
    bind.mkdir()  # writing it fails (EISDIR)
    name = f"xpu-failed-restore-{os.getpid()}"
    run = subprocess.run(xpu_vm_run(lab, env, name), capture_output=True, text=True, env=env, timeout=60)
    assert run.returncode == Exit.VM_FAILED and "Traceback" not in run.stderr, run.stderr
    lines = run.stderr.splitlines()
    first = next(n for n, line in enumerate(lines) if line.startswith("xpu: error: "))
    assert lines[first].startswith(f"xpu: error: VM {name} did not boot")  # the original error, kept
    assert lines[-2] == (f"{DEVICE} was not given back to i915: writing '{DEVICE}' to /sys/bus/pci/drivers/i915/bind "
                         "failed: Is a directory; finish by hand, as root:")
    command = lines[-1].strip()
    bind.rmdir()
    bind.touch()
    subprocess.run(["sh", "-c", command], check=True)  # the command given works as printed
    assert driver_restored(lab)
    assert qemu_processes(name) == [] and helpers_of(lab) == []


@pytest.mark.parametrize("layout, address, message", [
    ("iommu-off", DEVICE, f"xpu: error: {DEVICE} cannot be passed through: The IOMMU is off: no IOMMU groups -> "
                          "enable VT-d in the firmware and boot with intel_iommu=on iommu=pt"),
    ("dgpu-own-group", "zzzz", "xpu: error: argument --pci: 'zzzz' is not a PCI address"),
    ("dgpu-own-group", "../../../../tmp", "xpu: error: argument --pci: '../../../../tmp' is not a PCI address"),
    ("dgpu-own-group", "0000:0a:00.0", "xpu: error: no PCI device 0000:0a:00.0 on local://"),
])
def test_a_refused_device_is_one_line_and_leaves_nothing(layout: str, address: str, message: str,
                                                        tmp_path: Path) -> None:
    env, tmp = fresh_tmpdir(tmp_path)
    lab = machines.materialize(f"passthrough/{layout}", tmp_path / layout)
    argv = xpu_vm_run(lab, env, "xpu-refused")
    argv[argv.index(DEVICE)] = address
    run = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60)
    assert run.returncode == 2 and len(run.stderr.splitlines()) == 1, run.stderr
    assert run.stderr.startswith(message)
    assert list(tmp.iterdir()) == []
    assert (lab / f"sys/bus/pci/devices/{DEVICE}/driver_override").read_text() == "(null)\n"  # untouched
