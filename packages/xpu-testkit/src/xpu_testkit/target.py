"""One way to reach a machine: every probe runs commands and reads files through a `Target`.

A target wraps a pytest-testinfra ``Host`` (local, SSH, paramiko; the VM console backends plug
in the same way), so one probe runs unchanged on this machine, over SSH and inside a VM. Probes
never call ``subprocess`` or ``open`` themselves.
"""

from __future__ import annotations

import shlex
import sys
import time
import urllib.parse
from dataclasses import dataclass
from typing import Callable

import testinfra
from testinfra.host import Host

from .errors import ConfigError, XpuError

DEFAULT_TIMEOUT = 30.0


class TargetError(XpuError):
    """The target cannot be reached (its transport failed, not a command on it)."""


@dataclass(frozen=True)
class CommandOutput:
    """What one command did on a target."""

    command: str
    rc: int
    stdout: str
    stderr: str
    timed_out: bool = False
    duration: float = 0.0

    @property
    def ok(self) -> bool:
        return self.rc == 0 and not self.timed_out


class Target:
    """A machine the probes look at, reached through a testinfra ``Host``."""

    def __init__(self, url: str, host: Host, *, local: bool = False) -> None:
        self.url = url
        self.host = host
        self.local = local

    def __repr__(self) -> str:
        return f"Target({self.url!r})"

    def __getattr__(self, name: str) -> object:
        """testinfra's modules (``file``, ``package``, ``service``, ...) of the underlying Host."""
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.host, name)

    def run(self, command: str, *, timeout: float = DEFAULT_TIMEOUT) -> CommandOutput:
        """Run a POSIX shell command on the target, killed after ``timeout`` seconds.

        The command is wrapped in ``timeout`` on the target itself (coreutils or busybox), as
        nixpkgs' test driver does, so a hung command cannot hang the controller over any
        transport. TERM first, KILL 5 s later: GNU timeout signals its whole process group, so an
        immediate KILL would kill timeout itself and, over SSH, turn the exit code into 255.
        Raises TargetError when the transport itself fails (SSH cannot connect).
        """
        wrapped = f"timeout -k 5 {max(1, int(round(timeout)))} sh -c {shlex.quote(command)}"
        started = time.monotonic()
        try:
            result = self.host.run(wrapped, timeout=timeout)  # console backends bound their wait by it
        except RuntimeError as exc:  # testinfra's ssh backends: exit 255, the connection failed
            detail = getattr(exc.args[0], "stderr", "") if exc.args else ""
            raise TargetError(f"cannot reach {self.url}: {str(detail).strip() or exc}") from None
        duration = time.monotonic() - started
        rc = result.rc
        # 124: GNU timeout, 143: busybox timeout (TERM), 137: killed after the grace period
        timed_out = rc in (124, 137, 143) and duration >= timeout - 0.5
        return CommandOutput(
            command=command,
            rc=rc,
            stdout=result.stdout_bytes.decode("utf-8", errors="replace"),
            stderr=result.stderr_bytes.decode("utf-8", errors="replace"),
            timed_out=timed_out,
            duration=duration,
        )

    def read_text(self, path: str) -> str | None:
        """The file's content, or None when it is missing or unreadable."""
        out = self.run(f"cat -- {shlex.quote(path)}")
        return out.stdout if out.ok else None

    def exists(self, path: str) -> bool:
        return self.run(f"test -e {shlex.quote(path)}").ok

    def which(self, program: str) -> str | None:
        out = self.run(f"command -v {shlex.quote(program)}")
        path = out.stdout.strip()
        return path if out.ok and path else None

    def environment(self) -> dict[str, str]:
        """The environment a command started on the target sees."""
        out = self.run("cat /proc/self/environ")
        env: dict[str, str] = {}
        for item in out.stdout.split("\0"):
            key, sep, value = item.partition("=")
            if sep and key:
                env[key] = value
        return env

    def python_interpreters(self) -> list[str]:
        """Pythons to send a probe script to, best first.

        On the local target that is the interpreter running this code (it sees the same
        packages, such as dpctl); elsewhere whatever ``python3`` the target has.
        """
        return [sys.executable] if self.local else ["python3"]


def _local(url: str) -> Target:
    return Target("local://", testinfra.get_host("local://"), local=True)


def _testinfra_remote(url: str) -> Target:
    parsed = urllib.parse.urlsplit(url)
    if not parsed.hostname:
        raise ConfigError(f"target {url!r} names no host: use {parsed.scheme}://[user@]host[:port]")
    try:
        host = testinfra.get_host(url)
    except Exception as exc:  # testinfra raises plain RuntimeError/ImportError for bad specs
        raise ConfigError(f"target {url!r}: {exc}") from None
    return Target(url, host)


def _console(url: str) -> Target:
    """backdoor:///path/shell.sock or serial:///path/serial.sock?user=root&password=...: a console
    socket of a running VM (e.g. one started by `xpu vm boot`)."""
    from .vm.console import BackdoorShell, ConsoleBackend, ConsoleError, SerialShell, connect_unix

    parsed = urllib.parse.urlsplit(url)
    if not parsed.path:
        raise ConfigError(f"target {url!r} names no socket: use {parsed.scheme}:///path/to/console.sock")
    query = dict(urllib.parse.parse_qsl(parsed.query))
    try:
        sock = connect_unix(parsed.path, 5.0)
    except ConsoleError as exc:
        raise ConfigError(f"target {url!r}: {exc}") from None
    if parsed.scheme == "backdoor":
        shell: BackdoorShell | SerialShell = BackdoorShell(sock)
    else:
        shell = SerialShell(sock, user=query.get("user", "root"), password=query.get("password"))
        try:
            shell.login(float(query.get("timeout", 30)))
        except ConsoleError as exc:
            raise ConfigError(f"target {url!r}: {exc}") from None
    return Target(url, Host(ConsoleBackend(shell, name=parsed.path)))


TARGET_SCHEMES: dict[str, Callable[[str], Target]] = {
    "local": _local,
    "ssh": _testinfra_remote,
    "paramiko": _testinfra_remote,
    "backdoor": _console,
    "serial": _console,
}


def console_target(shell: object, name: str) -> Target:
    """A Target over a VM console shell (BackdoorShell or SerialShell) the caller already holds."""
    from .vm.console import ConsoleBackend

    return Target(name, Host(ConsoleBackend(shell, name=name)))  # type: ignore[arg-type]


def open_target(url: str | None) -> Target:
    """The target a URL names: ``local://`` (the default), ``ssh://user@host:port``, ...

    Raises ConfigError (one line) for an unknown scheme or a malformed URL.
    """
    if not url or url == "local":
        url = "local://"
    scheme, sep, _ = url.partition("://")
    if not sep:
        raise ConfigError(f"target {url!r} is not a URL: use local://, ssh://[user@]host[:port], backdoor:///socket")
    factory = TARGET_SCHEMES.get(scheme)
    if factory is None:
        known = ", ".join(f"{s}://" for s in TARGET_SCHEMES)
        raise ConfigError(f"unknown target scheme {scheme!r} in {url!r} (known: {known})")
    return factory(url)
