"""Turn a doctor report, quick service checks (services.registry) and the last benchmark into Prometheus metrics.

This module only renders what was measured; export.measure runs the doctor and the checks.

Metric families (all gauges; docs/operations.md explains each and the alerts built on them):
  xpu_usable                                   1 when no finding blocks GPU acceleration
  xpu_gpus{probe}                              Intel GPUs each GPU-listing probe saw (probes.registry)
  xpu_probe_status{probe,status}               1 for the status each probe reported (a state set)
  xpu_finding{id,severity}                     1 for each finding present
  xpu_service_up{service,url}                  1 when Ollama / ComfyUI answered
  xpu_ollama_model_vram_ratio{model}           size_vram / size of each loaded model (/api/ps)
  xpu_bench_decode_tokens_per_second{backend,device}, xpu_bench_gpu_cpu_ratio{backend},
  xpu_bench_backend_info{backend,engine}, xpu_bench_fastest{backend,engine},
  xpu_bench_timestamp_seconds                  from the last `xpu bench ollama`/`llm` JSON, when given
                                               (no cpu series or ratio for a backend without a CPU side)
  xpu_check_error{check,reason,url}            1 when a check could not run (timeout, refused, ...)
  xpu_export_duration_seconds, xpu_export_timestamp_seconds
  xpu_build_info{xpu_tool,<service>...,compute_runtime}  one label per registered service (comfyui, llama_cpp, ollama)
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client import CollectorRegistry, Gauge, generate_latest

from .. import __version__, http
from ..model import Report, Status
from ..probes.level_zero import LevelZeroFacts
from ..probes.registry import probes
from ..services.registry import ServiceState, services


@dataclass(frozen=True)
class Export:
    """Everything one `xpu export` run measured."""

    report: Report
    services: tuple[ServiceState, ...] = ()
    bench: dict | None = None
    bench_mtime: float | None = None
    duration: float = 0.0
    timestamp: float = field(default_factory=time.time)

    @property
    def problems(self) -> list[tuple[str, str]]:
        return [(s.service, s.error) for s in self.services if s.error]


def _number(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{where} is {http.quote(json.dumps(value), 60)}, not a number")
    return float(value)


def load_bench(path: Path) -> tuple[dict, float]:
    """The JSON `xpu bench ollama` or `xpu bench llm` wrote, and when (its mtime); ValueError when it
    has another shape. A backend's ``cpu`` and ``decode_ratio`` may be null (a llama-server without
    a CPU side), its ``engine`` missing (reports from before `xpu bench llm`: Ollama)."""
    try:
        data = json.loads(path.read_text())
    except RecursionError:
        raise ValueError("nested too deeply to be a benchmark report") from None
    backends = data.get("backends") if isinstance(data, dict) else None
    if not isinstance(backends, list):
        raise ValueError("not an `xpu bench ollama` report (no backends list)")
    for i, b in enumerate(backends):
        where = f"backends[{i}]"
        if not isinstance(b, dict) or not isinstance(b.get("backend"), str):
            raise ValueError(f"{where} has no backend name")
        if "engine" in b and not isinstance(b["engine"], str):
            raise ValueError(f"{where}.engine is not a string")
        has_cpu = b.get("cpu") is not None
        if has_cpu or b.get("decode_ratio") is not None:
            _number(b.get("decode_ratio"), f"{where}.decode_ratio")
        for device in ("gpu", "cpu") if has_cpu else ("gpu",):
            run = b.get(device)
            tps = run.get("decode_tokens_per_s") if isinstance(run, dict) else None
            _number(
                tps.get("median") if isinstance(tps, dict) else None, f"{where}.{device}.decode_tokens_per_s.median"
            )
    return data, path.stat().st_mtime


def _compute_runtime(report: Report) -> str:
    try:
        facts = report.probe("level-zero").facts_as(LevelZeroFacts)
    except KeyError:
        return ""
    versions = sorted({str(d.version) for d in facts.drivers if d.version} if facts else ())
    return ",".join(versions)


def registry_for(export: Export) -> CollectorRegistry:
    registry = CollectorRegistry()
    report = export.report

    Gauge("xpu_usable", "1 when no finding blocks GPU acceleration", registry=registry).set(int(report.usable))

    gpus = Gauge("xpu_gpus", "Intel GPUs each probe saw", ["probe"], registry=registry)
    status = Gauge("xpu_probe_status", "1 for the status each probe reported", ["probe", "status"], registry=registry)
    listing = {p.name: p for p in probes() if p.gpus is not None}
    for probe in report.probes:
        if probe.probe in listing:
            gpus.labels(probe.probe).set(len(listing[probe.probe].gpus_of(probe)))
        for s in Status:
            status.labels(probe.probe, s.value).set(int(probe.status is s))

    finding = Gauge("xpu_finding", "1 for each finding the doctor reports", ["id", "severity"], registry=registry)
    for f in report.findings:
        finding.labels(f.id, f.severity.value).set(1)

    up = Gauge("xpu_service_up", "1 when the service answered its API", ["service", "url"], registry=registry)
    share = Gauge(
        "xpu_ollama_model_vram_ratio",
        "size_vram / size of each loaded Ollama model (1: all on the GPU)",
        ["model"],
        registry=registry,
    )
    errors = Gauge(  # url: one series per checked server (three llama-servers, three series)
        "xpu_check_error", "1 when a check could not run", ["check", "reason", "url"], registry=registry
    )
    for state in export.services:
        up.labels(state.service, state.url).set(int(state.up))
        for model, in_vram in state.models:
            share.labels(model).set(in_vram)
        if state.error:
            errors.labels(state.service, state.error, state.url).set(1)

    if export.bench is not None:
        tps = Gauge(
            "xpu_bench_decode_tokens_per_second",
            "median decode tokens/s of the last benchmark",
            ["backend", "device"],
            registry=registry,
        )
        ratio = Gauge(
            "xpu_bench_gpu_cpu_ratio", "GPU/CPU decode ratio of the last benchmark", ["backend"], registry=registry
        )
        info = Gauge(
            "xpu_bench_backend_info",
            "1 for each backend of the last benchmark, with its engine",
            ["backend", "engine"],
            registry=registry,
        )
        for b in export.bench.get("backends", []):
            for device in ("gpu", "cpu"):
                if b.get(device) is not None:
                    tps.labels(b["backend"], device).set(b[device]["decode_tokens_per_s"]["median"])
            if b.get("decode_ratio") is not None:
                ratio.labels(b["backend"]).set(b["decode_ratio"])
            info.labels(b["backend"], b.get("engine", "ollama")).set(1)
        fastest = export.bench.get("fastest")
        if isinstance(fastest, dict) and isinstance(fastest.get("backend"), str):
            Gauge(
                "xpu_bench_fastest",
                "1 for the backend with the highest GPU-side decode median",
                ["backend", "engine"],
                registry=registry,
            ).labels(fastest["backend"], str(fastest.get("engine", "ollama"))).set(1)
        Gauge("xpu_bench_timestamp_seconds", "when the last benchmark ran", registry=registry).set(
            export.bench_mtime or 0
        )

    Gauge("xpu_export_duration_seconds", "how long the probes and checks took", registry=registry).set(export.duration)
    Gauge("xpu_export_timestamp_seconds", "when this export ran", registry=registry).set(export.timestamp)
    version = {s.service: s.version for s in export.services}
    known = services()
    Gauge(
        "xpu_build_info",
        "versions of the stack's parts",
        ["xpu_tool", *(s.dest for s in known), "compute_runtime"],
        registry=registry,
    ).labels(__version__, *(version.get(s.name, "") for s in known), _compute_runtime(report)).set(1)
    return registry


def render(export: Export) -> bytes:
    return generate_latest(registry_for(export))
