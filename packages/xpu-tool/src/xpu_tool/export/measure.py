"""One `xpu export` measurement: the doctor and every quick service check at once.

They run concurrently in daemon threads, each bounded by the same ``timeout``: the measurement
takes about the longest of them (``timeout`` plus ``xpu_tool.http.MARGIN`` at worst for the
service checks), not their sum. A check that raises is reported as ``xpu_check_error``, never lost.
Daemon threads (``xpu_tool.threads``), not a ThreadPoolExecutor: the interpreter joins an
executor's workers at exit, so `xpu export --listen` stopped during a scrape would wait for a
hanging check to time out.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from ..doctor import run_doctor
from ..probes.context import ProbeContext
from ..services.registry import Service, ServiceState
from ..target import Target
from ..threads import in_daemon_thread
from ..urls import redact
from .metrics import Export


def _guarded(service: Service, url: str, timeout: float) -> ServiceState:
    try:
        return service.quick(url, timeout)
    except Exception:  # noqa: BLE001 - a bug in one check must not cost the others their metrics
        return ServiceState(service.name, redact(url), False, error="error")


def measure(
    target: Target,
    *,
    services: Sequence[tuple[Service, str]] = (),
    bench: dict | None = None,
    bench_mtime: float | None = None,
    timeout: float = 30.0,
) -> Export:
    """The doctor on ``target`` and the quick check of each (service, URL), all at once."""
    started = time.monotonic()
    report = in_daemon_thread(run_doctor, ProbeContext(target, timeout=timeout), timeout, name="xpu-export doctor")
    states = [
        in_daemon_thread(_guarded, service, url, timeout, name=f"xpu-export {service.name}")
        for service, url in services
    ]
    return Export(
        report.result(), tuple(s.result() for s in states), bench, bench_mtime, duration=time.monotonic() - started
    )
