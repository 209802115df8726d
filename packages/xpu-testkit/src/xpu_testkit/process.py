"""Helpers for the processes the test kit starts (QEMU, servers): free ports, no orphans, and how
its ``xpu vm`` treats the signals that end it (VMs stopped, drivers given back)."""

from __future__ import annotations

import contextlib
import ctypes
import signal
import socket
import subprocess
import threading
from collections.abc import Callable, Iterator, Sequence
from types import FrameType
from typing import Any

PR_SET_PDEATHSIG = 1
# prctl(2), looked up once here in the parent: die_with_parent runs in the child between fork and
# exec, where a dlopen or dlsym could wait forever on a loader lock another thread held at the fork
_prctl = ctypes.CDLL(None, use_errno=True).prctl
# The signals that end a run: Ctrl-C, `kill`, and the terminal going away.
ENDING_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
# What signal.signal takes and returns: a function, SIG_DFL or SIG_IGN, or None (set outside Python).
SignalHandler = Callable[[int, FrameType | None], Any] | int | signal.Handlers | None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def die_with_parent() -> None:
    """preexec_fn for subprocess.Popen: the child gets SIGKILL when the Python process dies.
    In the child it only calls prctl, looked up in the parent (no import, no dlopen): nothing that
    waits on a lock another thread of the parent may have held at the fork."""
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def popen_tied(args: Sequence[str], **kwargs: Any) -> subprocess.Popen[Any]:
    """``subprocess.Popen(args, **kwargs)`` whose child is killed when this process dies, so no
    QEMU or server outlives the test or the run that started it. The kernel sends the signal when
    the *thread* that started the child ends: start a child from a thread that lives as long as it."""
    # only preexec_fn can set PR_SET_PDEATHSIG in the child; die_with_parent makes one prctl call
    return subprocess.Popen(args, preexec_fn=die_with_parent, **kwargs)  # noqa: PLW1509 - see above


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _handle(signums: tuple[int, ...], handler: Callable[[int, FrameType | None], None]) -> dict[int, SignalHandler]:
    """Install ``handler`` for each signal that is not ignored (nohup's SIGHUP stays ignored);
    return the previous handlers. Only the main thread may set handlers: elsewhere nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    previous: dict[int, SignalHandler] = {}
    for signum in signums:
        if signal.getsignal(signum) is not signal.SIG_IGN:
            previous[signum] = signal.signal(signum, handler)
    return previous


def _restore(previous: dict[int, SignalHandler]) -> None:
    for signum, handler in previous.items():
        signal.signal(signum, handler)


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
