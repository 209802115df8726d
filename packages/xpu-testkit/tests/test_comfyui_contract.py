"""The ComfyUI double against the real ComfyUI 0.8: the same client scenarios on both, compared
message by message (types, order, node ids, cached lists, progress_state node states, keys),
answer by answer (HTTP status, content type, error shapes) and record by record (the /prompt
answer's keys, the /history entry of each run: status, its messages, the outputs' keys). Values
that differ by nature (ids, timestamps, file names, the device) are left out; everything else must
match."""

from __future__ import annotations

import json
import random
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
import websocket

from xpu_testkit.doubles.comfyui import COMFYUI_VERSION, ComfyDouble
from xpu_testkit.services.comfyui_server import ComfyServer
from xpu_tool.services.comfyui import fresh_workflow, load_workflow

Shape = Any


@dataclass(frozen=True)
class Recording:
    status: int  # of POST /prompt
    answer: Any  # its JSON body
    events: list[dict[str, Any]]  # the /ws messages of this prompt, to its end


def record(url: str, workflow: Any, timeout: float = 60.0) -> Recording:
    """POST the workflow with a fresh client id and every /ws message until the prompt ends."""
    client_id = str(uuid.uuid4())
    ws = websocket.create_connection(url.replace("http", "ws", 1) + f"/ws?clientId={client_id}", timeout=timeout)
    try:
        answer = requests.post(url + "/prompt", json={"prompt": workflow, "client_id": client_id}, timeout=timeout)
        if answer.status_code != 200:
            return Recording(answer.status_code, answer.json(), [])
        prompt_id = answer.json()["prompt_id"]
        events = []
        while True:
            message = ws.recv()
            if not isinstance(message, str):
                continue
            event = json.loads(message)
            data = event.get("data") or {}
            if data.get("prompt_id") not in (None, prompt_id):
                continue
            events.append(event)
            if event["type"] == "executing" and data.get("node") is None:
                return Recording(answer.status_code, answer.json(), events)
    finally:
        ws.close()


def event_shape(event: dict[str, Any]) -> Shape:
    kind, data = event["type"], event.get("data") or {}
    keys = tuple(sorted(data))
    if kind == "status":
        return kind, data["status"]["exec_info"]["queue_remaining"], keys
    if kind == "execution_cached":
        return kind, tuple(data["nodes"]), keys
    if kind == "progress_state":
        states = data["nodes"].values()
        return (
            kind,
            tuple((n, s["state"]) for n, s in data["nodes"].items()),
            tuple(sorted({k for s in states for k in s})),
            keys,
        )
    if kind in ("executing", "executed"):
        output = tuple(sorted(data.get("output") or {}))
        return kind, data.get("node"), keys, output
    if kind == "progress":
        return kind, data["value"], data["max"], keys
    return kind, keys


def history_shape(entry: dict[str, Any]) -> Shape:
    """A /history entry: its keys, status, the names of its status messages, each output's keys."""
    status = entry["status"]
    return (
        sorted(entry),
        sorted(status),
        status["status_str"],
        status["completed"],
        [m[0] for m in status["messages"]],
        {node: sorted(out) for node, out in entry["outputs"].items()},
    )


def run_shape(url: str, workflow: Any) -> Shape:
    """The /prompt answer's keys and node errors, the /ws messages, and the run's /history entry."""
    run = record(url, workflow)
    prompt_id = run.answer["prompt_id"]
    history = requests.get(f"{url}/history/{prompt_id}", timeout=10).json()
    return (
        run.status,
        sorted(run.answer),
        run.answer["node_errors"],
        [event_shape(e) for e in run.events],
        len(history),
        history_shape(history[prompt_id]),
    )


def error_shape(url: str, workflow: Any) -> Shape:
    """An execution error: its keys and forms, what follows it, and the history's record of it."""
    events = record(url, workflow).events
    kinds = [e["type"] for e in events]
    at = kinds.index("execution_error")
    error = events[at]["data"]
    history = requests.get(f"{url}/history/{error['prompt_id']}", timeout=10).json()[error["prompt_id"]]
    return {
        "keys": sorted(error),
        "after": kinds[at + 1 :],
        "message ends in a newline": error["exception_message"].endswith("\n"),
        "type is a qualified class name": bool(re.fullmatch(r"([a-z_]\w*\.)*[A-Z]\w*", error["exception_type"])),
        "history": (
            sorted(history),
            history["status"]["status_str"],
            history["status"]["completed"],
            [m[0] for m in history["status"]["messages"]],
            history["outputs"],
        ),
    }


def http_shapes(url: str) -> dict[str, Shape]:
    def answer(method: str, path: str, **kwargs: Any) -> Shape:
        r = requests.request(method, url + path, timeout=30, **kwargs)
        ctype = r.headers.get("Content-Type", "").split(";")[0]
        body = r.json() if ctype == "application/json" else r.text
        return r.status_code, ctype, body

    def error_keys(body: dict[str, Any]) -> Shape:
        nodes = body["node_errors"]
        return (
            sorted(body),
            sorted(body["error"]),
            body["error"]["type"],
            {
                n: (sorted(e), [(x["type"], sorted(x), sorted(x["extra_info"])[:1]) for x in e["errors"]])
                for n, e in nodes.items()
            },
        )

    missing_checkpoint = load_workflow("one-step-sd15")
    missing_checkpoint["1"]["inputs"]["ckpt_name"] = "nope.safetensors"
    stats = answer("GET", "/system_stats")[2]
    status, ctype, unknown = answer(
        "POST", "/prompt", json={"prompt": {"1": {"class_type": "NoSuchNode", "inputs": {}}}}
    )
    _, _, no_checkpoint = answer("POST", "/prompt", json={"prompt": missing_checkpoint})
    return {
        "system_stats": (sorted(stats), sorted(stats["system"]), sorted(stats["devices"][0]), stats["system"]["os"]),
        "object_info unknown": answer("GET", "/object_info/NoSuchNode"),
        "object_info SaveImage": sorted(answer("GET", "/object_info/SaveImage")[2]),
        "queue": sorted(answer("GET", "/queue")[2]),
        "history unknown": answer("GET", "/history/no-such-prompt"),
        "view bad type": answer("GET", "/view", params={"filename": "x.png", "type": "bogus"})[0],
        "view traversal": answer("GET", "/view", params={"filename": "../../etc/passwd", "type": "output"})[0],
        "view missing": answer("GET", "/view", params={"filename": "nope.png", "type": "output"})[0],
        "prompt not an object": answer("POST", "/prompt", json={"prompt": [1, 2]}),
        "prompt not JSON": answer("POST", "/prompt", data=b"not json"),
        "unknown node": (status, ctype, error_keys(unknown), unknown["error"]["message"]),
        "missing checkpoint": error_keys(no_checkpoint),
        "missing checkpoint details": no_checkpoint["node_errors"]["1"]["errors"][0]["details"].split(" not in ")[0],
    }


def scenarios(url: str) -> Iterator[tuple[str, Shape]]:
    """The client scenarios, in an order whose cache effects both servers must reproduce."""
    rng = random.Random(5)
    model_free = fresh_workflow(load_workflow("model-free"), rng).workflow
    yield "a fresh model-free prompt", run_shape(url, model_free)
    yield "the same prompt again: all cached", run_shape(url, model_free)
    model_free["1"]["inputs"]["color"] ^= 0xFFFFFF
    yield "one EmptyImage changed", run_shape(url, model_free)
    sd15 = fresh_workflow(load_workflow("one-step-sd15"), rng).workflow
    sd15["5"]["inputs"]["steps"] = 2
    yield "one-step-sd15 after another workflow", run_shape(url, sd15)
    sd15["5"]["inputs"]["seed"] += 1
    yield "one-step-sd15 with a new seed", run_shape(url, sd15)
    yield from http_shapes(url).items()


@pytest.fixture(scope="module")
def real_and_double(xpu_comfyui_server: ComfyServer) -> Iterator[tuple[dict[str, Shape], dict[str, Shape]]]:
    real = dict(scenarios(xpu_comfyui_server.url))
    with ComfyDouble() as double:
        imitation = dict(scenarios(double.url))
    yield real, imitation


def test_the_scenarios_ran(real_and_double: tuple[dict[str, Shape], dict[str, Shape]]) -> None:
    real, _ = real_and_double
    assert len(real) == 18
    status, answer_keys, node_errors, events, entries, history = real["the same prompt again: all cached"]
    assert (status, answer_keys, node_errors) == (200, ["node_errors", "number", "prompt_id"], {})
    assert ("execution_cached", ("1", "2", "3", "4"), ("nodes", "prompt_id", "timestamp")) in events
    assert not any(e[0] == "executing" and e[1] is not None for e in events)
    assert entries == 1 and history[2:4] == ("success", True) and "4" in history[5]  # SaveImage's output
    assert [e for e in real["one-step-sd15 with a new seed"][3] if e[0] == "progress"] == [
        ("progress", 1, 2, ("max", "node", "prompt_id", "value")),
        ("progress", 2, 2, ("max", "node", "prompt_id", "value")),
    ]


def test_the_double_follows_the_real_servers_version(xpu_comfyui_server: ComfyServer) -> None:
    """The double's messages were recorded from this version: another checkout is named as such."""
    stats = requests.get(xpu_comfyui_server.url + "/system_stats", timeout=10).json()
    assert stats["system"]["comfyui_version"] == COMFYUI_VERSION


@pytest.mark.parametrize(
    "scenario",
    [
        "a fresh model-free prompt",
        "the same prompt again: all cached",
        "one EmptyImage changed",
        "one-step-sd15 after another workflow",
        "one-step-sd15 with a new seed",
        "system_stats",
        "object_info unknown",
        "object_info SaveImage",
        "queue",
        "history unknown",
        "view bad type",
        "view traversal",
        "view missing",
        "prompt not an object",
        "prompt not JSON",
        "unknown node",
        "missing checkpoint",
        "missing checkpoint details",
    ],
)
def test_the_double_answers_as_the_real_server(
    real_and_double: tuple[dict[str, Shape], dict[str, Shape]], scenario: str
) -> None:
    real, imitation = real_and_double
    assert imitation[scenario] == real[scenario]


def test_execution_errors_have_the_real_shape(xpu_comfyui_server: ComfyServer) -> None:
    """The double's XPU error in the sampler against a real execution error (a checkpoint that is
    not a safetensors file): the same keys and forms, the same messages after it, the same record."""
    (xpu_comfyui_server.checkpoints / "xpu-broken.safetensors").write_bytes(b"not a model")
    broken = fresh_workflow(load_workflow("one-step-sd15"), checkpoint="xpu-broken.safetensors").workflow
    real = error_shape(xpu_comfyui_server.url, broken)
    with ComfyDouble(xpu_error="onednn") as double:
        imitation = error_shape(double.url, fresh_workflow(load_workflow("one-step-sd15")).workflow)
    assert real["message ends in a newline"] and real["type is a qualified class name"]
    assert imitation == real
