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
from collections.abc import Callable, Sequence

from ..doctor import run_doctor
from ..probes.context import ProbeContext
from ..target import Target
from ..services.quick import ServiceState, check_comfyui_quickly, check_ollama_quickly
from ..threads import in_daemon_thread
from .metrics import Export


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
    report = in_daemon_thread(run_doctor, ProbeContext(target, timeout=timeout), timeout, name="xpu-export doctor")
    services = [in_daemon_thread(_guarded, check, service, url, timeout, name=f"xpu-export {service}")
                for check, service, url in checks]
    return Export(report.result(), tuple(s.result() for s in services), bench, bench_mtime,
                  duration=time.monotonic() - started)
