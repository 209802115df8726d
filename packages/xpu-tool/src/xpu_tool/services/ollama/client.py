"""An Ollama API client for end-to-end checks (the base URL may be forwarded from a VM).

It creates a model from a local GGUF file without network (servers from 0.5.5 on: upload the blob,
then ``/api/create`` with ``files``; older servers such as Intel's IPEX-LLM build, which reports
version 0.0.0: a Modelfile ``FROM @sha256:<blob>``), generates deterministically, reads where the
model runs (``/api/ps``), and turns failures into findings with a cause and a fix.

Every call goes through ``xpu_tool.http``: a total deadline per call (``read_timeout`` for
create and generate, at most ``API_TIMEOUT`` for the small API calls), within the client's own
``deadline`` when it has one; an answer of the wrong shape (a list for an object, counters as
strings) is an OllamaError naming it.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from ... import http
from ...deadline import Deadline
from ...http import HttpError
from ...model import Finding, NixosSetting, Severity
from .. import api
from ..api import ApiClient, ServiceError

FILES_API_VERSION = (0, 5, 5)  # /api/create takes "files" from this release on
API_TIMEOUT = 30.0  # version, tags, show, ps, delete, blob lookups


class OllamaError(ServiceError):
    """Ollama did not answer as its API says it should (``kind``: see ServiceError)."""


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


def _count(value: dict[str, Any], key: str, where: str, default: int | None = None) -> int:
    """A non-negative integer counter from an answer; a string, float or bool there is an error."""
    found = value.get(key, default)
    if isinstance(found, bool) or not isinstance(found, int) or found < 0:
        raise OllamaError(
            f"{where}: {key} is {http.quote(json.dumps(found), 60)}, not a count",
            body=json.dumps(value)[:2000],
            kind="bad-body",
        )
    return found


def _list(value: dict[str, Any], key: str, where: str) -> list[dict[str, Any]]:
    items = value.get(key) or []
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise OllamaError(
            f"{where}: {key} is not a list of objects: {http.quote(json.dumps(items))}",
            body=json.dumps(value)[:2000],
            kind="bad-body",
        )
    return items


def _generation(final: dict[str, Any], text: str, chunks: int = 1) -> Generation:
    where = "generate response"
    missing = [
        k
        for k in ("eval_count", "eval_duration", "prompt_eval_count", "load_duration", "total_duration")
        if k not in final
    ]
    if missing:
        raise OllamaError(f"{where} lacks {', '.join(missing)}", body=json.dumps(final)[:500], kind="bad-body")
    reason = final.get("done_reason")
    return Generation(
        text=text,
        done_reason=reason if isinstance(reason, str) else None,
        eval_count=_count(final, "eval_count", where),
        eval_duration=_count(final, "eval_duration", where),
        prompt_eval_count=_count(final, "prompt_eval_count", where),
        prompt_eval_duration=_count(final, "prompt_eval_duration", where, 0),
        load_duration=_count(final, "load_duration", where),
        total_duration=_count(final, "total_duration", where),
        chunks=chunks,
    )


@dataclass
class OllamaClient(ApiClient):
    """``read_timeout``: the total time one create or generate may take. ``deadline``: one bound
    over every call of this client (``xpu export``'s quick check)."""

    base_url: str
    read_timeout: float = 600.0
    deadline: Deadline | None = None

    service: ClassVar[str] = "Ollama"
    error: ClassVar[type[ServiceError]] = OllamaError

    def _request(self, method: str, path: str, *, timeout: float | None = None, **kwargs: Any) -> http.Response:
        return self.request(method, path, deadline=self.call_deadline(timeout or self.read_timeout), **kwargs)

    def _json(self, method: str, path: str, *, timeout: float | None = None, **kwargs: Any) -> dict[str, Any]:
        return self.json_object(method, path, deadline=self.call_deadline(timeout or self.read_timeout), **kwargs)

    def _api(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        return self._json(method, path, timeout=min(API_TIMEOUT, self.read_timeout), **kwargs)

    def version(self) -> str:
        version = self._api("GET", "/api/version").get("version", "")
        if not isinstance(version, str):
            raise OllamaError(f"GET /api/version: version is {http.quote(json.dumps(version), 60)}", kind="bad-body")
        return version

    def tags(self) -> list[dict[str, Any]]:
        return _list(self._api("GET", "/api/tags"), "models", "GET /api/tags")

    def show(self, model: str) -> dict[str, Any]:
        return self._api("POST", "/api/show", json_body={"model": model, "name": model})

    def delete(self, model: str) -> None:
        self._request(
            "DELETE",
            "/api/delete",
            timeout=min(API_TIMEOUT, self.read_timeout),
            json_body={"model": model, "name": model},
        )

    def ps(self) -> list[Placement]:
        where = "GET /api/ps"
        return [
            Placement(
                str(m.get("name") or m.get("model")), _count(m, "size", where, 0), _count(m, "size_vram", where, 0)
            )
            for m in _list(self._api("GET", "/api/ps"), "models", where)
        ]

    def push_blob(self, data: bytes) -> str:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        try:
            self._request("HEAD", f"/api/blobs/{digest}", timeout=min(API_TIMEOUT, self.read_timeout))
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
        result = self._json("POST", "/api/create", json_body=body)
        if result.get("status") != "success":
            raise OllamaError(f"create {model}: {http.quote(json.dumps(result))}", body=json.dumps(result)[:2000])
        return digest

    def generate(
        self,
        model: str,
        prompt: str,
        *,
        num_predict: int = 16,
        seed: int = 42,
        num_gpu: int | None = None,
        stream: bool = False,
        timeout: float | None = None,
        deadline: float | None = None,
    ) -> Generation:
        """Generate with a fixed seed and temperature 0, within ``timeout`` (default ``read_timeout``)
        or ``deadline`` seconds, whichever is shorter: the whole answer, streamed or not."""
        options: dict[str, Any] = {"seed": seed, "temperature": 0, "num_predict": num_predict}
        if num_gpu is not None:
            options["num_gpu"] = num_gpu
        body = {"model": model, "prompt": prompt, "stream": stream, "options": options}
        seconds = min(timeout or self.read_timeout, deadline or float("inf"))
        if not stream:
            final = self._json("POST", "/api/generate", json_body=body, timeout=seconds)
            return _generation(final, str(final.get("response", "")))
        limit = self.call_deadline(seconds)
        seconds = limit.seconds
        try:
            with http.open_exchange(
                "POST", self.url("/api/generate"), deadline=limit, json_body=body, max_bytes=api.MAX_ANSWER
            ) as exchange:
                if exchange.status >= 400:
                    body_bytes = exchange.read()
                    raise HttpError("status", "", status=exchange.status, body=body_bytes)
                return _stream(exchange)
        except HttpError as exc:
            if exc.kind == "timeout":
                raise OllamaError(f"POST /api/generate: not done after {seconds:g} s ({exc})", kind=exc.kind) from None
            raise self.failure("POST", "/api/generate", exc, limit) from None


def _stream(exchange: http.Exchange) -> Generation:
    """Follow a generate stream to its done=true line."""
    text, chunks = [], 0
    for line in exchange.lines():
        if not line.strip():
            continue
        try:
            chunk = json.loads(line)
        except (ValueError, RecursionError):
            raise OllamaError(
                f"POST /api/generate: a stream line is not JSON: {http.quote(line)}", kind="bad-body"
            ) from None
        if not isinstance(chunk, dict):
            raise OllamaError(
                f"POST /api/generate: a stream line is not an object: {http.quote(line)}", kind="bad-body"
            )
        if "error" in chunk:
            raise OllamaError(f"POST /api/generate: {http.quote(str(chunk['error']))}", body=json.dumps(chunk)[:2000])
        chunks += 1
        text.append(str(chunk.get("response", "")))
        if chunk.get("done"):
            return _generation(chunk, "".join(text), chunks)
    raise OllamaError("POST /api/generate: the stream ended before done=true", kind="protocol")


# What Ollama and its runners print (HTTP error bodies and server logs), and what it means.
SIGNATURES: tuple[tuple[re.Pattern[str], Finding], ...] = (
    (
        re.compile(r"DeviceList is empty|can not find preferred GPU platform|No device of requested type available"),
        Finding(
            "ollama-no-sycl-gpu",
            Severity.FAIL,
            "No Intel GPU visible to SYCL: the model runner aborted",
            ("SYCL runtime found no GPU device (see the level-zero and sycl probes)",),
            fix="give the service a working Level Zero driver and the render group; check ONEAPI_DEVICE_SELECTOR",
            settings=(
                NixosSetting("hardware.intel-xpu.enable", "true"),
                NixosSetting("services.ollama.intel.enable", "true"),
            ),
        ),
    ),
    (
        re.compile(r"dropping integrated GPU"),
        Finding(
            "ollama-igpu-dropped",
            Severity.WARN,
            "Ollama dropped the integrated GPU",
            ("log: dropping integrated GPU",),
            fix="set OLLAMA_IGPU_ENABLE=1",
            settings=(NixosSetting("services.ollama.intel.igpu", "true"),),
            nixos='(sets services.ollama.environmentVariables.OLLAMA_IGPU_ENABLE = "1")',
        ),
    ),
    (
        re.compile(r"ext_intel_free_memory is not supported"),
        Finding(
            "no-free-vram-data",
            Severity.WARN,
            "SYCL cannot report free VRAM",
            ("log: ext_intel_free_memory is not supported",),
            fix="set ZES_ENABLE_SYSMAN=1",
            settings=(NixosSetting("services.ollama.environmentVariables.ZES_ENABLE_SYSMAN", '"1"'),),
            nixos="(services.ollama.intel.enable sets it)",
        ),
    ),
    (
        re.compile(r"could not create a primitive|failed to map segment|mprotect.*EACCES", re.I),
        Finding(
            "mdwe-blocks-jit",
            Severity.FAIL,
            "JIT-compiled GPU code is blocked (MemoryDenyWriteExecute)",
            ("log: could not create a primitive",),
            fix="turn MemoryDenyWriteExecute off for the service",
            settings=(
                NixosSetting("systemd.services.ollama.serviceConfig.MemoryDenyWriteExecute", "lib.mkForce false"),
            ),
        ),
    ),
    # Ollama's two words for it: the runner died while loading, or once it was serving
    (
        re.compile(r"llama runner process (?:has terminated|no longer running)"),
        Finding(
            "ollama-runner-died",
            Severity.FAIL,
            "The Ollama model runner died",
            ("HTTP error: llama runner process has terminated",),
            fix="read the server log around the crash; with an Intel backend this is usually a GPU runtime problem",
        ),
    ),
)


def diagnose_text(*texts: str) -> list[Finding]:
    """Findings for the known failure signatures in error bodies and log text, most specific first."""
    joined = "\n".join(texts)
    found = []
    for pattern, finding in SIGNATURES:
        m = pattern.search(joined)
        if m:
            found.append(
                Finding(
                    finding.id, finding.severity, finding.title, (m.group(0),), finding.fix, finding.nixos, finding.refs
                )
            )
    if any(f.id != "ollama-runner-died" and f.severity is Severity.FAIL for f in found):
        found = [f for f in found if f.id != "ollama-runner-died"]
    return found
