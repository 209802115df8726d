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
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import random
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ..services.sd15_checkpoint import NAME as CHECKPOINT_NAME
from ._server import LoopbackServer

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
# On an XPU, ComfyUI 0.8.0 reports torch.xpu's reserved bytes as torch_vram_total
# (comfy/model_management.py, get_total_memory): 0 until a model is loaded onto the device, then
# about the model's size, kept while ComfyUI keeps the model loaded. Here: the test checkpoint's
# size (486,559,726 bytes) in the allocator's 2 MiB blocks; the check asks only for more than 0.
SD15_RESERVED = -(-486_559_726 // (2 << 20)) * (2 << 20)
# What PyTorch's XPU backend raises, as RuntimeError (ComfyUI reports builtins unqualified, other
# types module-qualified, and the message followed by a newline). oneDNN's message when it cannot JIT a kernel.
XPU_ERRORS = {
    "onednn": "could not create a primitive",
    "fp64": "Required aspect fp64 is not supported on the device",
    "render": "Native API failed. Native API returns: -1 (PI_ERROR_DEVICE_NOT_FOUND) open /dev/dri/renderD128: "
    "Permission denied",
}
OUTPUT_NODES = {"SaveImage"}
KNOWN_NODES = {
    "EmptyImage",
    "ImageCompositeMasked",
    "SaveImage",
    "CheckpointLoaderSimple",
    "CLIPTextEncode",
    "EmptyLatentImage",
    "KSampler",
    "VAEDecode",
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


def _links(node: dict[str, Any]) -> list[str]:
    return [v[0] for v in node["inputs"].values() if isinstance(v, list) and len(v) == 2 and isinstance(v[0], str)]


def _signature(workflow: dict[str, Any], node_id: str) -> str:
    """What ComfyUI's cache keys a node's output on: its class and inputs, links by their source."""
    node = workflow[node_id]
    inputs = {
        k: _signature(workflow, v[0]) + f"#{v[1]}" if isinstance(v, list) and len(v) == 2 else v
        for k, v in sorted(node["inputs"].items())
    }
    return hashlib.sha256(json.dumps([node["class_type"], inputs], sort_keys=True).encode()).hexdigest()


def execution_order(workflow: dict[str, Any], cached: set[str]) -> list[str]:
    """The order ComfyUI 0.8's ExecutionList runs the output nodes' ancestors in (comfy_execution/
    graph.py): a depth-first add from each output node that skips cached inputs, then, of the
    ready nodes, an output node first, else one that feeds an output node in one or two steps."""
    pending: dict[str, None] = {}
    blocking: dict[str, set[str]] = {}
    block_count: dict[str, int] = {}
    for output in (n for n, node in workflow.items() if node["class_type"] in OUTPUT_NODES):
        stack, links = [output], []
        while stack:
            node_id = stack.pop()
            if node_id in pending:
                continue
            pending[node_id], blocking[node_id], block_count[node_id] = None, set(), 0
            for source in _links(workflow[node_id]):
                if source not in cached:
                    stack.append(source)
                    links.append((source, node_id))
        for source, target in links:
            if source not in cached and target not in blocking[source]:
                blocking[source].add(target)
                block_count[target] += 1
    is_output = lambda n: workflow[n]["class_type"] in OUTPUT_NODES  # noqa: E731
    order = []
    while pending:
        ready = [n for n in pending if block_count[n] == 0]
        pick = (
            next((n for n in ready if is_output(n)), None)
            or next((n for n in ready if any(is_output(b) for b in blocking[n])), None)
            or next((n for n in ready if any(is_output(c) for b in blocking[n] for c in blocking[b])), ready[0])
        )
        order.append(pick)
        del pending[pick]
        for target in blocking.pop(pick):
            block_count[target] -= 1
    return order


def _image(workflow: dict[str, Any], values: dict[str, Any], node_id: str) -> Any:
    """Execute one node on its inputs' values (Pillow images, or stand-ins for model objects)."""
    from PIL import Image  # noqa: PLC0415

    node = workflow[node_id]
    i, kind = node["inputs"], node["class_type"]
    get = lambda name: values[i[name][0]]  # noqa: E731
    if kind == "EmptyImage":
        c = int(i.get("color", 0))
        return Image.new("RGB", (int(i["width"]), int(i["height"])), (c >> 16 & 255, c >> 8 & 255, c & 255))
    if kind == "ImageCompositeMasked":
        out = get("destination").copy()
        out.paste(get("source"), (int(i.get("x", 0)), int(i.get("y", 0))))
        return out
    if kind == "EmptyLatentImage":
        return (int(i["width"]), int(i["height"]))
    if kind == "KSampler":
        return (*get("latent_image"), int(i["seed"]))
    if kind == "SaveImage":
        return get("images")
    if kind == "VAEDecode":
        width, height, seed = get("samples")
        noise = random.Random(seed).randbytes(width * height * 3)
        return Image.frombytes("RGB", (width, height), noise)
    return kind  # a loader or an encoder: a stand-in for its model object


@dataclass
class ComfyDouble(LoopbackServer):
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

    def _execute(self, prompt_id: str, number: int, workflow: dict[str, Any], client_id: str) -> None:
        with self._queue_lock:
            self._run(prompt_id, number, workflow, client_id)

    def _run(self, prompt_id: str, number: int, workflow: dict[str, Any], client_id: str) -> None:
        now = lambda: int(time.time() * 1000)  # noqa: E731
        send = lambda kind, data: self._send(client_id, kind, data)  # noqa: E731
        messages: list[list[Any]] = []

        def message(kind: str, data: dict[str, Any]) -> None:  # sent and kept in the history
            data = {**data, "timestamp": now()}
            messages.append([kind, data])
            send(kind, data)

        states: dict[str, dict[str, Any]] = {}

        def progress_state(node_id: str, value: float, maximum: float, state: str) -> None:
            states[node_id] = {
                "value": value,
                "max": maximum,
                "state": state,
                "node_id": node_id,
                "prompt_id": prompt_id,
                "display_node_id": node_id,
                "parent_node_id": None,
                "real_node_id": node_id,
            }
            send("progress_state", {"prompt_id": prompt_id, "nodes": dict(states)})

        signatures = {n: _signature(workflow, n) for n in workflow}
        cache = {n: v for n, v in self._cache.items() if n in workflow and v[0] == signatures[n]}
        values = {n: v for n, (_, v) in cache.items()}
        message("execution_start", {"prompt_id": prompt_id})
        message("execution_cached", {"nodes": [n for n in workflow if n in cache], "prompt_id": prompt_id})
        outputs: dict[str, Any] = {}
        executed: list[str] = []
        entry = {
            "prompt": [
                number,
                prompt_id,
                workflow,
                {"client_id": client_id, "create_time": now()},
                [n for n in workflow if workflow[n]["class_type"] in OUTPUT_NODES],
            ],
            "outputs": outputs,
            "status": None,
            "meta": {},
        }
        for node_id in execution_order(workflow, set(cache)):
            kind = workflow[node_id]["class_type"]
            if node_id in cache:  # a cached output node: its ui output again, nothing executed
                outputs[node_id] = values[node_id]
                send(
                    "executed",
                    {"node": node_id, "display_node": node_id, "output": outputs[node_id], "prompt_id": prompt_id},
                )
                progress_state(node_id, 1, 1, "finished")
                continue
            progress_state(node_id, 0.0, 1.0, "running")
            send("executing", {"node": node_id, "display_node": node_id, "prompt_id": prompt_id})
            try:
                if kind == "KSampler" and self.xpu_error is not None:
                    raise RuntimeError(XPU_ERRORS[self.xpu_error])
                if kind == "KSampler" and self.keeps_models:  # the model is loaded onto the device to sample
                    self._reserved = SD15_RESERVED
                if kind == "KSampler":
                    steps = int(workflow[node_id]["inputs"]["steps"])
                    for step in range(1, steps + 1):
                        progress_state(node_id, step, steps, "running")
                        send("progress", {"value": step, "max": steps, "prompt_id": prompt_id, "node": node_id})
                values[node_id] = _image(workflow, values, node_id)
            except Exception as exc:  # as ComfyUI reports an exception in a node
                kind_name = (
                    type(exc).__qualname__
                    if type(exc).__module__ == "builtins"
                    else f"{type(exc).__module__}.{type(exc).__qualname__}"
                )
                message(
                    "execution_error",
                    {
                        "prompt_id": prompt_id,
                        "node_id": node_id,
                        "node_type": kind,
                        "executed": executed,
                        "exception_message": f"{exc}\n",
                        "exception_type": kind_name,
                        "traceback": ['  File "execution.py", line 518, in execute\n'],
                        "current_inputs": {},
                        "current_outputs": list(self._cache),
                    },
                )
                self._cache = {n: (signatures[n], values[n]) for n in workflow if n in values}
                entry["status"] = {"status_str": "error", "completed": False, "messages": messages}
                self.history[prompt_id] = entry
                self._send(None, "status", {"status": {"exec_info": {"queue_remaining": 0}}})
                send("executing", {"node": None, "prompt_id": prompt_id})
                return
            if kind == "SaveImage":
                buf = io.BytesIO()
                values[node_id].save(buf, "PNG")
                self._counter += 1
                name = f"{workflow[node_id]['inputs'].get('filename_prefix', 'ComfyUI')}_{self._counter:05}_.png"
                self.files[name] = buf.getvalue()
                values[node_id] = {"images": [{"filename": name, "subfolder": "", "type": "output"}]}
                outputs[node_id] = values[node_id]
                send(
                    "executed",
                    {"node": node_id, "display_node": node_id, "output": outputs[node_id], "prompt_id": prompt_id},
                )
            executed.append(node_id)
            progress_state(
                node_id,
                states[node_id]["max"] if kind == "KSampler" else 1.0,
                states[node_id]["max"] if kind == "KSampler" else 1.0,
                "finished",
            )
        self._cache = {n: (signatures[n], values[n]) for n in workflow if n in values}
        entry["meta"] = {n: {"node_id": n, "display_node": n, "parent_node": None, "real_node_id": n} for n in outputs}
        message("execution_success", {"prompt_id": prompt_id})
        entry["status"] = {"status_str": "success", "completed": True, "messages": messages}
        self.history[prompt_id] = entry
        self._send(None, "status", {"status": {"exec_info": {"queue_remaining": 0}}})
        send("executing", {"node": None, "prompt_id": prompt_id})

    @staticmethod
    def validate(workflow: dict[str, Any]) -> tuple[int, dict[str, Any]] | None:
        """ComfyUI's answers to a prompt it will not queue (HTTP status, JSON body), or None."""
        for node_id, node in workflow.items():
            kind = node.get("class_type")
            if kind not in KNOWN_NODES:
                return 400, {
                    "error": {
                        "type": "invalid_prompt",
                        "message": f"Cannot execute because node {kind} does not exist.",
                        "details": f"Node ID '#{node_id}'",
                        "extra_info": {},
                    },
                    "node_errors": {},
                }
        if not any(node["class_type"] in OUTPUT_NODES for node in workflow.values()):
            return 400, {
                "error": {
                    "type": "prompt_no_outputs",
                    "message": "Prompt has no outputs",
                    "details": "",
                    "extra_info": {},
                },
                "node_errors": {},
            }
        for node_id, node in workflow.items():
            name = node["inputs"].get("ckpt_name")
            if node["class_type"] == "CheckpointLoaderSimple" and name != CHECKPOINT_NAME:
                error = {
                    "type": "value_not_in_list",
                    "message": "Value not in list",
                    "details": f"ckpt_name: '{name}' not in {[CHECKPOINT_NAME]}",
                    "extra_info": {
                        "input_name": "ckpt_name",
                        "input_config": [[CHECKPOINT_NAME], {}],
                        "received_value": name,
                    },
                }
                dependent = sorted(n for n, other in workflow.items() if other["class_type"] in OUTPUT_NODES)
                return 400, {
                    "error": {
                        "type": "prompt_outputs_failed_validation",
                        "message": "Prompt outputs failed validation",
                        "details": "",
                        "extra_info": {},
                    },
                    "node_errors": {
                        node_id: {"errors": [error], "dependent_outputs": dependent, "class_type": node["class_type"]}
                    },
                }
        return None

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
