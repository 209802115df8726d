"""`xpu vm run --pci` gives the host driver back whatever happens, run as a user runs it (`xpu` in
a subprocess) on a recorded host layout (`--sysroot`), with real signals.

A sysfs attribute that the kernel holds is a FIFO here: writing it blocks in open(2) until the test
reads it (or forever), as an unbind waiting for a driver blocks. QEMU is real; it stops at the device
it cannot find (nothing is bound for real), which is the boot failure the restore follows."""

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
pytestmark = pytest.mark.skipif(
    shutil.which("qemu-system-x86_64") is None, reason="qemu-system-x86_64 is not installed (Debian: qemu-system-x86)"
)


@pytest.fixture
def lab(tmp_path: Path) -> Path:
    """The recorded host with an Arc A770 alone in its IOMMU group (i915, vfio-pci loaded)."""
    return machines.materialize("passthrough/dgpu-own-group", tmp_path / "lab")


def fifo(path: Path) -> Path:
    path.unlink()
    os.mkfifo(path)
    return path


def xpu_vm_run(lab: Path, env: dict[str, str], name: str, *extra: str) -> list[str]:
    kernel = lab / "vmlinuz"  # a Linux boot header only: QEMU gives up at the vfio-pci device before it reads on
    kernel.write_bytes(b"\0" * 0x202 + b"HdrS" + b"\0" * 0x1000)
    return [
        sys.executable,
        "-m",
        "xpu_tool",
        "vm",
        "run",
        "--kernel",
        str(kernel),
        "--accel",
        "tcg",
        "--memory",
        "8",
        "--name",
        name,
        "--pci",
        DEVICE,
        "--sysroot",
        str(lab),
        *extra,
        "--",
        "true",
    ]


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


def signalled_while_blocked(
    argv: list[str], env: dict[str, str], attribute: Path, signals: tuple[int, ...]
) -> tuple[subprocess.Popen[str], str]:
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
    return (base / f"devices/{DEVICE}/driver_override").read_text() == "\n" and (
        base / "drivers/i915/bind"
    ).read_text() == DEVICE


def test_repeated_signals_during_the_restore_wait_for_it(lab: Path, tmp_path: Path) -> None:
    """The give-back is not abandoned for a signal: it goes on (within its bound of 5 s from the first
    signal), and the error that ended the run is kept."""
    env, tmp = fresh_tmpdir(tmp_path)
    unbind = fifo(lab / "sys/bus/pci/drivers/vfio-pci/unbind")  # the restore's first write blocks
    name = f"xpu-restore-{os.getpid()}"
    proc, stderr = signalled_while_blocked(
        xpu_vm_run(lab, env, name), env, unbind, (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGINT)
    )
    assert driver_restored(lab)
    assert proc.returncode == Exit.VM_FAILED and "Traceback" not in stderr, stderr
    lines = stderr.splitlines()
    assert f"xpu vm: giving {DEVICE} back to i915 first (signal 2 waits for it, at most {GIVE_BACK:g} s)" in lines
    assert any(line.startswith(f"xpu: error: VM {name} did not boot") for line in lines)  # the error that ended it
    kept = [line.split()[3] for line in lines if line.startswith("xpu vm: kept ")]
    assert kept == [str(p) for p in tmp.iterdir()], "the one directory left is named (QEMU's messages are in it)"
    assert qemu_processes(name) == [] and helpers_of(lab) == []


GIVE_BACK = 5.0  # the give-back's bound once a signal has come (passthrough.GIVE_BACK_AFTER_SIGNAL)
HUNG_BIND_WRITES = {"drivers-probe": "sys/bus/pci/drivers_probe", "i915-unbind": "sys/bus/pci/drivers/i915/unbind"}


def signalled_during_a_hung_write(
    argv: list[str], env: dict[str, str], signum: int
) -> tuple[subprocess.Popen[str], str, float]:
    """Run ``argv``; once it blocks writing a FIFO that nobody will read, send ``signum``.
    (the process, its stderr, seconds from the signal to its exit)"""
    proc = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True, env=env)
    try:
        wait_until_blocked_on_a_fifo(proc.pid)
        sent = time.monotonic()
        proc.send_signal(signum)
        _, stderr = proc.communicate(timeout=90)
        return proc, stderr, time.monotonic() - sent
    finally:
        proc.kill()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=["INT", "TERM", "HUP"])
@pytest.mark.parametrize("hung", sorted(HUNG_BIND_WRITES))
def test_a_signal_during_a_hung_bind_write_ends_the_run_at_once(
    hung: str, signum: int, lab: Path, tmp_path: Path
) -> None:
    """The kernel never answers a bind write. Ctrl-C, SIGTERM or the terminal closing ends the wait at
    once; the device is given back and the run ends with 130. Before: the signal waited for the
    write's own 60 s, and the run ended at 61 s with exit 5."""
    env, tmp = fresh_tmpdir(tmp_path)
    fifo(lab / HUNG_BIND_WRITES[hung])
    name = f"xpu-hung-{hung}-{signum}-{os.getpid()}"
    proc, stderr, took = signalled_during_a_hung_write(xpu_vm_run(lab, env, name), env, signum)
    assert proc.returncode == 130 and "Traceback" not in stderr, stderr
    assert took < 3, f"the run ended {took:.1f} s after the signal"
    assert stderr.splitlines()[-1] == "xpu: interrupted", stderr
    assert driver_restored(lab)
    if hung == "i915-unbind":
        assert not (lab / "sys/bus/pci/drivers_probe").read_text().strip(), "interrupted before the probe"
    assert list(tmp.iterdir()) == [] and qemu_processes(name) == [] and helpers_of(lab) == []


def test_a_signal_when_the_give_back_hangs_too_prints_the_commands(lab: Path, tmp_path: Path) -> None:
    """The bind write and the give-back's i915 bind both hang: the give-back ends at its own bound and
    prints what is left as commands to run by hand (they work as printed); exit 130."""
    env, tmp = fresh_tmpdir(tmp_path)
    fifo(lab / "sys/bus/pci/drivers_probe")
    bind = fifo(lab / "sys/bus/pci/drivers/i915/bind")
    name = f"xpu-hung-give-back-{os.getpid()}"
    proc, stderr, took = signalled_during_a_hung_write(xpu_vm_run(lab, env, name), env, signal.SIGINT)
    assert proc.returncode == 130 and "Traceback" not in stderr, stderr
    assert GIVE_BACK - 0.5 < took < GIVE_BACK + 2, f"the run ended {took:.1f} s after the signal"
    lines = stderr.splitlines()
    first = lines.index("xpu: interrupted")
    assert lines[first + 1 :] == [
        (
            f"{DEVICE} was not given back to i915: writing '{DEVICE}' to /sys/bus/pci/drivers/i915/bind failed: "
            f"no answer within {GIVE_BACK:g} s; finish by hand, as root:"
        ),
        f"  printf %s {DEVICE} > {bind}",
    ], stderr
    assert (lab / f"sys/bus/pci/devices/{DEVICE}/driver_override").read_text() == "\n"  # the rest was given back
    bind.unlink()
    bind.touch()
    subprocess.run(["sh", "-c", lines[-1].strip()], check=True)
    assert driver_restored(lab)
    assert list(tmp.iterdir()) == [] and qemu_processes(name) == [] and helpers_of(lab) == []


@pytest.mark.parametrize("option, bound", [(["--sysfs-timeout", "1"], 1.0), ([], 10.0)], ids=["option", "default"])
def test_a_hung_bind_write_ends_at_the_sysfs_timeout(
    option: list[str], bound: float, lab: Path, tmp_path: Path
) -> None:
    """No signal: the wait ends at --sysfs-timeout (default 10 s), what was done is undone, exit 5.
    Before: 60 s, and no option to shorten it."""
    env, tmp = fresh_tmpdir(tmp_path)
    fifo(lab / "sys/bus/pci/drivers_probe")
    name = f"xpu-sysfs-timeout-{os.getpid()}"
    started = time.monotonic()
    run = subprocess.run(
        xpu_vm_run(lab, env, name, *option), capture_output=True, text=True, env=env, timeout=90, check=False
    )
    took = time.monotonic() - started
    assert run.returncode == Exit.VM_FAILED and "Traceback" not in run.stderr, run.stderr
    assert bound <= took < bound + 5, f"{took:.1f} s"
    assert run.stderr.splitlines()[-1] == (
        f"xpu: error: could not bind {DEVICE} to vfio-pci: writing '{DEVICE}' to /sys/bus/pci/drivers_probe failed: "
        f"no answer within {bound:g} s"
    )
    assert driver_restored(lab)
    assert list(tmp.iterdir()) == [] and qemu_processes(name) == [] and helpers_of(lab) == []


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf", "601"])
def test_a_sysfs_timeout_that_is_no_bound_is_refused_before_any_write(value: str, lab: Path, tmp_path: Path) -> None:
    env, tmp = fresh_tmpdir(tmp_path)
    run = subprocess.run(
        xpu_vm_run(lab, env, "xpu-sysfs-bad", "--sysfs-timeout", value),
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert (
        run.returncode == 2
        and run.stderr.startswith("xpu: error: --sysfs-timeout ")
        and "above 0 and at most 600" in run.stderr
        and len(run.stderr.splitlines()) == 1
    ), run.stderr
    assert (lab / f"sys/bus/pci/devices/{DEVICE}/driver_override").read_text() == "(null)\n"  # untouched
    assert list(tmp.iterdir()) == []


def test_a_failed_restore_keeps_the_error_and_gives_the_commands(lab: Path, tmp_path: Path) -> None:
    env, _ = fresh_tmpdir(tmp_path)
    bind = lab / "sys/bus/pci/drivers/i915/bind"
    bind.unlink()
    bind.mkdir()  # writing it fails (EISDIR)
    name = f"xpu-failed-restore-{os.getpid()}"
    run = subprocess.run(xpu_vm_run(lab, env, name), capture_output=True, text=True, env=env, timeout=60, check=False)
    assert run.returncode == Exit.VM_FAILED and "Traceback" not in run.stderr, run.stderr
    lines = run.stderr.splitlines()
    first = next(n for n, line in enumerate(lines) if line.startswith("xpu: error: "))
    assert lines[first].startswith(f"xpu: error: VM {name} did not boot")  # the original error, kept
    assert lines[-2] == (
        f"{DEVICE} was not given back to i915: writing '{DEVICE}' to /sys/bus/pci/drivers/i915/bind "
        "failed: Is a directory; finish by hand, as root:"
    )
    command = lines[-1].strip()
    bind.rmdir()
    bind.touch()
    subprocess.run(["sh", "-c", command], check=True)  # the command given works as printed
    assert driver_restored(lab)
    assert qemu_processes(name) == [] and helpers_of(lab) == []


@pytest.mark.parametrize(
    "layout, address, message",
    [
        (
            "iommu-off",
            DEVICE,
            f"xpu: error: {DEVICE} cannot be passed through: The IOMMU is off: no IOMMU groups -> "
            "enable VT-d in the firmware and boot with intel_iommu=on iommu=pt",
        ),
        ("dgpu-own-group", "zzzz", "xpu: error: argument --pci: 'zzzz' is not a PCI address"),
        ("dgpu-own-group", "../../../../tmp", "xpu: error: argument --pci: '../../../../tmp' is not a PCI address"),
        ("dgpu-own-group", "0000:0a:00.0", "xpu: error: no PCI device 0000:0a:00.0 on local://"),
    ],
)
def test_a_refused_device_is_one_line_and_leaves_nothing(
    layout: str, address: str, message: str, tmp_path: Path
) -> None:
    env, tmp = fresh_tmpdir(tmp_path)
    lab = machines.materialize(f"passthrough/{layout}", tmp_path / layout)
    argv = xpu_vm_run(lab, env, "xpu-refused")
    argv[argv.index(DEVICE)] = address
    run = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60, check=False)
    assert run.returncode == 2 and len(run.stderr.splitlines()) == 1, run.stderr
    assert run.stderr.startswith(message)
    assert list(tmp.iterdir()) == []
    assert (lab / f"sys/bus/pci/devices/{DEVICE}/driver_override").read_text() == "(null)\n"  # untouched
