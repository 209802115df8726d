"""Work in daemon threads: a thread that hangs past its caller's deadline never delays the exit.

``concurrent.futures.ThreadPoolExecutor`` joins its workers when the interpreter exits, so one
probe or check that hangs (a command that never ends, a peer that never answers) would hold the
process after its answer was printed. These threads are never joined; the caller waits for their
Futures only as long as its own deadline allows.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import TypeVar

T = TypeVar("T")


def in_daemon_thread(function: Callable[..., T], *args: object, name: str = "xpu-worker") -> Future[T]:
    """Run ``function(*args)`` in a daemon thread (never joined at exit); its result or exception in a Future."""
    future: Future[T] = Future()

    def run() -> None:
        try:
            future.set_result(function(*args))
        except BaseException as exc:  # noqa: BLE001 - handed to whoever reads the future
            future.set_exception(exc)

    threading.Thread(target=run, daemon=True, name=name).start()
    return future
