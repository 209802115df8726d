"""One way to reach a machine: every probe runs commands and reads files through a `Target`.

A target wraps a pytest-testinfra ``Host`` (local, SSH, paramiko; the VM console backends plug
in the same way), so one probe runs unchanged on this machine, over SSH and inside a VM. Probes
never call ``subprocess`` or ``open`` themselves.
"""

from __future__ import annotations

import math
import shlex
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import testinfra
from testinfra.host import Host

from .deadline import Deadline, retry
from .errors import ConfigError, XpuError
from .transport.console import BackdoorShell, ConsoleBackend, SerialShell, open_console
from .urls import redact, url_secrets

DEFAULT_TIMEOUT = 30.0
NOT_FOUND = 127  # the shell's "command not found"; also what a missing sshpass or timeout gives


class TargetError(XpuError):
    """The target cannot be reached (its transport failed, not a command on it)."""


class CommandFailed(XpuError):
    """A verb's expectation about a command did not hold (``succeed``, ``fail``, the waits).

    ``output`` is the last run of the command, or None when the expectation was about a unit or a
    port rather than one command's result.
    """

    def __init__(self, message: str, output: CommandOutput | None = None) -> None:
        super().__init__(message)
        self.output = output


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

    @property
    def not_found(self) -> bool:
        """Exit 127: a command (or the transport's own helper, such as sshpass) was not found."""
        return self.rc == NOT_FOUND and not self.timed_out


class Target:
    """A machine the probes look at, reached through a testinfra ``Host``."""

    def __init__(self, url: str, host: Host, *, local: bool = False, concurrent: bool = True) -> None:
        self.url = redact(url)  # what messages and reports show: never a password
        self.host = host
        self.local = local
        self._secrets = url_secrets(url)
        # a console is one shell on one socket: its commands go one at a time
        self._serial: threading.Lock | None = None if concurrent else threading.Lock()
        # testinfra's ssh backends pass their `timeout` (default 10 s) to ssh as ConnectTimeout
        connect = getattr(getattr(host, "backend", None), "timeout", None)
        self._connect_timeout = connect if isinstance(connect, int) and not isinstance(connect, bool) else None

    def scrub(self, text: str) -> str:
        """``text`` without the secrets of this target's URL."""
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def __repr__(self) -> str:
        return f"Target({self.url!r})"

    def __getattr__(self, name: str) -> Any:  # testinfra is untyped: its modules are whatever it returns
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
        wrapped = f"timeout -k 5 {max(1, round(timeout))} sh -c {shlex.quote(command)}"
        if self._connect_timeout is not None:  # an ssh connection waits no longer than the command may
            self.host.backend.timeout = max(1, min(self._connect_timeout, math.ceil(timeout)))
        started = time.monotonic()
        try:
            if self._serial is None:
                result = self.host.run(wrapped, timeout=timeout)  # console backends bound their wait by it
            else:
                with self._serial:
                    result = self.host.run(wrapped, timeout=timeout)
        except RuntimeError as exc:  # testinfra's ssh backends: exit 255, the connection failed
            detail = getattr(exc.args[0], "stderr", "") if exc.args else ""
            reason = "; ".join(self.scrub(str(detail).strip() or str(exc)).splitlines())
            raise TargetError(f"cannot reach {self.url}: {reason[:300]}") from None
        duration = time.monotonic() - started
        rc = result.rc
        # 124: GNU timeout, 143: busybox timeout (TERM), 137: killed after the grace period
        timed_out = rc in (124, 137, 143) and duration >= timeout - 0.5
        return CommandOutput(
            command=command,
            rc=rc,
            stdout=result.stdout_bytes.decode("utf-8", errors="replace"),
            stderr=self.scrub(result.stderr_bytes.decode("utf-8", errors="replace")),
            timed_out=timed_out,
            duration=duration,
        )

    # -- the NixOS test driver's verbs (nixos/lib/test-driver/src/test_driver/machine.py) ---------

    def succeed(self, *commands: str, timeout: float = DEFAULT_TIMEOUT) -> str:
        """Run each command; raise CommandFailed at the first that fails; return their stdout joined."""
        output = ""
        for command in commands:
            out = self.run(command, timeout=timeout)
            if not out.ok:
                raise CommandFailed(f"{self.url}: command `{_brief(command)}` {_outcome(out)}", out)
            output += out.stdout
        return output

    def fail(self, *commands: str, timeout: float = DEFAULT_TIMEOUT) -> str:
        """Run each command; raise CommandFailed at the first that succeeds; return their stdout joined.

        A command that times out has not failed the way the caller means: that raises too.
        """
        output = ""
        for command in commands:
            out = self.run(command, timeout=timeout)
            if out.ok or out.timed_out:
                raise CommandFailed(
                    f"{self.url}: command `{_brief(command)}` {_outcome(out)}, expected it to fail", out
                )
            output += out.stdout
        return output

    def _attempt_timeout(self, deadline: Deadline) -> float:
        """One attempt's command timeout: what is left of the wait, at least 1 s, at most the default."""
        return max(1.0, min(DEFAULT_TIMEOUT, deadline.left()))

    def wait_until_succeeds(self, command: str, *, timeout: float = 900.0, interval: float = 1.0) -> str:
        """Retry the command until it succeeds (its stdout) or ``timeout`` seconds have passed."""
        deadline = Deadline.after(timeout)

        def attempt() -> tuple[bool, CommandOutput]:
            out = self.run(command, timeout=self._attempt_timeout(deadline))
            return out.ok, out

        done, out = retry(attempt, deadline, interval=interval)
        if not done:
            raise CommandFailed(
                f"{self.url}: `{_brief(command)}` did not succeed within {timeout:g} s: it last {_outcome(out)}", out
            )
        return out.stdout

    def wait_until_fails(self, command: str, *, timeout: float = 900.0, interval: float = 1.0) -> str:
        """Retry the command until it fails (its stdout) or ``timeout`` seconds have passed."""
        deadline = Deadline.after(timeout)

        def attempt() -> tuple[bool, CommandOutput]:
            out = self.run(command, timeout=self._attempt_timeout(deadline))
            return not out.ok and not out.timed_out, out

        done, out = retry(attempt, deadline, interval=interval)
        if not done:
            raise CommandFailed(f"{self.url}: `{_brief(command)}` kept succeeding for {timeout:g} s", out)
        return out.stdout

    def wait_for_unit(self, unit: str, *, user: str | None = None, timeout: float = 900.0) -> None:
        """Wait until a systemd unit is active; fail at once when it has failed or cannot start.

        ``user``: a user's service manager (``systemctl --user -M USER@``), as the driver does.
        """
        scope = f"--user -M {shlex.quote(user)}@ " if user else ""
        show = f"systemctl {scope}show --no-pager -p ActiveState -p LoadState {shlex.quote(unit)}"

        def attempt() -> tuple[bool, tuple[str, CommandOutput]]:
            out = self.run(show)
            info = dict(line.partition("=")[::2] for line in out.stdout.splitlines())
            state, load = info.get("ActiveState", ""), info.get("LoadState", "")
            if out.ok and state == "active":
                return True, (state, out)
            if not state:  # no systemctl (127), or no systemd to answer it (a container, a busybox guest)
                raise CommandFailed(f"{self.url}: cannot ask systemd about {unit}: {_outcome(out)}", out)
            if load == "not-found":
                raise CommandFailed(f"{self.url}: unit {unit} does not exist", out)
            if state == "failed":
                raise CommandFailed(
                    f"{self.url}: unit {unit} reached state failed (journalctl -u {unit} says why)", out
                )
            if (
                state == "inactive"
                and self.run(f"systemctl {scope}list-jobs --no-legend {shlex.quote(unit)}").stdout.strip() == ""
            ):
                raise CommandFailed(f"{self.url}: unit {unit} is inactive and no job is pending to start it", out)
            return False, (state, out)

        done, (state, out) = retry(attempt, Deadline.after(timeout))
        if not done:
            raise CommandFailed(f"{self.url}: unit {unit} is still {state or 'unknown'} after {timeout:g} s", out)

    def wait_for_open_port(self, port: int, addr: str = "localhost", *, timeout: float = 900.0) -> None:
        """Wait until something accepts TCP connections on ``addr:port`` on the target."""
        self.wait_until_succeeds(_port_open_command(port, addr), timeout=timeout)

    def wait_for_closed_port(self, port: int, addr: str = "localhost", *, timeout: float = 900.0) -> None:
        """Wait until nothing accepts TCP connections on ``addr:port`` on the target."""
        self.wait_until_fails(_port_open_command(port, addr), timeout=timeout)

    # -- files and facts -----------------------------------------------------------------------

    def read_text(self, path: str) -> str | None:
        """The file's content, or None when it is missing or unreadable."""
        out = self.run(f"cat -- {shlex.quote(path)}")
        return out.stdout if out.ok else None

    def path_exists(self, path: str) -> bool:
        """Whether ``path`` exists on the target. (``exists`` is testinfra's: a command on PATH.)"""
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


def _brief(command: str, limit: int = 120) -> str:
    line = " ".join(command.split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _outcome(out: CommandOutput) -> str:
    if out.timed_out:
        return f"timed out after {out.duration:.0f} s"
    last = (out.stderr.strip().splitlines() or [""])[-1][:200]
    return f"exited {out.rc}" + (f": {last}" if last else "")


def _port_open_command(port: int, addr: str) -> str:
    """A shell test that ``addr:port`` accepts TCP connections. For a loopback address: a listening
    socket in /proc/net/tcp{,6} (any Linux, busybox included, no name resolution needed); for another
    address a connection, through bash's /dev/tcp, python3, or nc, whichever the target has."""
    if not 0 < int(port) < 65536:
        raise ConfigError(f"port {port!r} is not a TCP port (1-65535)")
    if addr in ("localhost", "127.0.0.1", "::1"):
        return (
            f"awk '$4 == \"0A\" && $2 ~ /:{int(port):04X}$/ {{ found = 1 }} END {{ exit !found }}' "
            "/proc/net/tcp /proc/net/tcp6 2>/dev/null"
        )
    a, p = shlex.quote(addr), int(port)
    connect = shlex.quote(f"import socket; socket.create_connection(({addr!r}, {p}), 2).close()")
    return (
        f"if command -v bash >/dev/null; then bash -c 'exec 3<>/dev/tcp/'{a}'/{p}'; "
        f"elif command -v python3 >/dev/null; then python3 -c {connect}; "
        f"else nc -w 2 {a} {p} </dev/null; fi"
    )


def _local(url: str, timeout: float | None = None) -> Target:
    return Target("local://", testinfra.get_host("local://"), local=True)


def _testinfra_remote(url: str, timeout: float | None = None) -> Target:
    try:
        parsed = urllib.parse.urlsplit(url)
        parsed.port  # noqa: B018 - raises ValueError for a port out of range or not a number
    except ValueError as exc:
        raise ConfigError(f"target {redact(url)!r} is not a valid URL: {exc}") from None
    if not parsed.hostname:
        raise ConfigError(f"target {redact(url)!r} names no host: use {parsed.scheme}://[user@]host[:port]")
    for part, value in (("user", parsed.username), ("host", parsed.hostname)):
        if value and urllib.parse.unquote(value).lstrip().startswith("-"):  # ssh would take it for an option
            raise ConfigError(f"target {redact(url)[:200]!r}: the {part} begins with '-': not a {part} name")
    try:
        host = testinfra.get_host(url)
    except Exception as exc:  # noqa: BLE001 - testinfra raises plain RuntimeError, ImportError, ValueError... for a bad spec: each is the user's configuration
        message = str(exc)
        for secret in url_secrets(url):
            message = message.replace(secret, "***")
        raise ConfigError(f"target {redact(url)!r}: {message}") from None
    return Target(url, host, concurrent=parsed.scheme == "ssh")  # paramiko: one client, made on first use


def _console(url: str, timeout: float | None = None) -> Target:
    """backdoor:///path/shell.sock or serial:///path/serial.sock?user=root&password=...&timeout=30:
    a console socket of a running VM (e.g. one started by `xpu vm boot`), answering within the
    URL's timeout=, else ``timeout``."""
    # one line without the password: ConfigError (bad URL) or ConsoleError (no answer)
    shell = open_console(url, timeout)
    return Target(url, Host(ConsoleBackend(shell, name=urllib.parse.urlsplit(url).path)), concurrent=False)


TARGET_SCHEMES: dict[str, Callable[[str, float | None], Target]] = {
    "local": _local,
    "ssh": _testinfra_remote,
    "paramiko": _testinfra_remote,
    "backdoor": _console,
    "serial": _console,
}


def console_target(shell: BackdoorShell | SerialShell, name: str) -> Target:
    """A Target over a VM console shell (BackdoorShell or SerialShell) the caller already holds."""
    return Target(name, Host(ConsoleBackend(shell, name=name)), concurrent=False)


def open_target(url: str | None, timeout: float | None = None) -> Target:
    """The target a URL names: ``local://`` (the default), ``ssh://user@host:port``, ...

    ``timeout`` bounds opening a console target (backdoor://, serial://) whose URL gives no
    ``timeout=`` (default 30 s). Raises ConfigError (one line) for an unknown scheme or a malformed URL.
    """
    if not url or url == "local":
        url = "local://"
    scheme, sep, _ = url.partition("://")
    if not sep:
        raise ConfigError(f"target {url!r} is not a URL: use local://, ssh://[user@]host[:port], backdoor:///socket")
    factory = TARGET_SCHEMES.get(scheme)
    if factory is None:
        known = ", ".join(f"{s}://" for s in TARGET_SCHEMES)
        raise ConfigError(f"unknown target scheme {scheme!r} in {redact(url)!r} (known: {known})")
    return factory(url, timeout)
