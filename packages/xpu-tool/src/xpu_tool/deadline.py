"""Waiting by a wall-clock deadline: the one ``Deadline``, the one ``retry`` under every polling wait,
and ``call_by`` for a blocking call that must give up when the deadline passes.

The model is nixpkgs' NixOS test driver, where every wait is one ``retry(fn, timeout)``: here an
attempt returns ``(done, value)``; ``retry`` calls it every ``interval`` seconds until it is done or
another attempt would start past the deadline, and hands back the last value, so the caller's
error names what it saw last. ``call_by`` runs a call that cannot be interrupted (a name lookup, a
sysfs write the kernel holds) in a daemon thread and stops waiting for it at the deadline, or at
once when ``interrupted()`` says a signal came.
"""

from __future__ import annotations

import concurrent.futures
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from .threads import in_daemon_thread

T = TypeVar("T")

POLL = 0.05  # seconds between looks at ``interrupted`` and at a deadline that may come sooner


@dataclass(frozen=True)
class Deadline:
    """A point in time (monotonic clock) by which an operation must be over."""

    at: float
    seconds: float  # the budget it was made with, for messages

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        if not (math.isfinite(seconds) and seconds > 0):
            raise ValueError(f"a deadline needs a finite positive number of seconds, not {seconds!r}")
        return cls(time.monotonic() + seconds, seconds)

    def left(self) -> float:
        return self.at - time.monotonic()

    def passed(self) -> bool:
        return self.left() <= 0

    def sooner(self, seconds: float) -> Deadline:
        """This deadline or one ``seconds`` from now, whichever comes first."""
        other = Deadline.after(seconds)
        return other if other.at < self.at else self


def retry(attempt: Callable[[], tuple[bool, T]], deadline: Deadline, *, interval: float = 1.0) -> tuple[bool, T]:
    """Call ``attempt`` until it reports done, waiting ``interval`` seconds between calls, and stop
    when the next call would start past ``deadline``: (done, the last call's value).

    An attempt bounds its own work (a command's timeout, a socket's); one that raises ends the wait
    with its error (a unit that failed does not become active by waiting).
    """
    while True:
        done, value = attempt()
        if done or deadline.left() <= interval:
            return done, value
        time.sleep(interval)


def call_by(
    call: Callable[[], T],
    deadline: Deadline | Callable[[], Deadline],
    *,
    name: str,
    interrupted: Callable[[], bool] = lambda: False,
) -> T:
    """``call()``'s result or exception, or TimeoutError once ``deadline`` passes (a callable is
    asked again as the wait goes on, so the bound may come sooner), or KeyboardInterrupt as soon as
    ``interrupted()`` is true. The call runs in a daemon thread that is not waited for after that:
    it ends by itself, and never delays the process's exit.
    """
    future = in_daemon_thread(call, name=name)
    concurrent.futures.wait([future], timeout=POLL)  # a call that answers at once is never given up
    while not future.done():
        if interrupted():
            raise KeyboardInterrupt
        bound = deadline() if callable(deadline) else deadline
        left = bound.left()
        if left <= 0:
            raise TimeoutError(f"no answer within {bound.seconds:g} s")
        concurrent.futures.wait([future], timeout=min(left, POLL))
    return future.result()
