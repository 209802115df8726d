"""One `xpu export` measurement: the doctor and every quick service check at once.

They run concurrently in daemon threads, each bounded by the same ``timeout``: the measurement
takes about the longest of them (``timeout`` plus ``xpu_tool.http.MARGIN`` at worst for the
service checks), not their sum. A check that raises is reported as ``xpu_check_error``, never lost.
Daemon threads, not a ThreadPoolExecutor: the interpreter joins an executor's workers at exit, so
`xpu export --listen` stopped during a scrape would wait for a hanging check to time out.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import TypeVar

from ..doctor import run_doctor
from ..probes.context import ProbeContext
from ..target import Target
from ..services.quick import ServiceState, check_comfyui_quickly, check_ollama_quickly
from .metrics import Export

T = TypeVar("T")


def in_daemon_thread(function: Callable[..., T], *args: object, name: str = "xpu-export") -> Future[T]:
    """Run ``function(*args)`` in a daemon thread (never joined at exit); its result or exception in a Future."""
    future: Future[T] = Future()

    def run() -> None:
        try:
            future.set_result(function(*args))
        except BaseException as exc:  # noqa: BLE001 - handed to whoever reads the future
            future.set_exception(exc)

    threading.Thread(target=run, daemon=True, name=name).start()
    return future


def _guarded(check: Callable[[str, float], ServiceState], service: str, url: str, timeout: float) -> ServiceState:
    try:
        return check(url, timeout)
    except Exception:  # noqa: BLE001 - a bug in one check must not cost the others their metrics
        return ServiceState(service, url, False, error="error")


def measure(target: Target, *, ollama: Sequence[str] = (), comfyui: Sequence[str] = (), bench: dict | None = None,
            bench_mtime: float | None = None, timeout: float = 30.0) -> Export:
    started = time.monotonic()
    checks = [(check_ollama_quickly, "ollama", u) for u in ollama] + [(check_comfyui_quickly, "comfyui", u)
                                                                       for u in comfyui]
    report = in_daemon_thread(run_doctor, ProbeContext(target, timeout=timeout), name="xpu-export doctor")
    services = [in_daemon_thread(_guarded, check, service, url, timeout, name=f"xpu-export {service}")
                for check, service, url in checks]
    return Export(report.result(), tuple(s.result() for s in services), bench, bench_mtime,
                  duration=time.monotonic() - started)
