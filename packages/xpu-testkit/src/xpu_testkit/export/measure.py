"""One `xpu export` measurement: the doctor and every quick service check at once.

They run concurrently in threads, each bounded by the same ``timeout``: the measurement takes
about the longest of them (``timeout`` plus ``xpu_testkit.http.MARGIN`` at worst for the service
checks), not their sum. A check that raises is reported as ``xpu_check_error``, never lost.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from ..doctor import run_doctor
from ..probes.context import ProbeContext
from ..target import Target
from ..services.quick import ServiceState, check_comfyui_quickly, check_ollama_quickly
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
    with ThreadPoolExecutor(max_workers=1 + len(checks), thread_name_prefix="xpu-export") as pool:
        report = pool.submit(run_doctor, ProbeContext(target, timeout=timeout))
        services = [pool.submit(_guarded, check, service, url, timeout) for check, service, url in checks]
        return Export(report.result(), tuple(s.result() for s in services), bench, bench_mtime,
                      duration=time.monotonic() - started)
