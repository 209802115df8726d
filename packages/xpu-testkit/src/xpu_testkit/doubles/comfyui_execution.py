"""The ComfyUI double's execution model, as ComfyUI 0.8.0 runs a prompt: the nodes it knows, the
validation of a prompt it will not queue, its output cache (a node keyed on its class and inputs),
the order of its ExecutionList, and the run itself with its /ws messages and /history entry. The
model-free workflow really executes with Pillow; for one-step-sd15 the sampler's progress is sent
and a noise image made from the seed is saved. The HTTP and /ws server around it is ``comfyui``.
"""

from __future__ import annotations

import hashlib
import io
import json
import random
import threading
import time
from typing import Any

from PIL import Image

from ..services.sd15_checkpoint import NAME as CHECKPOINT_NAME

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


def _links(node: dict[str, Any]) -> list[str]:
    return [v[0] for v in node["inputs"].values() if isinstance(v, list) and len(v) == 2 and isinstance(v[0], str)]


def signature(workflow: dict[str, Any], node_id: str) -> str:
    """What ComfyUI's cache keys a node's output on: its class and inputs, links by their source."""
    node = workflow[node_id]
    inputs = {
        k: signature(workflow, v[0]) + f"#{v[1]}" if isinstance(v, list) and len(v) == 2 else v
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

    def is_output(n: str) -> bool:
        return workflow[n]["class_type"] in OUTPUT_NODES

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


def execute_node(workflow: dict[str, Any], values: dict[str, Any], node_id: str) -> Any:
    """Execute one node on its inputs' values (Pillow images, or stand-ins for model objects)."""
    node = workflow[node_id]
    i, kind = node["inputs"], node["class_type"]

    def get(name: str) -> Any:
        return values[i[name][0]]

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


class PromptExecution:
    """Mixin for the double: runs a queued prompt (one at a time, as ComfyUI) and keeps its cache,
    history and saved files; ``_send`` is the server's (a /ws message to one client, or to all)."""

    xpu_error: str | None
    keeps_models: bool
    history: dict[str, Any]
    files: dict[str, bytes]
    _queue_lock: threading.Lock
    _cache: dict[str, tuple[str, Any]]
    _counter: int
    _reserved: int

    def _send(self, client_id: str | None, kind: str, data: dict[str, Any]) -> None:
        raise NotImplementedError

    def _execute(self, prompt_id: str, number: int, workflow: dict[str, Any], client_id: str) -> None:
        with self._queue_lock:
            self._run(prompt_id, number, workflow, client_id)

    def _run(self, prompt_id: str, number: int, workflow: dict[str, Any], client_id: str) -> None:
        def now() -> int:
            return int(time.time() * 1000)

        def send(kind: str, data: dict[str, Any]) -> None:
            self._send(client_id, kind, data)

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

        signatures = {n: signature(workflow, n) for n in workflow}
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
                values[node_id] = execute_node(workflow, values, node_id)
            except Exception as exc:  # noqa: BLE001 - as ComfyUI reports an exception in a node
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
