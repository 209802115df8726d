"""A ComfyUI API client and end-to-end check (HTTP through xpu_tool.http, progress over /ws).

Endpoints as ComfyUI's server.py serves them: GET /system_stats, GET /object_info[/{class}] (200
with ``{}`` for a class it does not have), POST /prompt -> {"prompt_id", "number", "node_errors"}
(HTTP 400 with {"error", "node_errors"} when the workflow is invalid), websocket /ws?clientId=...
(status, execution_start, execution_cached, then per node progress_state, executing, progress,
executed; execution_success | execution_error, status, then executing with node null), GET
/history/{prompt_id}, GET /view?filename=&subfolder=&type=output.

ComfyUI caches node outputs: a prompt identical to an earlier one executes nothing. Every run this
client makes is therefore made fresh (``fresh_workflow``: new EmptyImage colours, a new sampler
seed), and the check verifies from the messages that the nodes downstream of those inputs really
executed.

Two workflows ship with the package: ``model-free`` (two EmptyImages composited and saved: no
model files, a 64x64 two-colour image; in ComfyUI 0.8 these nodes run on the CPU whatever the
device) and ``one-step-sd15`` (one KSampler step at 64x64 from a checkpoint named
xpu-tiny-sd15.safetensors, which the server must have: ``sd15_checkpoint`` writes one). Only the
second runs a model on the device, so ``expect_xpu`` is judged on it.
"""

from __future__ import annotations

import json
import socket
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field
from typing import Any, ClassVar

import websocket

from ... import http
from ...deadline import Deadline, call_by
from ...http import HttpError
from ...urls import check_url
from ...watched_session import Watchdog
from ..api import ApiClient, ServiceError
from .workflow import Run

MAX_ANSWER = 16 * 1024 * 1024  # /system_stats, /object_info, /prompt, /history
CANCEL_SECONDS = 5.0  # how long taking an unfinished run of ours off the server may take
CANCEL_LATE = 0.3  # ... once the run's deadline has passed or a signal came: within http.MARGIN
MAX_IMAGE = 64 * 1024 * 1024  # /view


class ComfyError(ServiceError):
    """ComfyUI did not answer as its API says it should (``kind``: see ServiceError, or ``rejected``
    for a workflow /prompt refused)."""


@dataclass
class ComfyClient(ApiClient):
    """``timeout``: the longest one API call may take. ``deadline``: one bound over every call of
    this client (a whole check), the /ws run included."""

    base_url: str
    timeout: float = 30.0
    client_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    deadline: Deadline | None = None

    service: ClassVar[str] = "ComfyUI"
    error: ClassVar[type[ServiceError]] = ComfyError

    def _request(
        self, method: str, path: str, *, max_bytes: int = MAX_ANSWER, deadline: Deadline | None = None, **kwargs: Any
    ) -> http.Response:
        """One call whose HTTP status the caller judges (POST /prompt explains its 400s)."""
        return self.request(
            method,
            path,
            deadline=deadline or self.call_deadline(self.timeout),
            max_bytes=max_bytes,
            check_status=False,
            **kwargs,
        )

    def _get(self, path: str, *, max_bytes: int = MAX_ANSWER, deadline: Deadline | None = None) -> http.Response:
        return self.request("GET", path, deadline=deadline or self.call_deadline(self.timeout), max_bytes=max_bytes)

    def _json(self, path: str, deadline: Deadline | None = None) -> dict[str, Any]:
        return self.json_object("GET", path, deadline=deadline or self.call_deadline(self.timeout))

    def system_stats(self) -> dict[str, Any]:
        return self._json("/system_stats")

    def object_info(self, node_class: str | None = None) -> dict[str, Any]:
        return self._json(f"/object_info/{urllib.parse.quote(node_class)}" if node_class else "/object_info")

    def queue(self, workflow: dict[str, Any], deadline: Deadline | None = None) -> str:
        r = self._request(
            "POST", "/prompt", json_body={"prompt": workflow, "client_id": self.client_id}, deadline=deadline
        )
        try:
            body = r.json_object()
        except HttpError:
            raise ComfyError(
                f"POST /prompt: HTTP {r.status}, not JSON: {http.quote(r.body)}", status=r.status, kind="bad-body"
            ) from None
        if r.status >= 400 or "prompt_id" not in body:
            err = body.get("error")
            message = err.get("message") if isinstance(err, dict) else err
            node_errors = body.get("node_errors")
            details = "; ".join(
                f"{e.get('message')}: {e.get('details')}"
                for n in (node_errors.values() if isinstance(node_errors, dict) else ())
                if isinstance(n, dict)
                for e in n.get("errors", [])
                if isinstance(e, dict)
            )
            text = " ".join(f"{message}{' (' + details + ')' if details else ''}".split())
            raise ComfyError(
                f"POST /prompt rejected the workflow: {text[:400]}", status=r.status, body=body, kind="rejected"
            )
        return str(body["prompt_id"])

    def cancel(self, prompt_id: str, seconds: float = CANCEL_SECONDS) -> None:
        """Take one run of ours off the server, best effort within ``seconds``: out of the queue if it
        still waits (POST /queue delete), stopped if it runs (POST /interrupt with its prompt_id, which
        ComfyUI 0.8 applies only when that prompt is the one running: nobody else's run is touched)."""
        deadline = Deadline.after(seconds)
        for path, body in (("/queue", {"delete": [prompt_id]}), ("/interrupt", {"prompt_id": prompt_id})):
            try:
                self._request("POST", path, json_body=body, deadline=deadline)
            except ComfyError:
                return  # the server is gone or does not answer: nothing is left to free

    def missing_nodes(self, workflow: dict[str, Any]) -> list[str]:
        """The workflow's node classes the server does not have (it answers those with ``{}``)."""
        kinds = sorted({str(node.get("class_type")) for node in workflow.values()})
        return [kind for kind in kinds if kind not in self.object_info(kind)]

    def history(self, prompt_id: str, deadline: Deadline | None = None) -> dict[str, Any]:
        entry = self._json(f"/history/{urllib.parse.quote(prompt_id)}", deadline).get(prompt_id, {})
        if not isinstance(entry, dict):
            raise ComfyError(
                f"GET /history/{prompt_id}: the entry is not an object: {http.quote(json.dumps(entry))}",
                kind="bad-body",
            )
        return entry

    def view(self, image: dict[str, str]) -> bytes:
        query = urllib.parse.urlencode(
            {
                "filename": image["filename"],
                "subfolder": image.get("subfolder", ""),
                "type": image.get("type", "output"),
            }
        )
        return self._get(f"/view?{query}", max_bytes=MAX_IMAGE).body

    def run(self, workflow: dict[str, Any], deadline: float = 300.0) -> Run:
        """Queue ``workflow`` and follow it on /ws until it finishes or ``deadline`` seconds (or the
        client's own deadline) pass: every call and every message within that one deadline."""
        limit = self.call_deadline(deadline)
        ws, watchdog = self._open_ws(limit)
        started = time.monotonic()
        events: list[dict[str, Any]] = []
        arrivals: list[float] = []
        error = None
        prompt_id: str | None = None
        finished = signalled = False
        try:
            prompt_id = self.queue(workflow, limit.sooner(self.timeout))
            while True:
                if limit.left() <= 0 or watchdog.fired:
                    raise _unfinished(prompt_id, limit, events)
                wait = min(limit.left(), QUIET_SECONDS)
                ws.settimeout(max(0.01, wait))
                try:
                    message = ws.recv()
                except websocket.WebSocketTimeoutException:
                    if wait < QUIET_SECONDS:  # the deadline, not a quiet spell, ended the wait
                        raise _unfinished(prompt_id, limit, events) from None
                    # a quiet socket: the run may have ended with its events lost (a reconnect, a
                    # proxy that dropped frames), which /history shows
                    status = self.history(prompt_id, limit).get("status") or {}
                    if status.get("completed") or status.get("status_str") in ("success", "error"):
                        if status.get("status_str") == "error":
                            error = next(
                                (m[1] for m in status.get("messages", []) if m and m[0] == "execution_error"),
                                {"exception_message": "error"},
                            )
                        break
                    continue
                except (OSError, websocket.WebSocketException) as exc:
                    if watchdog.fired:
                        raise _unfinished(prompt_id, limit, events) from None
                    raise ComfyError(f"the /ws connection broke: {exc}", kind="protocol") from None
                if not isinstance(message, str):
                    continue  # binary previews
                event = _event(message)
                data = event.get("data") or {}
                if not isinstance(data, dict):
                    raise ComfyError(
                        f"/ws sent an event whose data is not an object: {http.quote(message)}", kind="bad-body"
                    )
                if data.get("prompt_id") not in (None, prompt_id):
                    continue
                events.append(event)
                arrivals.append(time.monotonic())
                kind = event.get("type")
                if kind == "execution_error":
                    error = data
                    break
                if kind == "executing" and data.get("node") is None and data.get("prompt_id") == prompt_id:
                    break
            finished = True
        except KeyboardInterrupt:
            signalled = True
            raise
        finally:  # the close handshake waits for the peer's close frame: a moment at most
            ws.close(timeout=max(0.01, min(CLOSE_SECONDS, limit.left())))
            watchdog.stop()
            ws.shutdown()
            if prompt_id is not None and not finished:  # deadline, broken /ws, Ctrl-C: leave the server free
                self.cancel(
                    prompt_id, CANCEL_LATE if signalled else max(CANCEL_LATE, min(CANCEL_SECONDS, limit.left()))
                )
        seconds = time.monotonic() - started
        history = self.history(prompt_id, limit)
        status = "error" if error else (history.get("status") or {}).get("status_str", "success")
        outputs = history.get("outputs", {})
        return Run(
            prompt_id,
            tuple(events),
            status,
            outputs if isinstance(outputs, dict) else {},
            error,
            seconds,
            tuple(arrivals),
        )

    def _open_ws(self, deadline: Deadline) -> tuple[websocket.WebSocket, Watchdog]:
        """/ws opened within ``deadline``; the watchdog shuts its socket down when the deadline passes."""
        url = self.url(f"/ws?clientId={self.client_id}")
        ws_url = "ws" + url[len("http") :]
        try:
            check_url(url)
        except ValueError as exc:
            raise ComfyError(f"{http.quote(url, 60)} is not an http(s) URL ({exc})", kind="bad-url") from None
        watchdog = Watchdog(deadline)

        def connect() -> websocket.WebSocket:
            ws = websocket.create_connection(ws_url, timeout=max(0.01, deadline.left()))
            if ws.sock is not None:  # None only once closed
                watchdog.arm(ws.sock)
            return ws

        try:
            return call_by(connect, deadline, name=f"connect {ws_url[:80]}"), watchdog
        except (OSError, websocket.WebSocketException) as exc:
            timed_out = watchdog.fired or isinstance(exc, (TimeoutError, websocket.WebSocketTimeoutException))
            watchdog.fire()  # a connect still going on in call_by's thread: its socket is shut at once
            watchdog.stop()
            if timed_out:
                raise ComfyError(
                    f"ComfyUI at {self.shown_url} did not open /ws within {deadline.seconds:g} s", kind="timeout"
                ) from None
            if isinstance(exc, ConnectionRefusedError | socket.gaierror):
                why = exc.strerror or str(exc)
                raise ComfyError(f"cannot connect to ComfyUI at {self.shown_url}: {why}", kind="unreachable") from None
            raise ComfyError(f"cannot open {ws_url}: {http.quote(str(exc))}", kind="protocol") from None


def _unfinished(prompt_id: str, deadline: Deadline, events: list[dict[str, Any]]) -> ComfyError:
    return ComfyError(
        f"workflow {prompt_id} did not finish within {deadline.seconds:g} s ({len(events)} events)", kind="timeout"
    )


def _event(message: str) -> dict[str, Any]:
    """One /ws message as the JSON object it must be."""
    try:
        event = json.loads(message)
    except (ValueError, RecursionError):
        raise ComfyError(f"/ws sent a message that is not JSON: {http.quote(message)}", kind="bad-body") from None
    if not isinstance(event, dict):
        raise ComfyError(f"/ws sent a message that is not a JSON object: {http.quote(message)}", kind="bad-body")
    return event


QUIET_SECONDS = 5.0  # silence on /ws after which /history is asked whether the run ended
CLOSE_SECONDS = 0.1  # the longest /ws's close handshake may take
