"""A ComfyUI double: /system_stats, /object_info, /prompt, /ws, /history, /view.

Follows ComfyUI's server.py (the /system_stats, /prompt and history shapes; the websocket event
sequence of execution.py). It really executes the model-free workflow (EmptyImage,
ImageCompositeMasked, SaveImage) with Pillow, so the image a client fetches is the one the
workflow describes. It has no models: a workflow that loads a checkpoint is rejected the way
ComfyUI rejects a checkpoint it does not have. Modes: ``xpu``, ``cpu`` (/system_stats reports the
CPU, as after a silent CPU fallback), ``error`` (an execution_error), ``never`` (the run never
finishes), ``http500`` (/prompt answers aiohttp's plain 500 page), ``malformed`` (/system_stats
breaks off mid-JSON), ``slow`` (/system_stats answers after ``delay`` seconds). Not modelled: the queue with several clients, previews, interrupts, custom nodes,
upload endpoints.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from ._server import LoopbackServer
from urllib.parse import parse_qs, urlsplit

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
# The A770's memory as PyTorch/SYCL report it (16225243136 bytes: "global mem size" in the
# llama.cpp SYCL log quoted in ollama/ollama#2458).
A770_BYTES = 16225243136
DEVICES = {
    "xpu": {"name": "xpu:0 Intel(R) Arc(TM) A770 Graphics : native", "type": "xpu", "index": 0,
            "vram_total": A770_BYTES, "vram_free": A770_BYTES - (1 << 30), "torch_vram_total": 0, "torch_vram_free": 0},
    "cpu": {"name": "cpu", "type": "cpu", "index": None, "vram_total": 25276063744, "vram_free": 20000000000,
            "torch_vram_total": 25276063744, "torch_vram_free": 20000000000},
}
# oneDNN's message when it cannot JIT a kernel (intel-xpu-facts.md, "What users hit" 6)
ERROR_MESSAGE = "could not create a primitive"
KNOWN_NODES = {"EmptyImage", "ImageCompositeMasked", "SaveImage", "CheckpointLoaderSimple", "CLIPTextEncode",
               "EmptyLatentImage", "KSampler", "VAEDecode"}


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


def _render(workflow: dict[str, Any]) -> dict[str, bytes]:
    """Execute the image nodes: returns {save node id: PNG bytes}."""
    from PIL import Image  # noqa: PLC0415

    images: dict[str, Any] = {}
    outputs: dict[str, bytes] = {}

    def value(node_id: str) -> Any:
        if node_id not in images:
            node = workflow[node_id]
            i = node["inputs"]
            kind = node["class_type"]
            if kind == "EmptyImage":
                c = int(i.get("color", 0))
                images[node_id] = Image.new("RGB", (int(i["width"]), int(i["height"])), (c >> 16 & 255, c >> 8 & 255, c & 255))
            elif kind == "ImageCompositeMasked":
                out = value(i["destination"][0]).copy()
                out.paste(value(i["source"][0]), (int(i.get("x", 0)), int(i.get("y", 0))))
                images[node_id] = out
            else:
                raise ValueError(kind)
        return images[node_id]

    for node_id, node in workflow.items():
        if node["class_type"] == "SaveImage":
            buf = io.BytesIO()
            value(node["inputs"]["images"][0]).save(buf, "PNG")
            outputs[node_id] = buf.getvalue()
    return outputs


@dataclass
class ComfyDouble(LoopbackServer):
    mode: str = "xpu"
    delay: float = 0.0
    history: dict[str, Any] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)
    _sockets: dict[str, Any] = field(default_factory=dict)
    _server: ThreadingHTTPServer | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _send_lock: threading.Lock = field(default_factory=threading.Lock)
    # Lose every execution event on /ws (what a client sees after a reconnect or through a proxy
    # that dropped frames); the run itself and /history are unchanged.
    drop_events: bool = False
    _counter: int = 0

    def _send(self, client_id: str, kind: str, data: dict[str, Any]) -> None:
        if self.drop_events and kind != "status":
            return
        sock = self._sockets.get(client_id)
        if sock is not None:
            try:
                with self._send_lock:  # whole frames: the handler and the executor both send
                    sock.sendall(_frame(json.dumps({"type": kind, "data": data})))
            except OSError:
                self._sockets.pop(client_id, None)

    def _execute(self, prompt_id: str, number: int, workflow: dict[str, Any], client_id: str) -> None:
        now = lambda: int(time.time() * 1000)  # noqa: E731
        self._send(client_id, "status", {"status": {"exec_info": {"queue_remaining": 1}}})
        self._send(client_id, "execution_start", {"prompt_id": prompt_id, "timestamp": now()})
        self._send(client_id, "execution_cached", {"nodes": [], "prompt_id": prompt_id, "timestamp": now()})
        messages = [["execution_start", {"prompt_id": prompt_id, "timestamp": now()}]]
        for node_id, node in workflow.items():
            self._send(client_id, "executing", {"node": node_id, "display_node": node_id, "prompt_id": prompt_id})
            if self.mode == "never":
                while not self._stop.wait(0.2):
                    self._send(client_id, "progress", {"value": 0, "max": 1, "prompt_id": prompt_id, "node": node_id})
                return
            if self.mode == "error" and node["class_type"] != "EmptyImage":
                error = {"prompt_id": prompt_id, "node_id": node_id, "node_type": node["class_type"], "executed": [],
                         "exception_message": ERROR_MESSAGE, "exception_type": "RuntimeError", "traceback": [],
                         "current_inputs": {}, "current_outputs": {}, "timestamp": now()}
                self._send(client_id, "execution_error", error)
                self.history[prompt_id] = {"prompt": [number, prompt_id, workflow, {}, []], "outputs": {},
                                           "status": {"status_str": "error", "completed": False,
                                                      "messages": messages + [["execution_error", error]]}}
                return
        outputs = {}
        for node_id, png in _render(workflow).items():
            self._counter += 1
            prefix = workflow[node_id]["inputs"].get("filename_prefix", "ComfyUI")
            name = f"{prefix}_{self._counter:05}_.png"
            self.files[name] = png
            outputs[node_id] = {"images": [{"filename": name, "subfolder": "", "type": "output"}]}
            self._send(client_id, "executed", {"node": node_id, "display_node": node_id, "output": outputs[node_id],
                                               "prompt_id": prompt_id})
        self._send(client_id, "execution_success", {"prompt_id": prompt_id, "timestamp": now()})
        self.history[prompt_id] = {"prompt": [number, prompt_id, workflow, {"client_id": client_id}, list(outputs)],
                                   "outputs": outputs,
                                   "status": {"status_str": "success", "completed": True,
                                              "messages": messages + [["execution_success", {"prompt_id": prompt_id}]]}}
        self._send(client_id, "executing", {"node": None, "prompt_id": prompt_id})

    def _validate(self, workflow: dict[str, Any]) -> tuple[int, dict[str, Any]] | None:
        for node_id, node in workflow.items():
            kind = node.get("class_type")
            if kind not in KNOWN_NODES:
                return 400, {"error": {"type": "invalid_prompt", "message": f"Cannot execute because node {kind} does "
                                       "not exist.", "details": f"Node ID '#{node_id}'", "extra_info": {}},
                             "node_errors": {}}
            if kind == "CheckpointLoaderSimple":
                name = node["inputs"].get("ckpt_name")
                error = {"type": "value_not_in_list", "message": "Value not in list",
                         "details": f"ckpt_name: '{name}' not in []", "extra_info": {"input_name": "ckpt_name"}}
                return 400, {"error": {"type": "prompt_outputs_failed_validation", "message": "Prompt outputs failed "
                                       "validation", "details": "", "extra_info": {}},
                             "node_errors": {node_id: {"errors": [error], "dependent_outputs": [],
                                                       "class_type": kind}}}
        return None

    def start(self) -> ComfyDouble:
        double = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _json(self, status: int, payload: Any, content: bytes | None = None, ctype: str = "application/json") -> None:
                data = content if content is not None else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802
                url = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                if url.path == "/ws":
                    return self._websocket(query.get("clientId", str(uuid.uuid4())))
                if url.path == "/system_stats" and double.mode == "malformed":
                    return self._json(200, None, b'{"system": {"os": "posix", "python_ver')
                if url.path == "/system_stats" and double.mode == "slow":
                    double._stop.wait(double.delay)
                if url.path == "/system_stats":
                    return self._json(200, {"system": {"os": "posix", "python_version": "3.12.8", "embedded_python": False,
                                                       "comfyui_version": "0.3.62", "pytorch_version": "2.8.0+xpu"},
                                            "devices": [DEVICES["cpu" if double.mode == "cpu" else "xpu"]]})
                if url.path.startswith("/object_info"):
                    names = sorted(KNOWN_NODES) if url.path == "/object_info" else [url.path.rsplit("/", 1)[1]]
                    return self._json(200, {n: {"name": n, "display_name": n, "category": "image", "output_node": n == "SaveImage"}
                                            for n in names if n in KNOWN_NODES})
                if url.path.startswith("/history/"):
                    prompt_id = url.path.rsplit("/", 1)[1]
                    entry = double.history.get(prompt_id)
                    return self._json(200, {prompt_id: entry} if entry else {})
                if url.path == "/view":
                    data = double.files.get(query.get("filename", ""))
                    if data is None:
                        return self._json(404, None, b"", "text/plain")
                    return self._json(200, None, data, "image/png")
                self._json(404, {"error": "not found"})

            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                if self.path != "/prompt":
                    return self._json(404, {"error": "not found"})
                if double.mode == "http500":  # aiohttp's default page for an unhandled exception
                    return self._json(500, None, b"500 Internal Server Error\n\nServer got itself in trouble",
                                      "text/plain; charset=utf-8")
                workflow = body.get("prompt")
                if not isinstance(workflow, dict):
                    return self._json(400, {"error": {"type": "no_prompt", "message": "No prompt provided",
                                                      "details": "No prompt provided", "extra_info": {}}, "node_errors": {}})
                rejected = double._validate(workflow)
                if rejected:
                    return self._json(*rejected)
                prompt_id = str(uuid.uuid4())
                number = len(double.history)
                threading.Thread(target=double._execute, args=(prompt_id, number, workflow, body.get("client_id", "")),
                                 daemon=True).start()
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
