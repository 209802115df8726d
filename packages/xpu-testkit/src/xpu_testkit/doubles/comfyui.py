"""A ComfyUI double for what a real ComfyUI cannot show without an Intel GPU.

The tests run the real ComfyUI (``services.comfyui_server``) for everything it can show on the
CPU. This double exists for the rest: a server whose /system_stats names an ``xpu`` device, and
the execution errors of PyTorch's XPU backend (oneDNN unable to JIT a kernel, FP64 missing on the
GPU, the render node not readable) in the KSampler of the one-step-sd15 workflow, and the device
memory torch holds once the sampler loaded the model (``keeps_models``). Besides those,
the faults of a network path rather than of ComfyUI: ``malformed`` (/system_stats breaks off
mid-JSON), ``slow`` (/system_stats answers after ``delay`` seconds), ``drop_events`` (the /ws
execution events are lost).

Everything else follows ComfyUI 0.8.0 as recorded from the real server (``COMFYUI_VERSION``), and
a contract test runs the same client scenarios against both and compares the message shapes:
output caching (an unchanged node is listed in ``execution_cached`` and not executed; a cached
output node still sends ``executed``), the execution order of ComfyUI's ExecutionList, the
``status`` messages (queue 1 twice at the start, queue 0 before the final ``executing`` null),
``progress_state`` around each node and each sampler step, and the error shapes
(``execution_error`` with a module-qualified exception type and a message ending in a newline,
a plain-text 500 for a prompt that is not a JSON object, 400 from /view for a bad ``type`` or a
path outside the output directory). It really executes the model-free workflow (EmptyImage,
ImageCompositeMasked, SaveImage) with Pillow; for one-step-sd15 it has the test checkpoint and
"samples" by sending the sampler's progress events and saving a noise image made from the seed.

This module is the HTTP and /ws server; how a prompt is validated, cached, ordered and run is
``comfyui_execution``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ._server import LoopbackServer
from .comfyui_execution import KNOWN_NODES, OUTPUT_NODES, XPU_ERRORS, PromptExecution

COMFYUI_VERSION = "0.8.0"  # the version whose messages this double follows
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
# The A770's memory as PyTorch/SYCL report it (16225243136 bytes: "global mem size" in the
# llama.cpp SYCL log quoted in ollama/ollama#2458).
A770_BYTES = 16225243136
XPU_DEVICE = {
    "name": "xpu:0 Intel(R) Arc(TM) A770 Graphics : native",
    "type": "xpu",
    "index": 0,
    "vram_total": A770_BYTES,
    "vram_free": A770_BYTES - (1 << 30),
    "torch_vram_total": 0,
    "torch_vram_free": 0,
}


def _frame(text: str) -> bytes:
    data = text.encode()
    head = bytes([0x81])
    if len(data) < 126:
        head += bytes([len(data)])
    elif len(data) < 1 << 16:
        head += bytes([126]) + len(data).to_bytes(2, "big")
    else:
        head += bytes([127]) + len(data).to_bytes(8, "big")
    return head + data


@dataclass
class ComfyDouble(LoopbackServer, PromptExecution):
    mode: str = "xpu"  # "xpu", or a network fault: "malformed", "slow"
    delay: float = 0.0
    xpu_error: str | None = None  # a key of XPU_ERRORS: the KSampler fails with it
    history: dict[str, Any] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)
    _sockets: dict[str, Any] = field(default_factory=dict)
    _server: ThreadingHTTPServer | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _send_lock: threading.Lock = field(default_factory=threading.Lock)
    _queue_lock: threading.Lock = field(default_factory=threading.Lock)  # one prompt at a time, as ComfyUI
    _cache: dict[str, tuple[str, Any]] = field(default_factory=dict)  # node id -> (signature, value)
    # Lose every execution event on /ws (what a client sees after a reconnect or through a proxy
    # that dropped frames); the run itself and /history are unchanged.
    drop_events: bool = False
    # Whether a loaded checkpoint stays on the device (ComfyUI's default); False: a server that
    # unloads its models after each run (--disable-smart-memory) or never placed them there.
    keeps_models: bool = True
    argv: tuple[str, ...] = ("main.py", "--listen", "127.0.0.1")  # the server's command line, in /system_stats
    _counter: int = 0
    _reserved: int = 0  # torch.xpu's reserved bytes

    def __post_init__(self) -> None:
        if self.mode not in ("xpu", "malformed", "slow"):
            raise ValueError(f"unknown mode {self.mode!r}")
        if self.xpu_error is not None and self.xpu_error not in XPU_ERRORS:
            raise ValueError(f"unknown xpu_error {self.xpu_error!r} (known: {', '.join(XPU_ERRORS)})")

    def _send(self, client_id: str | None, kind: str, data: dict[str, Any]) -> None:
        if self.drop_events and kind != "status":
            return
        targets = [client_id] if client_id is not None else list(self._sockets)
        for target in targets:
            sock = self._sockets.get(target)
            if sock is None:
                continue
            try:
                with self._send_lock:  # whole frames: the handler and the executor both send
                    sock.sendall(_frame(json.dumps({"type": kind, "data": data})))
            except OSError:
                self._sockets.pop(target, None)

    def system_stats(self) -> dict[str, Any]:
        return {
            "system": {
                "os": "linux",
                "ram_total": 33324769280,
                "ram_free": 30000000000,
                "comfyui_version": COMFYUI_VERSION,
                "required_frontend_version": "1.35.9",
                "installed_templates_version": "0.7.67",
                "required_templates_version": "0.7.67",
                "python_version": "3.12.8",
                "pytorch_version": "2.8.0+xpu",
                "embedded_python": False,
                "argv": list(self.argv),
            },
            "devices": [{**XPU_DEVICE, "torch_vram_total": self._reserved}],
        }

    def start(self) -> ComfyDouble:
        double = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _json(
                self, status: int, payload: Any, content: bytes | None = None, ctype: str = "application/json"
            ) -> None:
                data = content if content is not None else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                url = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                if url.path == "/ws":
                    return self._websocket(query.get("clientId", str(uuid.uuid4())))
                if url.path == "/system_stats" and double.mode == "malformed":
                    return self._json(200, None, b'{"system": {"os": "linux", "python_ver')
                if url.path == "/system_stats" and double.mode == "slow":
                    double._stop.wait(double.delay)
                if url.path == "/system_stats":
                    return self._json(200, double.system_stats())
                if url.path.startswith("/object_info"):
                    names = sorted(KNOWN_NODES) if url.path == "/object_info" else [url.path.rsplit("/", 1)[1]]
                    return self._json(
                        200,
                        {
                            n: {"name": n, "display_name": n, "category": "image", "output_node": n in OUTPUT_NODES}
                            for n in names
                            if n in KNOWN_NODES
                        },
                    )
                if url.path == "/queue":
                    return self._json(200, {"queue_running": [], "queue_pending": []})
                if url.path.startswith("/history/"):
                    prompt_id = url.path.rsplit("/", 1)[1]
                    entry = double.history.get(prompt_id)
                    return self._json(200, {prompt_id: entry} if entry else {})
                if url.path == "/view":
                    name = query.get("filename", "")
                    if (
                        query.get("type", "output") not in ("output", "input", "temp")
                        or ".." in name
                        or name.startswith("/")
                    ):
                        return self._json(400, None, b"", "application/octet-stream")
                    data = double.files.get(name)
                    if data is None:
                        return self._json(404, None, b"", "application/octet-stream")
                    return self._json(200, None, data, "image/png")
                self._json(404, None, b"404: Not Found", "text/plain; charset=utf-8")

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path != "/prompt":
                    return self._json(404, None, b"404: Not Found", "text/plain; charset=utf-8")
                try:
                    body = json.loads(raw)
                    workflow = body["prompt"]
                    if not isinstance(workflow, dict):
                        raise TypeError("prompt")
                except (ValueError, KeyError, TypeError):  # aiohttp's page for ComfyUI's unhandled exception
                    self.close_connection = True
                    return self._json(
                        500,
                        None,
                        b"500 Internal Server Error\n\nServer got itself in trouble",
                        "text/plain; charset=utf-8",
                    )
                rejected = double.validate(workflow)
                if rejected:
                    return self._json(*rejected)
                prompt_id = str(uuid.uuid4())
                number = len(double.history)
                for _ in range(2):  # ComfyUI announces the queued prompt twice
                    double._send(None, "status", {"status": {"exec_info": {"queue_remaining": 1}}})
                threading.Thread(
                    target=double._execute, args=(prompt_id, number, workflow, body.get("client_id", "")), daemon=True
                ).start()
                self._json(200, {"prompt_id": prompt_id, "number": number, "node_errors": {}})

            def _websocket(self, client_id: str) -> None:
                key = self.headers.get("Sec-WebSocket-Key", "")
                accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
                # registered before the handshake answer: a client may queue a prompt the moment it
                # has the 101, and its events must not be sent to nobody (a race under load)
                double._sockets[client_id] = self.connection
                self.send_response(101, "Switching Protocols")
                self.send_header("Upgrade", "websocket")
                self.send_header("Connection", "Upgrade")
                self.send_header("Sec-WebSocket-Accept", accept)
                self.end_headers()
                self.wfile.flush()
                double._send(client_id, "status", {"status": {"exec_info": {"queue_remaining": 0}}, "sid": client_id})
                try:
                    while not double._stop.is_set():
                        data = self.connection.recv(1024)
                        if not data:
                            break
                        if data[0] & 0x0F == 0x8:  # a close frame: answer it, as aiohttp does
                            self.connection.sendall(b"\x88\x00")
                            break
                except OSError:
                    pass
                double._sockets.pop(client_id, None)
                self.close_connection = True

        return self._serve(Handler)
