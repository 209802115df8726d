"""Real VMs under QEMU: the test guest (Debian's cloud kernel + busybox) driven through the NixOS
backdoor protocol and a serial login, port forwarding, the foundation's probes inside, and faults.
Every test asserts that no QEMU process it started is left behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from xpu_testkit.vm.attach import Terminal, attach
from xpu_testkit.vm.guest import ROOT_PASSWORD, GuestImage
from xpu_testkit.vm.qemu import VmError, detect_accel
from xpu_tool.doctor import run_doctor
from xpu_tool.model import Status
from xpu_tool.probes.context import ProbeContext
from xpu_tool.target import Target, console_target
from xpu_tool.transport.console import BackdoorShell, ConsoleError, open_console

from .xpu_command import run_xpu

pytestmark = pytest.mark.xpu_boots_vm


def vm_run_args(guest: GuestImage, accel: str, name: str, *command: str) -> list[str]:
    """`xpu vm run` of the test guest (its kernel, initrd and command line) running ``command``."""
    return [
        "vm",
        "run",
        "--kernel",
        str(guest.kernel),
        "--initrd",
        str(guest.initrd),
        "--append",
        guest.append,
        "--accel",
        accel,
        "--name",
        name,
        "--",
        *command,
    ]


def qemu_processes(name: str) -> list[int]:
    """PIDs of QEMU processes started with `-name NAME`."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and b"qemu-system" in argv[0] and name.encode() in argv:
            pids.append(int(entry.name))
    return pids


def check_probes_inside(t: Target) -> None:
    report = run_doctor(ProbeContext(t, timeout=30))
    assert report.probe("pci").status is Status.ABSENT  # QEMU with -vga none: no display device at all
    assert report.probe("level-zero").status is Status.WARN  # busybox guest: no xpu, no python3
    assert report.probe("level-zero").data["ran"] is False
    assert report.probe("opencl").status is Status.ABSENT
    assert report.finding("no-intel-gpu") is not None and not report.usable


def check_attach_in_line_mode(shell: BackdoorShell) -> None:
    """`xpu vm shell` on a backdoor (no terminal in the guest): Enter's CR reaches bash as LF."""
    keys_r, keys_w = os.pipe()
    screen_r, screen_w = os.pipe()
    os.write(keys_w, b"echo $((6 * 7))\r")
    os.close(keys_w)
    try:
        ended = attach(shell.sock, Terminal(keys_r, screen_w), line_mode=True, quiet=1.0)
        os.close(screen_w)
        assert ended == "input ended"
        assert os.read(screen_r, 4096) == b"42\n"
    finally:
        os.close(keys_r)
        os.close(screen_r)


def test_backdoor_protocol(xpu_vm) -> None:
    started = time.monotonic()
    vm = xpu_vm(forwards=(8080,))
    name = vm.spec.name
    t = console_target(vm.backdoor, f"backdoor:{name}")
    assert t.succeed("echo inside") == "inside\n"  # the verbs on every transport: test_target_contract.py
    check_probes_inside(t)
    assert requests.get(f"http://127.0.0.1:{vm.ports[8080]}/", timeout=10).text == "xpu-guest http ok\n"
    check_attach_in_line_mode(vm.backdoor)
    vm.backdoor.close()  # free the socket: as a console target URL it is opened afresh and must answer
    again = open_console(f"backdoor://{vm.shell_socket}?timeout=10")
    assert again.run("echo $((6 * 7))").stdout == b"42\n"
    again.close()
    vm.stop()
    assert time.monotonic() - started < 30, "boot + checks + shutdown must stay under 30 s"
    assert qemu_processes(name) == []


def test_serial_login_protocol(xpu_vm) -> None:
    vm = xpu_vm()
    vm.serial.password = ROOT_PASSWORD
    vm.serial.login(30)
    t = console_target(vm.serial, f"serial:{vm.spec.name}")
    assert t.succeed("echo inside") == "inside\n"  # the verbs on every transport: test_target_contract.py
    # a kernel message printed on the serial console in the middle of the command's output
    noisy = t.run("echo a; echo '<2>xpu: a kernel message on the console' > /dev/kmsg; sleep 0.3; echo b")
    assert noisy.stdout == "a\nb\n"
    assert "xpu: a kernel message on the console" in vm.console_log.read_text(errors="replace")
    check_probes_inside(t)
    vm.serial.close()
    again = open_console(f"serial://{vm.serial_socket}?user=root&password={ROOT_PASSWORD}&timeout=20")
    assert again.run("echo $((6 * 7))").stdout == b"42\n"
    again.close()
    vm.stop()
    assert qemu_processes(vm.spec.name) == []


def test_wrong_password_is_reported(xpu_vm) -> None:
    vm = xpu_vm()
    vm.serial.password = "not-the-password"
    with pytest.raises(ConsoleError, match="no login prompt or shell"):
        vm.serial.login(8)


def test_two_vms_get_their_own_ports(xpu_vm) -> None:
    a, b = xpu_vm(forwards=(8080,)), xpu_vm(forwards=(8080,))
    assert a.ports[8080] != b.ports[8080]
    for vm in (a, b):
        assert requests.get(f"http://127.0.0.1:{vm.ports[8080]}/", timeout=10).ok


def test_kernel_panic_is_a_clear_boot_error(xpu_vm) -> None:
    with pytest.raises(VmError) as err:
        xpu_vm(extra_append="xpu.mode=panic", boot_timeout=30)
    message = str(err.value)
    assert "did not boot" in message and "QEMU exited" in message
    assert "Kernel panic" in message  # the console log's tail is in the error
    assert qemu_processes(err.value.args[0].split()[1]) == []


def test_guest_without_a_shell_times_out(xpu_vm) -> None:
    with pytest.raises(VmError) as err:
        xpu_vm(extra_append="xpu.mode=noshell", boot_timeout=8)
    message = str(err.value)
    assert "no backdoor shell within" in message and "offering no shell" in message
    assert qemu_processes(message.split()[1]) == []


def test_qemu_killed_from_outside(xpu_vm) -> None:
    vm = xpu_vm()
    t = console_target(vm.backdoor, vm.spec.name)
    assert vm.process is not None
    os.kill(vm.process.pid, signal.SIGKILL)
    vm.process.wait(10)
    with pytest.raises(ConsoleError, match=r"console closed|the VM stopped"):
        t.run("echo hello")
    assert qemu_processes(vm.spec.name) == []


def test_sigint_during_a_run_leaves_no_qemu(xpu_guest, xpu_accel, tmp_path: Path) -> None:
    name = f"xpu-sigint-{os.getpid()}"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "xpu_tool",
            *vm_run_args(xpu_guest, xpu_accel, name, "sh", "-c", "echo started; sleep 120"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "TMPDIR": str(tmp_path)},
    )
    try:
        deadline = time.monotonic() + 60
        while not qemu_processes(name) and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(6)  # booted and inside the command
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130
    assert stderr.strip().splitlines()[-1] == "xpu: interrupted"
    assert qemu_processes(name) == [] and list(tmp_path.iterdir()) == []  # nor its xpu-vm-* directory


def test_vm_run_passes_each_word_as_given(xpu_guest, xpu_accel, tmp_path: Path) -> None:
    """`xpu vm run -- printf ...`: the guest's shell gets each word unchanged (spaces, quotes, $)."""
    run = run_xpu(
        *vm_run_args(
            xpu_guest,
            xpu_accel,
            f"xpu-words-{os.getpid()}",
            "printf",
            "%s|",
            "a  b",
            "c'd",
            "$HOME",
            "*",
        ),
        env={**os.environ, "TMPDIR": str(tmp_path)},
        timeout=180,
    )
    assert (run.returncode, run.stdout) == (0, "a  b|c'd|$HOME|*|"), run.stderr


def test_accel_override(xpu_guest, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XPU_QEMU_ACCEL", "tcg")
    assert detect_accel(xpu_guest.kernel) == "tcg"


def test_accel_detection_falls_back_to_tcg_without_kvm(xpu_guest, xpu_accel) -> None:
    """The session's choice boots (every VM test uses it); without /dev/kvm access it must be tcg."""
    assert xpu_accel in ("kvm", "tcg")
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        assert xpu_accel == "tcg"


def test_failing_vm_test_gets_the_console_log(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        def test_fails_with_a_vm(xpu_vm):
            vm = xpu_vm()
            assert vm.backdoor.run("echo inside").stdout == b"inside\\n"
            assert False, "deliberate failure"
    """)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*console log of VM xpu-test-*", "*xpu-guest: booted*"])


def test_vm_boot_then_doctor_through_the_backdoor_url(xpu_guest, xpu_accel) -> None:
    """`xpu vm boot` keeps a VM up; `xpu doctor --target backdoor:///...` probes it from outside."""
    name = f"xpu-boot-{os.getpid()}"
    boot = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "xpu_tool",
            "vm",
            "boot",
            "--kernel",
            str(xpu_guest.kernel),
            "--initrd",
            str(xpu_guest.initrd),
            "--append",
            xpu_guest.append,
            "--accel",
            xpu_accel,
            "--name",
            name,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = None
        assert boot.stderr is not None
        for line in boot.stderr:
            if "--target backdoor://" in line:
                url = line.split("--target ", 1)[1].strip()
            if "running; Ctrl-C stops it" in line:
                break
        assert url is not None
        doctor = run_xpu("doctor", "--json", "--target", url)
        assert doctor.returncode == 1, doctor.stderr
        [report] = json.loads(doctor.stdout)["reports"]
        assert report["target"] == url
        assert {p["probe"]: p["status"] for p in report["probes"]}["pci"] == "absent"
        boot.send_signal(signal.SIGTERM)
        assert boot.wait(60) == 130
    finally:
        boot.kill()
    assert qemu_processes(name) == []
