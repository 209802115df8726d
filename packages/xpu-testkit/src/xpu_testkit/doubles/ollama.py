"""An Ollama API double for the paths that need an Intel GPU (a successful generate, GPU offload).

Follows ollama/ollama docs/api.md (read November 2026). Modes: ``gpu`` (full offload),
``partial``, ``cpu``, ``http500``, ``malformed``, ``slow`` (answers after ``delay`` s) and
``never`` (a generate stream that never sends done=true).
Not modelled: real token generation (the text is a recorded sample), model loading, /api/chat,
embeddings, pulls, keep_alive expiry, concurrent requests' queueing.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from ._server import LoopbackServer

# ollama/ollama docs/api.md, "Request (No streaming)" response (Ollama docs, 2025; llama3.2)
GENERATE_SAMPLE: dict[str, Any] = {
    "model": "llama3.2",
    "created_at": "2023-08-04T19:22:45.499127Z",
    "response": "The sky is blue because it is the color of the sky.",
    "done": True,
    "done_reason": "stop",
    "context": [1, 2, 3],
    "total_duration": 5043500667,
    "load_duration": 5025959,
    "prompt_eval_count": 26,
    "prompt_eval_duration": 325953000,
    "eval_count": 290,
    "eval_duration": 4709213000,
}
# ollama/ollama docs/api.md, "Generate request (Streaming)": a chunk, then the final object
STREAM_CHUNK: dict[str, Any] = {
    "model": "llama3.2",
    "created_at": "2023-08-04T08:52:19.385406455-07:00",
    "response": "The",
    "done": False,
}
STREAM_FINAL: dict[str, Any] = {
    "model": "llama3.2",
    "created_at": "2023-08-04T19:22:45.499127Z",
    "response": "",
    "done": True,
    "context": [1, 2, 3],
    "total_duration": 10706818083,
    "load_duration": 6338219291,
    "prompt_eval_count": 26,
    "prompt_eval_duration": 130079000,
    "eval_count": 259,
    "eval_duration": 4232710000,
}
# ollama/ollama docs/api.md, "List Running Models" (mistral:latest, 7.2B Q4_0)
PS_SAMPLE: dict[str, Any] = {
    "name": "mistral:latest",
    "model": "mistral:latest",
    "size": 5137025024,
    "digest": "2ae6f6dd7a3dd734790bbbf58b8909a606e0e7e97e94b7604e0aa7ae4490e6d8",
    "details": {
        "parent_model": "",
        "format": "gguf",
        "family": "llama",
        "families": ["llama"],
        "parameter_size": "7.2B",
        "quantization_level": "Q4_0",
    },
    "expires_at": "2024-06-04T14:38:31.83753-07:00",
    "size_vram": 5137025024,
}
# Intel IPEX-LLM Ollama (PyPI bigdl-core-cpp 2.5.0), recorded on a machine without an Intel GPU
# (2026-11-23): the HTTP 500 body of /api/generate when its SYCL runner aborts.
RUNNER_ABORTED: dict[str, Any] = {"error": "llama runner process has terminated: signal: aborted "}
MODES = ("gpu", "partial", "cpu", "http500", "malformed", "slow", "never")


@dataclass
class OllamaDouble(LoopbackServer):
    mode: str = "gpu"
    version: str = "0.12.11"
    delay: float = 0.0
    models: dict[str, str] = field(default_factory=dict)  # name -> digest
    blobs: set[str] = field(default_factory=set)
    requests: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    loaded: str | None = None  # the model the last generate loaded, as /api/ps lists it
    # The response to a generate with options.num_gpu == 0 (a CPU run). The double does not model
    # CPU speed: a test that needs one passes it in; by default the GPU sample is returned.
    cpu_response: dict[str, Any] | None = None
    _server: ThreadingHTTPServer | None = None
    _stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")

    def placement(self) -> dict[str, Any]:
        share = {"gpu": 1.0, "partial": 0.5, "cpu": 0.0}.get(self.mode, 1.0)
        name = self.loaded or str(PS_SAMPLE["name"])
        return dict(PS_SAMPLE, name=name, model=name, size_vram=int(PS_SAMPLE["size"] * share))

    def start(self) -> OllamaDouble:
        double = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # quiet
                pass

            def _body(self) -> bytes:
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _send(self, status: int, payload: Any, raw: bytes | None = None) -> None:
                data = raw if raw is not None else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_HEAD(self) -> None:
                digest = self.path.rsplit("/", 1)[-1]
                self.send_response(200 if digest in double.blobs else 404)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self) -> None:
                double.requests.append(("GET", self.path, {}))
                if self.path == "/api/version":
                    return self._send(200, {"version": double.version})
                if self.path == "/api/tags":
                    return self._send(
                        200,
                        {
                            "models": [
                                {"name": n, "model": n, "digest": d[7:], "size": 469824}
                                for n, d in double.models.items()
                            ]
                        },
                    )
                if self.path == "/api/ps":
                    return self._send(200, {"models": [double.placement()] if double.loaded else []})
                self._send(404, {"error": "not found"})

            def do_DELETE(self) -> None:
                body = json.loads(self._body() or b"{}")
                name = body.get("model") or body.get("name")
                if double.models.pop(name, None) is None and double.models.pop(f"{name}:latest", None) is None:
                    return self._send(404, {"error": f"model '{name}' not found"})
                self._send(200, {})

            def do_POST(self) -> None:
                raw = self._body()
                if self.path.startswith("/api/blobs/"):
                    digest = self.path.rsplit("/", 1)[-1]
                    if "sha256:" + hashlib.sha256(raw).hexdigest() != digest:
                        return self._send(400, {"error": "digest mismatch"})
                    double.blobs.add(digest)
                    return self._send(201, {})
                body = json.loads(raw or b"{}")
                double.requests.append(("POST", self.path, body))
                if self.path == "/api/create":
                    files = body.get("files") or {}
                    digest = next(iter(files.values()), None) or body.get("modelfile", "").partition("@")[2].strip()
                    if digest not in double.blobs:
                        return self._send(400, {"error": "neither 'from' or 'files' was specified"})
                    double.models[f"{body.get('model') or body.get('name')}:latest"] = digest
                    return self._send(200, {"status": "success"})
                if self.path == "/api/show":
                    return self._send(200, {"details": PS_SAMPLE["details"], "modelfile": "", "template": ""})
                if self.path == "/api/generate":
                    return self._generate(body)
                self._send(404, {"error": "not found"})

            def _generate(self, body: dict[str, Any]) -> None:
                name = str(body.get("model"))
                double.loaded = name if ":" in name else f"{name}:latest"
                if double.mode == "http500":
                    return self._send(500, RUNNER_ABORTED)
                if double.mode == "malformed":
                    return self._send(200, None, raw=b'{"model": "llama3.2", "response": "The sk')
                if double.mode == "slow":
                    double._stop.wait(double.delay)
                if body.get("stream") is False:
                    on_cpu = (body.get("options") or {}).get("num_gpu") == 0
                    sample = double.cpu_response if on_cpu and double.cpu_response is not None else GENERATE_SAMPLE
                    return self._send(200, dict(sample, model=body.get("model")))
                self.send_response(200)
                self.send_header("Content-Type", "application/x-ndjson")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                chunks = [STREAM_CHUNK] * 3 + ([] if double.mode == "never" else [STREAM_FINAL])
                try:
                    for chunk in chunks:
                        self._chunk(json.dumps(chunk).encode() + b"\n")
                    while double.mode == "never" and not double._stop.wait(0.2):
                        self._chunk(json.dumps(STREAM_CHUNK).encode() + b"\n")
                    self._chunk(b"")
                except OSError:  # the client went away
                    pass

            def _chunk(self, data: bytes) -> None:
                self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                self.wfile.flush()

        return self._serve(Handler)
