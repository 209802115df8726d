"""Attach the user's terminal to a VM console (``xpu vm shell``).

pexpect's ``interact`` belongs to its pty-based ``spawn`` only (``fdspawn`` has none), so the
session is a small select loop of our own: the console socket to stdout, stdin to the console.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import termios
import time
import tty
from collections.abc import Iterator
from dataclasses import dataclass

ESCAPE = b"\x1d"  # Ctrl-], as telnet and virsh console use it


@dataclass(frozen=True)
class Terminal:
    """The user's side of the session: file descriptors, and whether stdout is a terminal."""

    stdin: int = 0
    stdout: int = 1

    @property
    def stdout_is_tty(self) -> bool:
        return os.isatty(self.stdout)


@contextlib.contextmanager
def raw_input(fd: int) -> Iterator[None]:
    """A terminal on ``fd`` in raw mode for the block (keys such as Ctrl-C go to the guest), restored after."""
    if not os.isatty(fd):
        yield
        return
    saved = termios.tcgetattr(fd)
    tty.setraw(fd)
    try:
        yield
    finally:
        with contextlib.suppress(termios.error, OSError):  # a terminal that hung up has nothing to restore
            termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def attach(
    console: socket.socket,
    terminal: Terminal,
    *,
    pending: bytes = b"",
    line_mode: bool = False,
    quiet: float = 2.0,
    drain_limit: float = 30.0,
) -> str:
    """Copy the console to stdout and stdin to the console until Ctrl-] is typed ("detached"), the
    console closes ("console closed"), or stdin ends ("input ended": once the console has been
    quiet for ``quiet`` s, at most ``drain_limit`` s later). ``pending``: console output already
    read (it is shown first). ``line_mode``: the console has no terminal of its own (the NixOS
    backdoor's raw bash): Enter's CR is sent as LF, and LF is shown as CRLF on a terminal.
    """
    crlf = line_mode and terminal.stdout_is_tty

    def show(data: bytes) -> None:
        _write_all(terminal.stdout, data.replace(b"\n", b"\r\n") if crlf else data)

    show(pending)
    input_open, drain_until = True, 0.0
    with raw_input(terminal.stdin):
        while True:
            wait = None if input_open else max(0.0, min(quiet, drain_until - time.monotonic()))
            watched: list[socket.socket | int] = [console, terminal.stdin] if input_open else [console]
            ready, _, _ = select.select(watched, [], [], wait)
            if not ready:
                return "input ended"
            if console in ready:
                data = console.recv(65536)
                if not data:
                    return "console closed"
                show(data)
            if input_open and terminal.stdin in ready:
                data = os.read(terminal.stdin, 4096)
                if not data:
                    input_open, drain_until = False, time.monotonic() + drain_limit
                    continue
                data, escape, _ = data.partition(ESCAPE)
                console.sendall(data.replace(b"\r", b"\n") if line_mode else data)
                if escape:
                    return "detached"
