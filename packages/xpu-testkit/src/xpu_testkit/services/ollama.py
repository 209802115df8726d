"""An Ollama API client for end-to-end checks (requests; the base URL may be forwarded from a VM).

It creates a model from a local GGUF file without network (servers from 0.5.5 on: upload the blob,
then ``/api/create`` with ``files``; older servers such as Intel's IPEX-LLM build, which reports
version 0.0.0: a Modelfile ``FROM @sha256:<blob>``), generates deterministically, reads where the
model runs (``/api/ps``), and turns failures into findings with a cause and a fix.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from ..errors import XpuError
from ..model import Finding, Severity

FILES_API_VERSION = (0, 5, 5)  # /api/create takes "files" from this release on


class OllamaError(XpuError):
    """Ollama did not answer as its API says it should."""

    def __init__(self, message: str, *, body: str = "", status: int | None = None) -> None:
        super().__init__(message)
        self.body = body
        self.status = status


@dataclass(frozen=True)
class Generation:
    """One finished /api/generate, with the timing fields Ollama reports (nanoseconds)."""

    text: str
    done_reason: str | None
    eval_count: int
    eval_duration: int
    prompt_eval_count: int
    prompt_eval_duration: int
    load_duration: int
    total_duration: int
    chunks: int = 1

    @property
    def decode_tokens_per_s(self) -> float:
        return self.eval_count / (self.eval_duration / 1e9) if self.eval_duration else 0.0

    @property
    def prompt_tokens_per_s(self) -> float:
        return self.prompt_eval_count / (self.prompt_eval_duration / 1e9) if self.prompt_eval_duration else 0.0


@dataclass(frozen=True)
class Placement:
    """Where a loaded model runs, from /api/ps: size_vram against size."""

    model: str
    size: int
    size_vram: int

    @property
    def offload(self) -> str:
        if self.size_vram <= 0:
            return "cpu"
        return "gpu" if self.size_vram >= self.size else "partial"

    @property
    def gpu_share(self) -> float:
        return min(1.0, self.size_vram / self.size) if self.size else 0.0


def parse_version(text: str) -> tuple[int, int, int]:
    m = re.match(r"v?(\d+)\.(\d+)\.(\d+)", text or "")
    return (int(m.group(1)), int(m.group(2)), int(m.group(3))) if m else (0, 0, 0)


def _generation(final: dict[str, Any], text: str, chunks: int = 1) -> Generation:
    missing = [k for k in ("eval_count", "eval_duration", "prompt_eval_count", "load_duration", "total_duration")
               if k not in final]
    if missing:
        raise OllamaError(f"generate response lacks {', '.join(missing)}", body=json.dumps(final)[:500])
    return Generation(
        text=text, done_reason=final.get("done_reason"), eval_count=int(final["eval_count"]),
        eval_duration=int(final["eval_duration"]), prompt_eval_count=int(final["prompt_eval_count"]),
        prompt_eval_duration=int(final.get("prompt_eval_duration", 0)), load_duration=int(final["load_duration"]),
        total_duration=int(final["total_duration"]), chunks=chunks,
    )


@dataclass
class OllamaClient:
    base_url: str
    connect_timeout: float = 5.0
    read_timeout: float = 600.0
    session: requests.Session = field(default_factory=requests.Session)

    def _url(self, path: str) -> str:
        return self.base_url.rstrip("/") + path

    def _request(self, method: str, path: str, *, timeout: float | None = None, **kwargs: Any) -> requests.Response:
        try:
            response = self.session.request(method, self._url(path),
                                            timeout=(self.connect_timeout, timeout or self.read_timeout), **kwargs)
        except requests.ConnectionError as exc:
            raise OllamaError(f"cannot connect to Ollama at {self.base_url}: {type(exc).__name__}") from None
        except requests.Timeout:
            raise OllamaError(f"Ollama at {self.base_url} did not answer {method} {path} within "
                              f"{timeout or self.read_timeout:.0f} s") from None
        if response.status_code >= 400:
            body = response.text[:2000]
            try:
                message = response.json().get("error", body)
            except ValueError:
                message = body
            raise OllamaError(f"{method} {path}: HTTP {response.status_code}: {message}", body=body,
                              status=response.status_code)
        return response

    def _json(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        response = self._request(method, path, **kwargs)
        try:
            value = response.json()
        except ValueError:
            raise OllamaError(f"{method} {path}: not JSON: {response.text[:200]!r}", body=response.text[:2000]) from None
        if not isinstance(value, dict):
            raise OllamaError(f"{method} {path}: expected a JSON object, got {type(value).__name__}")
        return value

    def version(self) -> str:
        return str(self._json("GET", "/api/version").get("version", ""))

    def tags(self) -> list[dict[str, Any]]:
        return list(self._json("GET", "/api/tags").get("models", []))

    def show(self, model: str) -> dict[str, Any]:
        return self._json("POST", "/api/show", json={"model": model, "name": model})

    def delete(self, model: str) -> None:
        self._request("DELETE", "/api/delete", json={"model": model, "name": model})

    def ps(self) -> list[Placement]:
        return [Placement(str(m.get("name") or m.get("model")), int(m.get("size", 0)), int(m.get("size_vram", 0)))
                for m in self._json("GET", "/api/ps").get("models", [])]

    def push_blob(self, data: bytes) -> str:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        try:
            self._request("HEAD", f"/api/blobs/{digest}", timeout=30)
        except OllamaError as exc:
            if exc.status != 404:
                raise
            self._request("POST", f"/api/blobs/{digest}", data=data)
        return digest

    def create_from_gguf(self, model: str, gguf: Path) -> str:
        """Create ``model`` from a local GGUF file, the way this server's version understands."""
        digest = self.push_blob(gguf.read_bytes())
        if parse_version(self.version()) >= FILES_API_VERSION:
            body: dict[str, Any] = {"model": model, "files": {gguf.name: digest}, "stream": False}
        else:
            body = {"name": model, "modelfile": f"FROM @{digest}\n", "stream": False}
        result = self._json("POST", "/api/create", json=body)
        if result.get("status") != "success":
            raise OllamaError(f"create {model}: {result}", body=json.dumps(result))
        return digest

    def generate(self, model: str, prompt: str, *, num_predict: int = 16, seed: int = 42, num_gpu: int | None = None,
                 stream: bool = False, timeout: float | None = None, deadline: float = 900.0) -> Generation:
        """Generate with a fixed seed and temperature 0. ``timeout`` bounds each read; ``deadline``
        bounds a whole stream (a stream that keeps sending chunks but never finishes)."""
        options: dict[str, Any] = {"seed": seed, "temperature": 0, "num_predict": num_predict}
        if num_gpu is not None:
            options["num_gpu"] = num_gpu
        body = {"model": model, "prompt": prompt, "stream": stream, "options": options}
        if not stream:
            final = self._json("POST", "/api/generate", json=body, timeout=timeout)
            return _generation(final, str(final.get("response", "")))
        response = self._request("POST", "/api/generate", json=body, stream=True, timeout=timeout)
        text, chunks = [], 0
        started = time.monotonic()
        for chunk in _json_lines(response):
            if time.monotonic() - started > deadline:
                response.close()
                raise OllamaError(f"POST /api/generate: not done after {deadline:.0f} s ({chunks} chunks)")
            if "error" in chunk:
                raise OllamaError(f"POST /api/generate: {chunk['error']}", body=json.dumps(chunk))
            chunks += 1
            text.append(str(chunk.get("response", "")))
            if chunk.get("done"):
                return _generation(chunk, "".join(text), chunks)
        raise OllamaError("POST /api/generate: the stream ended before done=true")


def _json_lines(response: requests.Response) -> Iterator[dict[str, Any]]:
    try:
        for line in response.iter_lines():
            if line.strip():
                try:
                    yield json.loads(line)
                except ValueError:
                    raise OllamaError(f"stream line is not JSON: {line[:200]!r}") from None
    except requests.exceptions.ChunkedEncodingError:
        raise OllamaError("the generate stream broke off") from None
    except requests.exceptions.ReadTimeout:
        raise OllamaError("no data on the generate stream before the read timeout") from None


# What Ollama and its runners print (HTTP error bodies and server logs), and what it means.
SIGNATURES: tuple[tuple[re.Pattern[str], Finding], ...] = (
    (re.compile(r"DeviceList is empty|can not find preferred GPU platform|No device of requested type available"),
     Finding("ollama-no-sycl-gpu", Severity.FAIL, "No Intel GPU visible to SYCL: the model runner aborted",
             ("SYCL runtime found no GPU device (see the level-zero and sycl probes)",),
             fix="give the service a working Level Zero driver and the render group; check ONEAPI_DEVICE_SELECTOR",
             nixos="hardware.intel-xpu.enable = true; services.ollama.intel.enable = true;")),
    (re.compile(r"dropping integrated GPU"),
     Finding("ollama-igpu-dropped", Severity.WARN, "Ollama dropped the integrated GPU", ("log: dropping integrated GPU",),
             fix="set OLLAMA_IGPU_ENABLE=1", nixos='services.ollama.environmentVariables.OLLAMA_IGPU_ENABLE = "1";')),
    (re.compile(r"ext_intel_free_memory is not supported"),
     Finding("no-free-vram-data", Severity.WARN, "SYCL cannot report free VRAM", ("log: ext_intel_free_memory is not supported",),
             fix="set ZES_ENABLE_SYSMAN=1", nixos='services.ollama.environmentVariables.ZES_ENABLE_SYSMAN = "1";')),
    (re.compile(r"could not create a primitive|failed to map segment|mprotect.*EACCES", re.I),
     Finding("mdwe-blocks-jit", Severity.FAIL, "JIT-compiled GPU code is blocked (MemoryDenyWriteExecute)",
             ("log: could not create a primitive",), fix="turn MemoryDenyWriteExecute off for the service",
             nixos="systemd.services.ollama.serviceConfig.MemoryDenyWriteExecute = lib.mkForce false;")),
    (re.compile(r"llama runner process has terminated"),
     Finding("ollama-runner-died", Severity.FAIL, "The Ollama model runner died", ("HTTP error: llama runner process has terminated",),
             fix="read the server log around the crash; with an Intel backend this is usually a GPU runtime problem")),
)


def diagnose_text(*texts: str) -> list[Finding]:
    """Findings for the known failure signatures in error bodies and log text, most specific first."""
    joined = "\n".join(texts)
    found = []
    for pattern, finding in SIGNATURES:
        m = pattern.search(joined)
        if m:
            found.append(Finding(finding.id, finding.severity, finding.title, (m.group(0),), finding.fix,
                                 finding.nixos, finding.refs))
    if any(f.id != "ollama-runner-died" and f.severity is Severity.FAIL for f in found):
        found = [f for f in found if f.id != "ollama-runner-died"]
    return found
