"""Start, drive and stop QEMU virtual machines.

A VM boots either from a kernel + initrd + append line, or from a NixOS VM run script
(``system.build.vm``: extra devices go through QEMU_OPTS, forwards through QEMU_NET_OPTS). Host
ports for forwards are picked free at start. The serial console is logged whole. QEMU gets
SIGKILL if the Python process that started it dies, and a VM that does not shut down cleanly
is killed, so no QEMU outlives its owner.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from xpu_tool.deadline import Deadline, retry
from xpu_tool.transport.console import BackdoorShell, ConsoleError, SerialShell, connect_unix

from ..process import free_port, popen_tied
from .errors import VmFailure

KVM_DEVICE = "/dev/kvm"
KVM_GET_API_VERSION = 0xAE00  # _IO(KVMIO, 0x00)
KVM_API_VERSION = 12


class VmError(VmFailure):
    """The VM did not boot, died, or could not be started."""


def opt(value: object) -> str:
    """``value`` inside a QEMU option list (``-name``, ``-chardev``, ``-qmp``): a comma is doubled, so
    a name or a path (a TMPDIR) with one stays one value instead of starting another key."""
    return str(value).replace(",", ",,")


def qemu_binary() -> str:
    path = shutil.which("qemu-system-x86_64")
    if path is None:
        raise VmError("qemu-system-x86_64 is not installed (Debian: apt-get install qemu-system-x86)")
    return path


def kvm_device_problem(device: str = KVM_DEVICE) -> str | None:
    """Why ``device`` cannot serve KVM to this process, or None: it opens read-write and answers
    KVM_GET_API_VERSION with the version QEMU needs."""
    try:
        fd = os.open(device, os.O_RDWR | os.O_CLOEXEC)
    except OSError as exc:
        return f"{device}: {exc.strerror or exc}"
    try:
        version = fcntl.ioctl(fd, KVM_GET_API_VERSION)
    except OSError as exc:
        return f"{device} is not the KVM device ({exc.strerror or exc})"
    finally:
        os.close(fd)
    return None if version == KVM_API_VERSION else f"{device} speaks KVM API {version}, not {KVM_API_VERSION}"


@dataclass(frozen=True)
class KvmTrial:
    """A KVM guest started on trial: did its kernel print "Linux version", or did QEMU end first?"""

    booted: bool
    failed: str | None = None  # QEMU ended before the kernel spoke: its first message (None: it did not end)


def kvm_trial(kernel: Path, *, timeout: float = 20.0) -> KvmTrial:
    """Start ``kernel`` under KVM for at most ``timeout`` seconds (QEMU is killed after it)."""
    argv = [
        qemu_binary(),
        "-machine",
        "accel=kvm",
        "-cpu",
        "host",
        "-m",
        "256",
        "-display",
        "none",
        "-vga",
        "none",
        "-serial",
        "stdio",
        "-no-reboot",
        "-kernel",
        str(kernel),
        "-append",
        "console=ttyS0 panic=-1",
    ]
    try:
        proc = popen_tied(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    except OSError as exc:
        return KvmTrial(False, f"cannot start {argv[0]}: {exc.strerror or exc}")
    seen = bytearray()
    out = proc.stdout
    assert out is not None  # stdout=PIPE

    def booted_or_ended() -> tuple[bool, bool]:  # (the kernel printed its banner or QEMU ended, ended)
        while chunk := out.read(4096):
            seen.extend(chunk)
        if b"Linux version" in seen:
            return True, False
        ended = proc.poll() is not None
        return ended, ended

    try:
        os.set_blocking(out.fileno(), False)
        _, ended = retry(booted_or_ended, Deadline.after(timeout), interval=0.1)
    finally:
        proc.kill()
        proc.wait()
    if b"Linux version" in seen:
        return KvmTrial(True)
    if not ended:
        return KvmTrial(False)
    lines = [line.strip() for line in seen.decode(errors="replace").splitlines() if line.strip()]
    said = next((line for line in lines if line.startswith("qemu")), lines[-1] if lines else "")
    return KvmTrial(False, said[:200] or f"exit status {proc.returncode}")


def detect_accel(kernel: Path, *, timeout: float = 20.0) -> str:
    """'kvm' if a KVM guest really starts here, else 'tcg'. XPU_QEMU_ACCEL overrides.

    Decided by trying: /dev/kvm can exist while KVM is broken (QEMU 7.2 here aborts with
    `-cpu host` in kvm_buf_set_msrs, and `-cpu kvm64` hangs after "Booting from ROM").
    """
    forced = os.environ.get("XPU_QEMU_ACCEL")
    if forced in ("kvm", "tcg"):
        return forced
    if kvm_device_problem() is not None:
        return "tcg"
    return "kvm" if kvm_trial(kernel, timeout=timeout).booted else "tcg"


@dataclass
class VmSpec:
    """What to boot and how."""

    name: str = "xpu-vm"
    kernel: Path | None = None
    initrd: Path | None = None
    append: str = ""
    run_script: Path | None = None  # NixOS system.build.vm's bin/run-*-vm
    memory_mb: int = 512
    cpus: int = 1
    forwards: tuple[int, ...] = ()  # guest TCP ports to forward from free host ports
    backdoor: bool = True  # a virtconsole socket with a NixOS-style backdoor shell
    serial: bool = True  # the serial console on a socket (login protocol) and logged
    boot_timeout: float = 60.0
    accel: str = "tcg"
    extra_args: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if (self.run_script is None) == (self.kernel is None):
            raise VmError("give either a kernel (with initrd and append) or a NixOS VM run script")


@dataclass
class QemuVM:
    """One running VM. Use as a context manager: it is always stopped on exit."""

    spec: VmSpec
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="xpu-vm-")))
    ports: dict[int, int] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    backdoor: BackdoorShell | None = None
    serial: SerialShell | None = None

    @property
    def console_log(self) -> Path:
        return self.workdir / "console.log"

    @property
    def shell_socket(self) -> Path:
        return self.workdir / "shell.sock"

    @property
    def serial_socket(self) -> Path:
        return self.workdir / "serial.sock"

    @property
    def qmp_socket(self) -> Path:
        return self.workdir / "qmp.sock"

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def console_tail(self, lines: int = 30) -> str:
        try:
            text = self.console_log.read_text(errors="replace")
        except OSError:
            return "(no console log)"
        return "\n".join(text.replace("\r", "").splitlines()[-lines:])

    def _device_args(self) -> list[str]:
        args = ["-name", opt(self.spec.name), "-qmp", f"unix:{opt(self.qmp_socket)},server=on,wait=off"]
        if self.spec.backdoor:
            args += [
                "-chardev",
                f"socket,id=shell,path={opt(self.shell_socket)},server=on,wait=off",
                "-device",
                "virtio-serial",
                "-device",
                "virtconsole,chardev=shell",
            ]
        return args

    def _hostfwd(self) -> str:
        return ",".join(f"hostfwd=tcp:127.0.0.1:{host}-:{guest}" for guest, host in self.ports.items())

    def argv_and_env(self) -> tuple[list[str], dict[str, str]]:
        spec = self.spec
        env = dict(os.environ)
        if spec.run_script is not None:
            env["QEMU_OPTS"] = " ".join([*self._device_args(), *spec.extra_args, env.get("QEMU_OPTS", "")]).strip()
            env["QEMU_NET_OPTS"] = ",".join(filter(None, [self._hostfwd(), env.get("QEMU_NET_OPTS", "")]))
            env.setdefault("NIX_DISK_IMAGE", str(self.workdir / f"{spec.name}.qcow2"))
            env["TMPDIR"] = str(self.workdir)
            return [str(spec.run_script)], env
        accel = (
            ["-machine", "accel=kvm", "-cpu", "host"]
            if spec.accel == "kvm"
            else ["-machine", "accel=tcg", "-cpu", "max"]
        )
        argv = [
            qemu_binary(),
            *accel,
            "-m",
            str(spec.memory_mb),
            "-smp",
            str(spec.cpus),
            "-display",
            "none",
            "-vga",
            "none",
            "-no-reboot",
            *self._device_args(),
        ]
        if spec.serial:
            argv += [
                "-chardev",
                f"socket,id=ser0,path={opt(self.serial_socket)},server=on,wait=off,"
                f"logfile={opt(self.console_log)},logappend=on",
                "-serial",
                "chardev:ser0",
            ]
        else:
            argv += ["-serial", f"file:{opt(self.console_log)}"]
        fwd = self._hostfwd()
        argv += ["-netdev", "user,id=net0" + (f",{fwd}" if fwd else ""), "-device", "virtio-net-pci,netdev=net0"]
        argv += ["-kernel", str(spec.kernel), "-append", spec.append]
        if spec.initrd is not None:
            argv += ["-initrd", str(spec.initrd)]
        return argv + list(spec.extra_args), env

    def start(self) -> QemuVM:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.ports = {guest: free_port() for guest in self.spec.forwards}
        argv, env = self.argv_and_env()
        (self.workdir / "argv.json").write_text(json.dumps(argv))
        # A NixOS run script prints the serial console on its stdout (graphics off).
        with contextlib.ExitStack() as files:
            stdout = (
                files.enter_context(open(self.console_log, "ab"))
                if self.spec.run_script is not None
                else subprocess.DEVNULL
            )
            stderr = files.enter_context(open(self.workdir / "qemu.stderr", "wb"))
            try:
                self.process = popen_tied(
                    argv,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=stdout,
                    stderr=stderr,
                    cwd=self.workdir,
                )
            except OSError as exc:
                raise VmError(f"could not start {argv[0]}: {exc.strerror}") from None
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        deadline = Deadline.after(self.spec.boot_timeout)
        try:
            if self.spec.backdoor:
                sock = connect_unix(str(self.shell_socket), self.spec.boot_timeout, self.alive)
                self.backdoor = BackdoorShell(sock, self.alive)
                self.backdoor.wait_ready(max(1.0, deadline.left()))
            if self.spec.serial and self.spec.run_script is None:
                sock = connect_unix(str(self.serial_socket), max(1.0, deadline.left()), self.alive)
                self.serial = SerialShell(sock, self.alive)
        except ConsoleError as exc:
            raise self._boot_error(str(exc)) from None

    def _boot_error(self, why: str) -> VmError:
        time.sleep(0.2)  # let QEMU flush the console log
        state = (
            f"QEMU exited with {self.process.returncode}"
            if self.process and self.process.poll() is not None
            else "QEMU still running"
        )
        err = ""
        with contextlib.suppress(OSError):
            err = (self.workdir / "qemu.stderr").read_text(errors="replace").strip()
        detail = f"; qemu: {err.splitlines()[-1]}" if err else ""
        panic = next((line.strip() for line in self.console_tail(400).splitlines() if "Kernel panic" in line), None)
        if panic:
            detail += f"; guest: {panic[panic.index('Kernel panic') :]}"
        tail = self.console_tail()
        return VmError(
            f"VM {self.spec.name} did not boot: {why} ({state}{detail}); console log {self.console_log}"
            + (f":\n{tail}" if tail.strip() else " (empty)")
        )

    def _qmp(self, command: str, timeout: float = 5.0) -> bool:
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.settimeout(timeout)
                s.connect(str(self.qmp_socket))
                f = s.makefile("rwb")
                f.readline()  # greeting
                for cmd in ("qmp_capabilities", command):
                    f.write(json.dumps({"execute": cmd}).encode() + b"\n")
                    f.flush()
                    f.readline()
            return True
        except OSError:
            return False

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the VM: QMP quit, then SIGKILL if it is still there (or the wait is interrupted). Safe to call twice."""
        for shell in (self.backdoor, self.serial):
            if shell is not None:
                shell.close()
        proc = self.process
        if proc is None or proc.poll() is not None:
            return
        try:
            self._qmp("quit")
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass
        finally:  # also when a second Ctrl-C cuts the polite way short
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    def __enter__(self) -> QemuVM:
        return self.start() if self.process is None else self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        self.stop()
        if exc_type is None:  # after an error the workdir stays: the error names its console log
            shutil.rmtree(self.workdir, ignore_errors=True)
