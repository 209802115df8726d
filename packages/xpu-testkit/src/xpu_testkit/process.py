"""Helpers for the processes the test kit starts (QEMU, servers): free ports, no orphans, and how
its ``xpu vm`` treats the signals that end it (VMs stopped, drivers given back)."""

from __future__ import annotations

import contextlib
import ctypes
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from types import FrameType

PR_SET_PDEATHSIG = 1
# The signals that end a run: Ctrl-C, `kill`, and the terminal going away.
ENDING_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def die_with_parent() -> None:
    """preexec_fn for subprocess.Popen: the child gets SIGKILL when the Python process dies."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _handle(signums: tuple[int, ...], handler: Callable[[int, FrameType | None], None]) -> dict[int, object]:
    """Install ``handler`` for each signal that is not ignored (nohup's SIGHUP stays ignored);
    return the previous handlers. Only the main thread may set handlers: elsewhere nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    previous: dict[int, object] = {}
    for signum in signums:
        if signal.getsignal(signum) is not signal.SIG_IGN:
            previous[signum] = signal.signal(signum, handler)
    return previous


def _restore(previous: dict[int, object]) -> None:
    for signum, handler in previous.items():
        signal.signal(signum, handler)  # type: ignore[arg-type]


@contextlib.contextmanager
def signals_interrupt() -> Iterator[None]:
    """While the block runs, SIGTERM and SIGHUP raise KeyboardInterrupt as Ctrl-C does, so every
    ``with`` around the point where they land unwinds (VMs stopped, drivers given back)."""
    previous = _handle((signal.SIGTERM, signal.SIGHUP), _interrupt)
    try:
        yield
    finally:
        _restore(previous)


@contextlib.contextmanager
def signals_deferred(notice: Callable[[int], None] = lambda signum: None) -> Iterator[list[int]]:
    """A critical section: SIGINT, SIGTERM and SIGHUP are noted (the list yielded), not acted on,
    until the block ends; ``notice`` is told of the first. The caller decides what a noted signal
    means afterwards (usually: raise KeyboardInterrupt unless an error is already unwinding)."""
    received: list[int] = []

    def note(signum: int, frame: FrameType | None) -> None:
        if not received:
            with contextlib.suppress(Exception):  # a closed terminal must not break the section
                notice(signum)
        received.append(signum)

    previous = _handle(ENDING_SIGNALS, note)
    try:
        yield received
    finally:
        _restore(previous)
