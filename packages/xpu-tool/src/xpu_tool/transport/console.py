"""Shells on a VM's consoles, driven with pexpect, and a testinfra backend on top of them.

Two protocols:

* ``BackdoorShell``: the NixOS test-instrumentation backdoor, a raw root bash on a virtio console
  (no prompt, no echo). Like nixpkgs' test driver, each command runs under ``timeout`` with its
  stdout base64-framed on one line and the exit code read from ``${PIPESTATUS[0]}``; stderr goes
  to a file that is framed the same way, so the two stay apart.
* ``SerialShell``: a login on a serial console (ttyS0) of a VM without instrumentation. It logs
  in (sending a newline when the console is silent), then frames every command with random
  markers split by quoting (``'XPU''_B_...'``), so the echoed command line never matches, as
  labgrid's ShellDriver does. Output is base64-encoded in the guest, so binary output and CR/LF
  translation are harmless, and kernel messages interleaved on the console are dropped.
"""

from __future__ import annotations

import base64
import contextlib
import math
import re
import secrets
import shlex
import socket
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pexpect
import pexpect.fdpexpect
from testinfra.backend.base import BaseBackend, CommandResult

from ..deadline import Deadline, retry
from ..errors import ConfigError, XpuError

READY_LINE = b"Spawning backdoor root shell..."
# printk lines as the serial console shows them, possibly in the middle of our output
KERNEL_MESSAGE = re.compile(rb"\r?\n?\[\s*\d+\.\d+\][^\r\n]*\r?\n")
SERIAL_CHUNK = 768  # bytes of base64 per line sent to a tty (canonical mode holds 4095 per line)
MAX_TIMEOUT = 86400.0  # a day: anything longer is a typo
COMMAND_GRACE = 15.0  # seconds a command may take past its own timeout to reach us (the target kills it at the timeout)


class ConsoleError(XpuError):
    """The console stopped answering: the VM died, hung, or the shell never came."""


@dataclass(frozen=True)
class ShellResult:
    rc: int
    stdout: bytes
    stderr: bytes


def connect_unix(path: str, timeout: float, alive: Callable[[], bool] = lambda: True) -> socket.socket:
    """Connect to a chardev socket QEMU serves, waiting until it exists (or QEMU has stopped)."""
    never = f"console socket {path} never accepted a connection"

    def attempt() -> tuple[bool, socket.socket | None]:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(path)
        except OSError:
            sock.close()
            if not alive():
                raise ConsoleError(never) from None
            return False, None
        return True, sock

    _, connected = retry(attempt, Deadline.after(timeout), interval=0.05)
    if connected is None:
        raise ConsoleError(never)
    return connected


def check_timeout(timeout: float) -> float:
    """A console wait must be a finite number of seconds, above 0 and at most an hour."""
    if not (isinstance(timeout, (int, float)) and math.isfinite(timeout) and 0 < timeout <= MAX_TIMEOUT):
        raise ConsoleError(f"a console timeout must be seconds above 0 and at most {MAX_TIMEOUT:g}, not {timeout!r}")
    return float(timeout)


@dataclass(frozen=True)
class ConsoleUrl:
    """``backdoor:///path/shell.sock`` or ``serial:///path/serial.sock?user=root&password=...&timeout=30``."""

    scheme: str
    path: str
    user: str = "root"
    password: str | None = None
    timeout: float = 30.0  # for the login (serial) or the first answer (backdoor)

    @property
    def name(self) -> str:
        """How messages name the console: never with its password."""
        return f"{self.scheme}://{self.path}"


def parse_console_url(url: str, default_timeout: float = 30.0) -> ConsoleUrl:
    """Parse and check a console target URL; ConfigError (one line, no password) if it is wrong.

    Its timeout is the URL's ``timeout=`` when given, else ``default_timeout`` (e.g. the CLI's --timeout)."""
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme not in ("backdoor", "serial"):
        raise ConfigError(f"{parsed.scheme}:// is not a console scheme (backdoor://, serial://)")
    if not parsed.path or parsed.netloc:
        raise ConfigError(
            f"target {parsed.scheme}://{parsed.netloc}{parsed.path} names no socket: "
            f"use {parsed.scheme}:///path/to/console.sock"
        )
    try:
        query = dict(urllib.parse.parse_qsl(parsed.query, keep_blank_values=True, strict_parsing=bool(parsed.query)))
    except ValueError:
        raise ConfigError(
            f"target {parsed.scheme}://{parsed.path}: malformed query (use ?user=...&password=...&timeout=...)"
        ) from None
    known = {"user", "password", "timeout"} if parsed.scheme == "serial" else {"timeout"}
    unknown = sorted(set(query) - known)
    if unknown:
        raise ConfigError(
            f"target {parsed.scheme}://{parsed.path}: unknown option {unknown[0][:40]!r} "
            f"(known: {', '.join(sorted(known))})"
        )
    timeout = min(default_timeout, MAX_TIMEOUT)
    if "timeout" in query:
        try:
            timeout = check_timeout(float(query["timeout"]))
        except (ValueError, ConsoleError):
            raise ConfigError(
                f"target {parsed.scheme}://{parsed.path}: timeout={query['timeout'][:40]!r} is not a "
                f"number of seconds above 0 and at most {MAX_TIMEOUT:g}"
            ) from None
    return ConsoleUrl(parsed.scheme, parsed.path, query.get("user") or "root", query.get("password"), timeout)


class _Shell:
    def __init__(self, sock: socket.socket, alive: Callable[[], bool] = lambda: True) -> None:
        self.sock = sock
        self.alive = alive
        self.pexpect = pexpect.fdpexpect.fdspawn(sock.fileno(), timeout=30)

    def close(self) -> None:
        with contextlib.suppress(OSError):  # already closed: the VM went away first
            self.sock.close()

    def _before(self) -> bytes:
        """What pexpect read before its last match (bytes: the console is spawned without an encoding)."""
        before = self.pexpect.before
        return before if isinstance(before, bytes) else b""

    def send(self, data: bytes) -> None:
        try:
            self.pexpect.send(data)
        except OSError:
            raise ConsoleError("console closed while sending a command (the VM stopped)") from None

    def _expect(self, pattern: Any, deadline: Deadline, what: str) -> int:
        """Wait for ``pattern`` until ``deadline`` (one deadline may cover several waits: a command's
        output, its exit code and its stderr)."""
        try:
            return self.pexpect.expect(pattern, timeout=max(0.01, deadline.left()))
        except (pexpect.EOF, OSError):  # OSError: the peer reset the connection (QEMU died)
            raise ConsoleError(f"console closed while waiting for {what} (the VM stopped)") from None
        except pexpect.TIMEOUT:
            state = "" if self.alive() else " (the VM stopped)"
            raise ConsoleError(f"no {what} within {deadline.seconds:.0f} s{state}") from None


class BackdoorShell(_Shell):
    """The NixOS backdoor: raw bash on a virtio console."""

    def wait_ready(self, timeout: float) -> None:
        self._expect(re.escape(READY_LINE) + rb"\r?\n", Deadline.after(timeout), "backdoor shell")

    def ping(self, timeout: float) -> None:
        """Check that a shell answers on this console (one already spawned, e.g. by `xpu vm boot`)."""
        token = secrets.token_hex(4)
        self.send(f"echo 'XPU''_PING_{token}'\n".encode())
        self._expect(f"XPU_PING_{token}\r?\n".encode(), Deadline.after(timeout), "answer from a backdoor shell")

    def run(self, command: str, timeout: float = 900) -> ShellResult:
        secs = max(1, round(timeout))
        line = (
            f"timeout -k 5 {secs} bash -c {shlex.quote(command)} 2>/tmp/.xpu-stderr"
            f" | (base64 -w 0; echo); echo ${{PIPESTATUS[0]}}; base64 -w 0 /tmp/.xpu-stderr; echo\n"
        )
        self.send(line.encode())
        fields = []
        deadline = Deadline.after(timeout + COMMAND_GRACE)  # one deadline over the three answers
        for what in ("stdout", "exit code", "stderr"):
            self._expect(b"\n", deadline, f"{what} of a command from the backdoor shell")
            fields.append(self._before().strip())
        rc = int(fields[1] or b"-1")
        return ShellResult(rc, base64.b64decode(fields[0]), base64.b64decode(fields[2]))


class SerialShell(_Shell):
    """A login shell on a serial console."""

    def __init__(
        self,
        sock: socket.socket,
        alive: Callable[[], bool] = lambda: True,
        *,
        user: str = "root",
        password: str | None = None,
    ) -> None:
        super().__init__(sock, alive)
        self.user = user
        self.password = password

    def login(self, timeout: float) -> None:
        """Get to a shell: log in at the prompt, or find one already logged in."""
        check_timeout(timeout)
        deadline = Deadline.after(timeout)
        probe = secrets.token_hex(4)
        self.send(b"\n")
        while True:
            left = deadline.left()
            if left <= 0:
                raise ConsoleError(f"no login prompt or shell on the serial console within {timeout:.0f} s")
            try:
                # a shell prompt may be followed by line-editing queries such as ESC[6n (busybox ash)
                i = self.pexpect.expect(
                    [rb"login: ", rb"Password: ", f"XPU_READY_{probe}".encode(), rb"[#$] (?:\x1b\[[0-9;?]*[A-Za-z])*"],
                    timeout=min(left, 3),
                )
            except pexpect.TIMEOUT:
                if not self.alive():
                    raise ConsoleError("the VM stopped before offering a login") from None
                self.send(b"\n")  # a silent console: ask for a fresh prompt
                continue
            except (pexpect.EOF, OSError):
                raise ConsoleError("console closed while waiting for a login prompt (the VM stopped)") from None
            if i == 0:
                self.send(f"{self.user}\n".encode())
            elif i == 1:
                if self.password is None:
                    raise ConsoleError(f"the serial console asks for {self.user}'s password and none was given")
                self.send(f"{self.password}\n".encode())
            elif i == 2:
                return
            else:
                self.send(f"echo 'XPU''_READY_{probe}'\n".encode())

    def _send_file(self, path: str, data: bytes, deadline: Deadline) -> None:
        """Put data into a file in the guest through a tty, in acknowledged chunks."""
        encoded = base64.b64encode(data).decode()
        self.send(f": > {path}.b64\n".encode())
        for n, start in enumerate(range(0, len(encoded), SERIAL_CHUNK)):
            ack = f"XPU_ACK_{n}_{secrets.token_hex(3)}"
            piece = encoded[start : start + SERIAL_CHUNK]
            self.send(f"printf %s {piece} >> {path}.b64; echo '{ack[:4]}''{ack[4:]}'\n".encode())
            self._expect(ack.encode(), deadline, "the console to take the command")
        self.send(f"base64 -d {path}.b64 > {path}\n".encode())

    def run(self, command: str, timeout: float = 900) -> ShellResult:
        marker = secrets.token_hex(6)
        secs = max(1, round(timeout))
        deadline = Deadline.after(timeout + COMMAND_GRACE)  # one deadline over sending, running, reading
        self._send_file("/tmp/.xpu-cmd", command.encode(), deadline)
        q = lambda tag: f"'XPU''_{tag}_{marker}'"  # noqa: E731 - split so the echo cannot match
        self.send(
            (
                f"echo {q('B')}; timeout -k 5 {secs} sh /tmp/.xpu-cmd >/tmp/.xpu-out 2>/tmp/.xpu-err; "
                f"echo {q('RC')} $?; base64 /tmp/.xpu-out; echo {q('M')}; base64 /tmp/.xpu-err; echo {q('E')}\n"
            ).encode()
        )
        self._expect(f"XPU_B_{marker}".encode(), deadline, "start of a command's output on the serial console")
        self._expect(f"XPU_E_{marker}".encode(), deadline, "end of a command's output on the serial console")
        body = KERNEL_MESSAGE.sub(b"\n", self._before())
        m = re.search(rb"XPU_RC_" + marker.encode() + rb" (\d+)(.*)XPU_M_" + marker.encode() + rb"(.*)$", body, re.S)
        if not m:
            raise ConsoleError("garbled output from a command on the serial console")
        return ShellResult(int(m.group(1)), _b64(m.group(2)), _b64(m.group(3)))


def _b64(text: bytes) -> bytes:
    """Base64 as a console wraps it (line breaks anywhere) decoded."""
    return base64.b64decode(b"".join(text.split()))


class ConsoleBackend(BaseBackend):
    """A testinfra backend that runs commands through a VM console shell."""

    NAME = "vm-console"

    def __init__(self, shell: BackdoorShell | SerialShell, name: str = "vm", **kwargs: Any) -> None:
        self.shell = shell
        self._name = name
        super().__init__(name, **kwargs)

    def get_pytest_id(self) -> str:
        return self._name

    def run(self, command: str, *args: str, **kwargs: Any) -> CommandResult:
        cmd = self.get_command(command, *args)
        result = self.shell.run(cmd, timeout=float(kwargs.get("timeout", 900)))
        return self.result(result.rc, self.encode(cmd), result.stdout, result.stderr)


def open_console(url: str, timeout: float | None = None) -> BackdoorShell | SerialShell:
    """The shell of a running VM's console named by ``url`` (see ConsoleUrl): connected, and
    answering (backdoor) or logged in (serial) within the URL's ``timeout=``, else ``timeout``
    (else 30 s). One line when it cannot be had: ConfigError for a bad URL, ConsoleError (the
    target is unreachable) for a console that does not answer."""
    spec = parse_console_url(url) if timeout is None else parse_console_url(url, timeout)
    try:
        sock = connect_unix(spec.path, min(5.0, spec.timeout))
    except ConsoleError as exc:
        raise ConsoleError(f"target {spec.name}: {exc}") from None
    shell: BackdoorShell | SerialShell
    try:
        if spec.scheme == "backdoor":
            shell = BackdoorShell(sock)
            shell.ping(spec.timeout)
        else:
            shell = SerialShell(sock, user=spec.user, password=spec.password)
            shell.login(spec.timeout)
    except ConsoleError as exc:
        sock.close()
        raise ConsoleError(f"target {spec.name}: {exc}") from None
    return shell
