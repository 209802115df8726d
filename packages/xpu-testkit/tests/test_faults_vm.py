"""`xpu vm boot|run|shell` as a user runs them (`xpu` in a subprocess, real QEMU, the busybox test
guest): however a run ends (Ctrl-C, SIGTERM, the terminal closing, a refusal before boot), no
QEMU and no `xpu-vm-*` directory is left; a VM that failed keeps its directory and one line names
it. `xpu vm shell` is an interactive session on the guest's console, driven through a pty."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pexpect
import pytest

from xpu_testkit.vm.guest import GuestImage
from xpu_tool.cli.exit_codes import Exit

from .faults import fresh_tmpdir
from .test_vm import qemu_processes
from .xpu_command import run_xpu

pytestmark = pytest.mark.xpu_boots_vm


def xpu_vm(verb: str, guest: GuestImage, accel: str, name: str, *extra: str, append: str = "") -> list[str]:
    return [
        sys.executable,
        "-m",
        "xpu_tool",
        "vm",
        verb,
        "--kernel",
        str(guest.kernel),
        "--initrd",
        str(guest.initrd),
        "--append",
        f"{guest.append} {append}".strip(),
        "--accel",
        accel,
        "--name",
        name,
        *extra,
    ]


def wait_for_qemu(name: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not qemu_processes(name):
        assert time.monotonic() < deadline, f"QEMU {name} never started"
        time.sleep(0.1)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=["INT", "TERM", "HUP"])
def test_vm_boot_stopped_by_a_signal_leaves_nothing(signum: int, xpu_guest, xpu_accel, tmp_path: Path) -> None:
    """Ctrl-C and SIGTERM are the documented ways to stop `xpu vm boot`; SIGHUP is its terminal closing."""
    env, tmp = fresh_tmpdir(tmp_path)
    name = f"xpu-boot-{signum}-{os.getpid()}"
    proc = subprocess.Popen(
        xpu_vm("boot", xpu_guest, xpu_accel, name),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            if "running; Ctrl-C stops it" in line:
                break
        assert len(list(tmp.iterdir())) == 1  # the VM's directory, while it runs
        proc.send_signal(signum)
        _, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130 and stderr.splitlines() == ["xpu: interrupted"], stderr
    assert list(tmp.iterdir()) == [] and qemu_processes(name) == []


def test_vm_run_stopped_while_booting_leaves_nothing(xpu_guest, xpu_accel, tmp_path: Path) -> None:
    env, tmp = fresh_tmpdir(tmp_path)
    name = f"xpu-early-{os.getpid()}"
    proc = subprocess.Popen(
        xpu_vm("run", xpu_guest, xpu_accel, name, "--", "true"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        wait_for_qemu(name)
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130 and stderr.splitlines()[-1] == "xpu: interrupted", stderr
    assert list(tmp.iterdir()) == [] and qemu_processes(name) == []


def test_a_vm_that_failed_keeps_its_directory_and_names_it(xpu_guest, xpu_accel, tmp_path: Path) -> None:
    env, tmp = fresh_tmpdir(tmp_path)
    name = f"xpu-panic-{os.getpid()}"
    run = subprocess.run(
        xpu_vm("run", xpu_guest, xpu_accel, name, "--boot-timeout", "30", "--", "true", append="xpu.mode=panic"),
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert run.returncode == Exit.VM_FAILED and "Traceback" not in run.stderr, run.stderr
    [workdir] = tmp.iterdir()
    assert f"xpu vm: kept {workdir} (the VM's console log and QEMU's messages)" in run.stderr.splitlines()
    assert "Kernel panic" in (workdir / "console.log").read_text(errors="replace")
    assert qemu_processes(name) == []


@pytest.mark.parametrize("verb", ["run", "boot"])
def test_a_vm_that_failed_silently_keeps_the_log_its_error_names(
    verb: str, xpu_guest, xpu_accel, tmp_path: Path
) -> None:
    """A guest that prints nothing on the serial console (its console is tty0) and offers no shell:
    the error names the empty console log, so that file is still there when the command has ended."""
    env, tmp = fresh_tmpdir(tmp_path)
    name = f"xpu-silent-{verb}-{os.getpid()}"
    argv = xpu_vm(verb, xpu_guest, xpu_accel, name, "--boot-timeout", "5", *(["--", "true"] if verb == "run" else []))
    argv[argv.index("--append") + 1] = "console=tty0 quiet panic=-1 xpu.mode=noshell"
    run = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120, check=False)
    assert run.returncode == Exit.VM_FAILED and "Traceback" not in run.stderr, run.stderr
    error = next(line for line in run.stderr.splitlines() if line.startswith("xpu: error: "))
    assert error.startswith(f"xpu: error: VM {name} did not boot: no backdoor shell within 5 s") and error.endswith(
        "/console.log (empty)"
    ), error
    log = Path(error.removesuffix(" (empty)").rsplit(" ", 1)[1])
    assert log.is_file() and log.stat().st_size == 0
    assert f"xpu vm: kept {log.parent} (the VM's console log and QEMU's messages)" in run.stderr.splitlines()
    assert list(tmp.iterdir()) == [log.parent] and qemu_processes(name) == []


def test_a_working_directory_with_a_comma_boots(xpu_guest, xpu_accel, tmp_path: Path) -> None:
    """QEMU reads `-chardev` and `-qmp` values as key=value lists: the VM's sockets below a TMPDIR with
    a comma reach it escaped (`,,`). Before: QEMU refused the socket path and the boot failed (exit 5)."""
    tmp = tmp_path / "a,b"
    tmp.mkdir()
    name = f"xpu-comma-{os.getpid()}"
    run = subprocess.run(
        xpu_vm("run", xpu_guest, xpu_accel, name, "--", "echo", "booted"),
        capture_output=True,
        text=True,
        env={**os.environ, "TMPDIR": str(tmp)},
        timeout=120,
        check=False,
    )
    assert run.returncode == 0 and run.stdout == "booted\n", run.stderr
    assert list(tmp.iterdir()) == [] and qemu_processes(name) == []


@pytest.mark.parametrize("mode, message", [(0o644, "not an executable file"), (None, "no such file")])
def test_a_run_script_refused_before_boot_leaves_nothing(mode: int | None, message: str, tmp_path: Path) -> None:
    env, tmp = fresh_tmpdir(tmp_path)
    script = tmp_path / "run-xpu-vm"
    if mode is not None:
        script.write_text("#!/bin/sh\nexit 0\n")
        script.chmod(mode)
    run = run_xpu("vm", "boot", "--run-script", str(script), env=env, timeout=60)
    assert run.returncode == 2 and run.stderr == f"xpu: error: {script}: {message}\n"
    assert list(tmp.iterdir()) == []


def test_vm_shell_is_an_interactive_session(xpu_guest, xpu_accel, tmp_path: Path) -> None:
    """Log in on the serial console, run a command, read its output, detach with Ctrl-]."""
    env, tmp = fresh_tmpdir(tmp_path)
    name = f"xpu-shell-{os.getpid()}"
    argv = xpu_vm("shell", xpu_guest, xpu_accel, name)
    argv[argv.index("--kernel") : argv.index("--accel")] = ["--debian-guest"]  # it knows the guest's root password
    child = pexpect.spawn(argv[0], argv[1:], env=env, timeout=90, encoding="utf-8", codec_errors="replace")
    try:
        child.expect_exact("xpu vm: attached; Ctrl-] detaches and stops the VM")
        child.send("echo xpu-$((6 * 7)) $(hostname)\r")
        child.expect_exact("xpu-42 xpu-guest")  # computed in the guest: the echoed line shows $((6 * 7))
        child.send("tty\r")
        child.expect_exact("/dev/ttyS0")
        child.sendcontrol("]")
        child.expect_exact(f"xpu vm: detached; stopping {name}")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0
    assert list(tmp.iterdir()) == [] and qemu_processes(name) == []


def test_vm_shell_whose_terminal_closes_leaves_nothing(xpu_guest, xpu_accel, tmp_path: Path) -> None:
    env, tmp = fresh_tmpdir(tmp_path)
    name = f"xpu-hangup-{os.getpid()}"
    child = pexpect.spawn(
        sys.executable,
        xpu_vm("shell", xpu_guest, xpu_accel, name)[1:],
        env=env,
        timeout=90,
        encoding="utf-8",
        codec_errors="replace",
    )
    try:
        child.expect_exact("xpu vm: attached")
        child.expect_exact("login: ")  # the guest's own login prompt, for the user to answer
        assert qemu_processes(name)
    finally:
        child.close()  # the terminal goes away: SIGHUP
    deadline = time.monotonic() + 30
    while (qemu_processes(name) or any(tmp.iterdir())) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert list(tmp.iterdir()) == [] and qemu_processes(name) == []
