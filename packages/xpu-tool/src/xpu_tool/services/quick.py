"""Quick service checks: does an Ollama, a ComfyUI or a llama-server answer, and what does it report
(no generation).

Each is bounded by one wall-clock ``timeout`` and never raises for a service that fails: the
failure is the ``error`` of its ServiceState, as xpu_check_error's reason label
(docs/operations.md): timeout, unreachable, server-error or error.
"""

from __future__ import annotations

from dataclasses import dataclass

from .. import http
from ..http import Deadline, HttpError
from .llama_cpp import LlamaCppClient, LlamaCppError
from .ollama import OllamaClient, OllamaError


@dataclass(frozen=True)
class ServiceState:
    """A quick service check: did it answer, and what did it report (no generation)."""

    service: str
    url: str
    up: bool
    version: str = ""
    error: str | None = None
    models: tuple[tuple[str, float], ...] = ()  # (model, size_vram / size) for Ollama


def _reason(kind: str, status: int | None) -> str:
    """xpu_check_error's reason label (docs/operations.md) for a bounded HTTP failure kind."""
    if kind in ("timeout", "unreachable"):
        return kind
    if kind == "status" and status is not None and status >= 500:
        return "server-error"
    return "error"


def check_ollama_quickly(url: str, timeout: float) -> ServiceState:
    """Version and loaded models, both within ``timeout`` seconds in all."""
    client = OllamaClient(url, read_timeout=timeout, deadline=Deadline.after(timeout))
    try:
        version = client.version()
        models = tuple((p.model, (p.size_vram / p.size) if p.size else 0.0) for p in client.ps())
    except OllamaError as exc:
        return ServiceState("ollama", url, False, error=_reason(exc.kind, exc.status))
    return ServiceState("ollama", url, True, version, models=models)


def check_comfyui_quickly(url: str, timeout: float) -> ServiceState:
    """ComfyUI's /system_stats within ``timeout`` seconds; its version from system.comfyui_version."""
    try:
        stats = http.get_json(url.rstrip("/") + "/system_stats", deadline=Deadline.after(timeout),
                              max_bytes=1024 * 1024)
    except HttpError as exc:
        return ServiceState("comfyui", url, False, error=_reason(exc.kind, exc.status))
    system = stats.get("system")
    if not isinstance(system, dict):
        return ServiceState("comfyui", url, False, error="error")
    return ServiceState("comfyui", url, True, str(system.get("comfyui_version", ""))[:100])


def check_llama_cpp_quickly(url: str, timeout: float) -> ServiceState:
    """llama-server's /health (ok, not loading) and /props within ``timeout`` seconds in all; its
    version is /props' build_info. No models: where a model sits is only in the server's log."""
    client = LlamaCppClient(url, Deadline.after(timeout))
    try:
        status = client.health()
        props = client.props()
    except LlamaCppError as exc:
        return ServiceState("llama-cpp", url, False, error=_reason(exc.kind, exc.status))
    if status != "ok":
        return ServiceState("llama-cpp", url, False, error="error")
    return ServiceState("llama-cpp", url, True, props.build_info[:100])
