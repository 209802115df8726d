"""The ComfyUI client, check_comfyui and `xpu check comfyui` against ComfyUIs that misbehave on
loopback: one deadline covers /system_stats, /object_info, /prompt, /ws and /history, and the check
ends by it plus xpu_tool.http.MARGIN with one finding naming what happened, never a traceback.

The peers are raw TCP servers (tests/misbehaving.py); the /ws ones here answer the websocket
handshake and then send what the case needs. What the real ComfyUI answers is test_comfyui.py's."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import socket
import threading
import time
from dataclasses import dataclass

import pytest

from xpu_tool.deadline import Deadline
from xpu_tool.errors import ConfigError
from xpu_tool.http import MARGIN
from xpu_tool.model import Severity
from xpu_tool.services.comfyui import ComfyClient, ComfyError, check_comfyui, fresh_workflow, load_workflow

from .misbehaving import Behaviour, MisbehavingServer, answer, endless_chunks, routes, silent, trickle
from .xpu_command import run_xpu, timed_run_xpu

TIMEOUT = 1.0
STARTUP = 3.0  # allowed for the CLI's interpreter start and imports (before its deadline begins) on a busy machine
STATS = {"system": {"comfyui_version": "0.8.0"}, "devices": [{"type": "xpu", "name": "xpu:0 Intel Arc"}]}
PROMPT_ID = "p1"
WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455


def object_info(conn: socket.socket, request: bytes, stop: threading.Event) -> None:
    """/object_info/{class}: ComfyUI's answer for a class it has."""
    node_class = request.split(b" ", 2)[1].decode().rsplit("/", 1)[-1]
    answer({node_class: {"input": {}, "output": []}})(conn, request, stop)


def late(seconds: float, behaviour: Behaviour) -> Behaviour:
    """``behaviour`` after ``seconds`` of silence."""

    def behave(conn: socket.socket, request: bytes, stop: threading.Event) -> None:
        if not stop.wait(seconds):
            behaviour(conn, request, stop)

    return behave


def after_the_body(behaviour: Behaviour) -> Behaviour:
    """``behaviour`` once the request's body is read (a peer that closes with it unread resets the
    connection, and the client sees that instead of the answer)."""

    def behave(conn: socket.socket, request: bytes, stop: threading.Event) -> None:
        found = re.search(rb"content-length:\s*(\d+)", request, re.I)
        missing = int(found.group(1)) - len(request.split(b"\r\n\r\n", 1)[1]) if found else 0
        while missing > 0:
            missing -= len(conn.recv(min(missing, 65536)) or b"x" * missing)
        behaviour(conn, request, stop)

    return behave


def _frame(text: str) -> bytes:
    """An unmasked websocket text frame (a server's)."""
    data = text.encode()
    size = bytes([len(data)]) if len(data) < 126 else bytes([126]) + len(data).to_bytes(2, "big")
    return b"\x81" + size + data


def websocket_sending(*messages: str) -> Behaviour:
    """/ws: the handshake, then ``messages`` as text frames, then silence."""

    def behave(conn: socket.socket, request: bytes, stop: threading.Event) -> None:
        found = re.search(rb"sec-websocket-key:\s*(\S+)", request, re.I)
        assert found, request
        accept = base64.b64encode(hashlib.sha1(found.group(1) + WS_GUID).digest())
        conn.sendall(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n" + b"".join(_frame(m) for m in messages)
        )
        stop.wait()

    return behave


FINISHED = json.dumps({"type": "executing", "data": {"node": None, "prompt_id": PROMPT_ID}})
EXECUTED = [json.dumps({"type": "executing", "data": {"node": n, "prompt_id": PROMPT_ID}}) for n in "1234"]
WITH_AN_IMAGE = answer(
    {
        PROMPT_ID: {
            "status": {"status_str": "success", "completed": True},
            "outputs": {"4": {"images": [{"filename": "xpu_00001_.png", "subfolder": "", "type": "output"}]}},
        }
    }
)


def comfyui(**overrides: Behaviour) -> MisbehavingServer:
    """A ComfyUI that answers every endpoint as the real one would, but for ``overrides``
    (keyed by path with ``_`` for ``/``: ``system_stats``, ``ws``, ``history``, ...)."""
    table = {
        "/system_stats": answer(STATS),
        "/object_info/": object_info,
        "/prompt": after_the_body(answer({"prompt_id": PROMPT_ID, "number": 0, "node_errors": {}})),
        "/ws": websocket_sending(FINISHED),
        "/history/": answer({}),
    }
    table.update({"/" + key.replace("__", "/"): value for key, value in overrides.items()})
    return MisbehavingServer(routes(table))


@dataclass(frozen=True)
class Fault:
    peer: dict[str, Behaviour]
    finding: str  # the one failing finding's id
    named: str  # what its message says


TEN_MB = b"<html>" + b"E" * 10_000_000
FAULTS = {
    "endless-system-stats": Fault(
        {"system_stats": endless_chunks(b'{"devices":[],', 0.01)},
        "comfyui-timeout",
        "did not answer GET /system_stats within 1 s",
    ),
    "silent-peer": Fault(
        {"system_stats": silent, "object_info__": silent},
        "comfyui-timeout",
        "did not answer GET /system_stats within 1 s",
    ),
    "10-MB-error-page": Fault(
        {"system_stats": answer(TEN_MB, 500)}, "comfyui-api-error", "GET /system_stats: HTTP 500"
    ),
    "one-deadline-for-all-calls": Fault(
        {"object_info__": late(0.4, object_info)}, "comfyui-timeout", "did not answer GET /object_info/"
    ),
    "1-byte-per-s-history": Fault(
        {"history__": trickle(1.0)}, "comfyui-workflow-failed", f"did not answer GET /history/{PROMPT_ID} within 1 s"
    ),
    "ws-handshake-never-answered": Fault({"ws": silent}, "comfyui-workflow-failed", "did not open /ws within 1 s"),
    "ws-never-sends": Fault(
        {"ws": websocket_sending()},
        "comfyui-workflow-failed",
        f"workflow {PROMPT_ID} did not finish within 1 s (0 events)",
    ),
    "ws-never-sends-and-the-cancel-hangs": Fault(  # taking the run off the server fits in the margin too
        {"ws": websocket_sending(), "queue": silent, "interrupt": silent},
        "comfyui-workflow-failed",
        f"workflow {PROMPT_ID} did not finish within 1 s (0 events)",
    ),
    "non-json-on-ws": Fault(
        {"ws": websocket_sending("this is { not json")},
        "comfyui-workflow-failed",
        "/ws sent a message that is not JSON: 'this is { not json'",
    ),
    "json-list-on-ws": Fault(
        {"ws": websocket_sending("[1, 2]")}, "comfyui-workflow-failed", "/ws sent a message that is not a JSON object"
    ),
    "view-not-an-image": Fault(
        {
            "ws": websocket_sending(*EXECUTED, FINISHED),
            "history__": WITH_AN_IMAGE,
            "view": answer(b"GIF89a, or so it says"),
        },
        "comfyui-no-output",
        "GET /view: xpu_00001_.png is not an image",
    ),
    "endless-view": Fault(
        {
            "ws": websocket_sending(*EXECUTED, FINISHED),
            "history__": WITH_AN_IMAGE,
            "view": endless_chunks(b"\x89PNG", 0.01),
        },
        "comfyui-no-output",
        "did not answer GET /view?filename=xpu_00001_.png&subfolder=&type=output within 1 s",
    ),
    "10-MB-error-page-on-prompt": Fault(
        {"prompt": after_the_body(answer(TEN_MB, 500))},
        "comfyui-workflow-failed",
        "POST /prompt: HTTP 500, not JSON: '<html>EEE",
    ),
}


@pytest.mark.parametrize("fault", FAULTS.values(), ids=FAULTS.keys())
def test_the_check_ends_by_its_deadline_with_the_fault_named(fault: Fault) -> None:
    with comfyui(**fault.peer) as peer:
        started = time.monotonic()
        result = check_comfyui(peer.url, deadline=TIMEOUT)
        elapsed = time.monotonic() - started
    assert elapsed < TIMEOUT + MARGIN, elapsed
    [failure] = [f for f in result.findings if f.severity is Severity.FAIL]
    assert failure.id == fault.finding and not result.ok
    [evidence] = failure.evidence
    assert fault.named in evidence, evidence
    assert "\n" not in evidence and len(evidence) < 500, evidence


def test_a_run_ends_by_the_clients_deadline_whatever_the_run_asks() -> None:
    """The client's own deadline bounds a run that asks for longer; the error names its kind."""
    with comfyui(ws=websocket_sending()) as peer:
        client = ComfyClient(peer.url, deadline=Deadline.after(TIMEOUT))
        started = time.monotonic()
        with pytest.raises(ComfyError, match="did not finish within 1 s") as caught:
            client.run(fresh_workflow(load_workflow("model-free")).workflow, deadline=60)
        assert time.monotonic() - started < TIMEOUT + MARGIN
    assert caught.value.kind == "timeout"


@pytest.mark.parametrize(
    "reply, named",
    [
        ([1, 2], "expected a JSON object, got list"),
        ({"devices": {"type": "xpu"}}, "devices is not a list of objects"),
        (b"\xff\xfe binary", "not JSON"),
    ],
    ids=["list", "devices-object", "binary"],
)
def test_system_stats_of_the_wrong_shape_is_named(reply: object, named: str) -> None:
    with comfyui(system_stats=answer(reply)) as peer:
        result = check_comfyui(peer.url, deadline=5)
    [failure] = result.findings
    assert failure.id == "comfyui-api-error" and named in failure.evidence[0], failure.evidence


# -- through the CLI -----------------------------------------------------------------------------


@pytest.mark.parametrize("fault", FAULTS.values(), ids=FAULTS.keys())
def test_the_cli_ends_by_its_timeout_with_one_named_line(fault: Fault) -> None:
    with comfyui(**fault.peer) as peer:
        url = peer.url
        run, elapsed = timed_run_xpu("check", "comfyui", url, "--timeout", str(TIMEOUT), timeout=60)
    assert elapsed < TIMEOUT + MARGIN + STARTUP, elapsed
    assert run.returncode == 1 and "Traceback" not in run.stderr + run.stdout, run.stderr
    if fault.finding in ("comfyui-timeout", "comfyui-api-error"):  # nothing reached: one line on stderr
        [line] = run.stderr.splitlines()
        assert run.stdout == ""
    else:  # the device line, then the one failure
        [line] = [x for x in run.stdout.splitlines() if "FAIL" in x]
        assert run.stdout.splitlines()[0].startswith(f"comfyui {url}: device xpu")
    assert fault.named in line and len(line) < 800, line


BAD_URLS = {
    "no-host": ("http://", "is not an http(s) URL (no host)"),
    "port-99999": ("http://127.0.0.1:99999", "is not an http(s) URL (Port out of range"),
    "broken-ipv6": ("http://[::1", "is not an http(s) URL (Invalid IPv6 URL)"),
}


@pytest.mark.parametrize("url, named", BAD_URLS.values(), ids=BAD_URLS.keys())
def test_a_bad_url_is_a_usage_error(url: str, named: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(named)):
        check_comfyui(url)


@pytest.mark.parametrize("url", [url for url, _ in BAD_URLS.values()], ids=BAD_URLS.keys())
def test_the_cli_refuses_a_bad_url_in_one_line(url: str) -> None:
    run = run_xpu("check", "comfyui", url, timeout=60)
    assert run.returncode == 2 and run.stdout == "", run
    [line] = run.stderr.splitlines()
    assert repr(url) in line and "Traceback" not in line, line
