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

import copy
import io
import json
import math
import random
import time
import urllib.parse
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, ClassVar

import websocket

from .. import http
from ..errors import ConfigError
from ..http import Deadline, HttpError
from ..model import Finding, Severity
from .api import ApiClient, ServiceError

# the checkpoint the one-step-sd15 workflow names; the test kit's `xpu tiny-checkpoint` writes one
CHECKPOINT_NAME = "xpu-tiny-sd15.safetensors"

WORKFLOWS = ("model-free", "one-step-sd15")
MODEL_WORKFLOW = "one-step-sd15"
MAX_ANSWER = 16 * 1024 * 1024  # /system_stats, /object_info, /prompt, /history
CANCEL_SECONDS = 5.0  # how long taking an unfinished run of ours off the server may take
MAX_IMAGE = 64 * 1024 * 1024  # /view

class ComfyError(ServiceError):
    """ComfyUI did not answer as its API says it should (``kind``: see ServiceError, or ``rejected``
    for a workflow /prompt refused)."""


def load_workflow(name: str) -> dict[str, Any]:
    if name not in WORKFLOWS:
        raise ValueError(f"unknown workflow {name!r} (known: {', '.join(WORKFLOWS)})")
    return json.loads(resources.files("xpu_tool.workflows").joinpath(f"{name}.json").read_text())


def _links(node: dict[str, Any]) -> Iterable[str]:
    for value in node.get("inputs", {}).values():
        if isinstance(value, list) and len(value) == 2 and isinstance(value[0], str):
            yield value[0]


def downstream(workflow: dict[str, Any], nodes: Iterable[str]) -> frozenset[str]:
    """``nodes`` and every node that takes an input from them, directly or through others."""
    found = set(nodes)
    grew = True
    while grew:
        grew = False
        for node_id, node in workflow.items():
            if node_id not in found and any(source in found for source in _links(node)):
                found.add(node_id)
                grew = True
    return frozenset(found)


@dataclass(frozen=True)
class Fresh:
    """A workflow made different from every earlier one, and what must execute because of it."""

    workflow: dict[str, Any]
    changed: frozenset[str]  # nodes whose inputs were made new
    colours: frozenset[tuple[int, int, int]]  # the EmptyImage colours chosen, as RGB

    @property
    def must_execute(self) -> frozenset[str]:
        return downstream(self.workflow, self.changed)


def fresh_workflow(workflow: dict[str, Any], rng: random.Random | None = None, *,
                   checkpoint: str | None = None) -> Fresh:
    """New EmptyImage colours (all different) and sampler seeds, so ComfyUI's cache cannot serve
    the outputs; ``checkpoint`` replaces the checkpoint loaders' file name."""
    rng = rng or random.Random()
    workflow = copy.deepcopy(workflow)
    changed: set[str] = set()
    colours: set[tuple[int, int, int]] = set()
    for node_id, node in workflow.items():
        inputs, kind = node["inputs"], node["class_type"]
        if kind == "EmptyImage":
            while True:
                rgb = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
                if rgb not in colours:
                    break
            colours.add(rgb)
            inputs["color"] = rgb[0] << 16 | rgb[1] << 8 | rgb[2]
            changed.add(node_id)
        elif kind == "KSampler":
            inputs["seed"] = rng.randrange(1 << 48)
            changed.add(node_id)
        elif kind == "CheckpointLoaderSimple" and checkpoint:
            inputs["ckpt_name"] = checkpoint
    return Fresh(workflow, frozenset(changed), frozenset(colours))


@dataclass(frozen=True)
class ImageCheck:
    filename: str
    width: int
    height: int
    colours: int  # distinct colours: 1 means blank
    palette: frozenset[tuple[int, int, int]] = frozenset()  # the RGB colours, where there are at most 16

    @property
    def blank(self) -> bool:
        return self.colours <= 1


@dataclass(frozen=True)
class Run:
    prompt_id: str
    events: tuple[dict[str, Any], ...]
    status: str  # "success" | "error"
    outputs: dict[str, Any]
    error: dict[str, Any] | None
    seconds: float
    arrivals: tuple[float, ...] = ()  # time.monotonic() when each event arrived

    @property
    def progress_steps(self) -> int:
        return sum(1 for e in self.events if e.get("type") == "progress")

    @property
    def executed_nodes(self) -> frozenset[str]:
        """Nodes ComfyUI announced with ``executing``: it ran them in this prompt."""
        return frozenset(str(e["data"]["node"]) for e in self.events
                         if e.get("type") == "executing" and (e.get("data") or {}).get("node") is not None)

    @property
    def cached_nodes(self) -> frozenset[str]:
        """Nodes ComfyUI served from its cache (``execution_cached``)."""
        return frozenset(str(n) for e in self.events if e.get("type") == "execution_cached"
                         for n in (e.get("data") or {}).get("nodes", []))

    def not_executed(self, nodes: Iterable[str]) -> list[str]:
        """Those of ``nodes`` this run did not execute (cached, or never reached)."""
        return sorted(n for n in nodes if n not in self.executed_nodes or n in self.cached_nodes)


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

    def _request(self, method: str, path: str, *, max_bytes: int = MAX_ANSWER, deadline: Deadline | None = None,
                 **kwargs: Any) -> http.Response:
        """One call whose HTTP status the caller judges (POST /prompt explains its 400s)."""
        return self.request(method, path, deadline=deadline or self.call_deadline(self.timeout), max_bytes=max_bytes,
                            check_status=False, **kwargs)

    def _get(self, path: str, *, max_bytes: int = MAX_ANSWER, deadline: Deadline | None = None) -> http.Response:
        return self.request("GET", path, deadline=deadline or self.call_deadline(self.timeout), max_bytes=max_bytes)

    def _json(self, path: str, deadline: Deadline | None = None) -> dict[str, Any]:
        return self.json_object("GET", path, deadline=deadline or self.call_deadline(self.timeout))

    def system_stats(self) -> dict[str, Any]:
        return self._json("/system_stats")

    def object_info(self, node_class: str | None = None) -> dict[str, Any]:
        return self._json(f"/object_info/{urllib.parse.quote(node_class)}" if node_class else "/object_info")

    def queue(self, workflow: dict[str, Any], deadline: Deadline | None = None) -> str:
        r = self._request("POST", "/prompt", json_body={"prompt": workflow, "client_id": self.client_id},
                          deadline=deadline)
        try:
            body = r.json_object()
        except HttpError:
            raise ComfyError(f"POST /prompt: HTTP {r.status}, not JSON: {http.quote(r.body)}", status=r.status,
                             kind="bad-body") from None
        if r.status >= 400 or "prompt_id" not in body:
            err = body.get("error")
            message = err.get("message") if isinstance(err, dict) else err
            node_errors = body.get("node_errors")
            details = "; ".join(f"{e.get('message')}: {e.get('details')}"
                                for n in (node_errors.values() if isinstance(node_errors, dict) else ())
                                if isinstance(n, dict) for e in n.get("errors", []) if isinstance(e, dict))
            text = " ".join(f"{message}{' (' + details + ')' if details else ''}".split())
            raise ComfyError(f"POST /prompt rejected the workflow: {text[:400]}", status=r.status, body=body,
                             kind="rejected")
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
            raise ComfyError(f"GET /history/{prompt_id}: the entry is not an object: {http.quote(json.dumps(entry))}",
                             kind="bad-body")
        return entry

    def view(self, image: dict[str, str]) -> bytes:
        query = urllib.parse.urlencode({"filename": image["filename"], "subfolder": image.get("subfolder", ""),
                                        "type": image.get("type", "output")})
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
        finished = False
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
                            error = next((m[1] for m in status.get("messages", [])
                                          if m and m[0] == "execution_error"), {"exception_message": "error"})
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
                    raise ComfyError(f"/ws sent an event whose data is not an object: {http.quote(message)}",
                                     kind="bad-body")
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
        finally:  # the close handshake waits for the peer's close frame: a moment at most
            ws.close(timeout=max(0.01, min(CLOSE_SECONDS, limit.left())))
            watchdog.disarm()
            ws.shutdown()
            if prompt_id is not None and not finished:  # deadline, broken /ws, Ctrl-C: leave the server free
                self.cancel(prompt_id)
        seconds = time.monotonic() - started
        history = self.history(prompt_id, limit)
        status = "error" if error else (history.get("status") or {}).get("status_str", "success")
        outputs = history.get("outputs", {})
        return Run(prompt_id, tuple(events), status, outputs if isinstance(outputs, dict) else {}, error, seconds,
                   tuple(arrivals))

    def _open_ws(self, deadline: Deadline) -> tuple[websocket.WebSocket, http._Watchdog]:
        """/ws opened within ``deadline``; the watchdog shuts its socket down when the deadline passes."""
        url = self.url(f"/ws?clientId={self.client_id}")
        ws_url = "ws" + url[len("http"):]
        try:
            scheme, host, port, _ = http._split(url)
            sock = http._connect(scheme, host, port, deadline)
        except HttpError as exc:
            raise self.failure("GET", "/ws", exc, deadline) from None
        watchdog = http._Watchdog(deadline)
        watchdog.arm(sock)
        try:
            return websocket.create_connection(ws_url, timeout=max(0.01, deadline.left()), socket=sock), watchdog
        except (OSError, websocket.WebSocketException) as exc:
            watchdog.disarm()
            sock.close()
            if watchdog.fired or isinstance(exc, (TimeoutError, websocket.WebSocketTimeoutException)):
                raise ComfyError(f"ComfyUI at {self.base_url} did not open /ws within {deadline.seconds:g} s",
                                 kind="timeout") from None
            raise ComfyError(f"cannot open {ws_url}: {http.quote(str(exc))}", kind="protocol") from None


def _unfinished(prompt_id: str, deadline: Deadline, events: list[dict[str, Any]]) -> ComfyError:
    return ComfyError(f"workflow {prompt_id} did not finish within {deadline.seconds:g} s ({len(events)} events)",
                      kind="timeout")


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


def check_image(data: bytes, filename: str) -> ImageCheck:
    from PIL import Image  # noqa: PLC0415 - only checking an image needs Pillow

    with Image.open(io.BytesIO(data)) as img:
        img.load()
        rgb = img.convert("RGB")
        colours = rgb.getcolors(maxcolors=1 << 16)
        palette = frozenset(c for _, c in colours) if colours is not None and len(colours) <= 16 else frozenset()
        return ImageCheck(filename, img.width, img.height, len(colours) if colours is not None else 1 << 16, palette)


def diagnose_error(error: dict[str, Any]) -> list[Finding]:
    text = f"{error.get('exception_type', '')}: {error.get('exception_message', '')}"
    where = f"node {error.get('node_id')} ({error.get('node_type')})"
    lowered = text.lower()
    if "fp64" in lowered or "double" in lowered:
        return [Finding("fp64-emulation", Severity.FAIL, f"{where} needs FP64, which this GPU lacks", (text.strip(),),
                        fix="enable FP64 emulation: OverrideDefaultFP64Settings=1 IGC_EnableDPEmulation=1",
                        nixos="services.comfyui.intel.fp64Emulation = true;")]
    if "could not create a primitive" in lowered:
        return [Finding("mdwe-blocks-jit", Severity.FAIL, f"{where}: oneDNN could not JIT a kernel", (text.strip(),),
                        fix="turn MemoryDenyWriteExecute off for the ComfyUI service",
                        nixos="systemd.services.comfyui.serviceConfig.MemoryDenyWriteExecute = lib.mkForce false;")]
    if "permission denied" in lowered and "/dev/dri" in lowered:
        return [Finding("render-access", Severity.FAIL, f"{where}: the service cannot open the GPU", (text.strip(),),
                        fix="add the service user to the render and video groups",
                        nixos='systemd.services.comfyui.serviceConfig.SupplementaryGroups = [ "render" "video" ];')]
    return [Finding("comfyui-execution-error", Severity.FAIL, f"{where} failed", (text.strip(),),
                    fix="read the ComfyUI log (journalctl -u comfyui)")]


@dataclass(frozen=True)
class ComfyCheck:
    url: str
    device: dict[str, Any] | None = None
    run: Run | None = None
    images: tuple[ImageCheck, ...] = ()
    findings: tuple[Finding, ...] = ()
    workflow: str = "model-free"
    # after a model ran on an XPU: the bytes torch holds on the device (/system_stats torch_vram_total)
    device_memory: int | None = None

    @property
    def ok(self) -> bool:
        return bool(self.images) and not any(f.severity is Severity.FAIL for f in self.findings)

    @property
    def answered(self) -> bool:
        """/system_stats answered: there is a device to report."""
        return self.device is not None

    @property
    def unreachable(self) -> bool:
        """Nothing could be reached at the URL (connection refused, the host does not resolve)."""
        return any(f.id == "comfyui-unreachable" for f in self.findings)


def _unanswered(url: str, exc: ComfyError) -> Finding:
    if exc.kind == "unreachable":
        return Finding("comfyui-unreachable", Severity.FAIL, f"ComfyUI at {url} does not answer", (str(exc),),
                       fix="start it (systemctl status comfyui), check listen/port")
    if exc.kind == "timeout":
        return Finding("comfyui-timeout", Severity.FAIL, f"ComfyUI at {url} does not answer in time", (str(exc),),
                       fix="read the ComfyUI log; check that a proxy in front of it does not hold answers back")
    return Finding("comfyui-api-error", Severity.FAIL, f"ComfyUI at {url} does not answer as its API should",
                   (str(exc),), fix="read the ComfyUI log; check that a proxy in front of it passes /system_stats")


def _rejected(workflow: str, exc: ComfyError, checkpoint: str | None) -> Finding:
    body = exc.body if isinstance(exc.body, dict) else {}
    no_checkpoint = any(e.get("extra_info", {}).get("input_name") == "ckpt_name"
                        for n in (body.get("node_errors") or {}).values() for e in n.get("errors", []))
    if no_checkpoint:
        test_checkpoint = f"xpu tiny-checkpoint MODELS/checkpoints/{CHECKPOINT_NAME} (the test kit's command)"
        fix = (f"put {checkpoint} into the server's models/checkpoints, or leave out --checkpoint and write the "
               f"test checkpoint: {test_checkpoint}" if checkpoint else
               f"write the test checkpoint into the server's models: {test_checkpoint}, or name an SD1.5 "
               "checkpoint it has with --checkpoint")
        return Finding("comfyui-no-checkpoint", Severity.FAIL,
                       f"the server lacks the {workflow} workflow's checkpoint {checkpoint or CHECKPOINT_NAME}",
                       (str(exc),), fix=fix)
    return Finding("comfyui-workflow-failed", Severity.FAIL, f"the {workflow} workflow did not complete: {exc}",
                   (str(exc),), fix="read the ComfyUI log")


def _image_findings(images: list[ImageCheck], fresh: Fresh, size: tuple[int, int]) -> list[Finding]:
    findings = []
    for image in images:
        problems = []
        if (image.width, image.height) != size:
            problems.append(f"{image.width}x{image.height}, expected {size[0]}x{size[1]}")
        if image.blank:
            problems.append("blank (one colour)")
        elif fresh.colours and image.palette != fresh.colours:  # the composite shows exactly the colours asked for
            problems.append(f"colours {sorted(image.palette)}, this run asked for {sorted(fresh.colours)}")
        if problems:
            findings.append(Finding("comfyui-bad-image", Severity.FAIL, f"{image.filename} is not the expected image",
                                    tuple(problems), fix="read the ComfyUI log"))
    if not images:
        findings.append(Finding("comfyui-no-output", Severity.FAIL, "the workflow produced no image", (),
                                fix="read the ComfyUI log"))
    return findings


def _execution_findings(run: Run, fresh: Fresh, workflow: str) -> list[Finding]:
    findings = []
    stale = run.not_executed(fresh.must_execute)
    if stale:
        findings.append(Finding("comfyui-not-executed", Severity.FAIL,
                                f"nodes {', '.join(stale)} did not execute: the outputs are not from this run",
                                (f"executed {sorted(run.executed_nodes)}, cached {sorted(run.cached_nodes)}",),
                                fix="read the ComfyUI log; a server that answers from its cache checks nothing"))
    if workflow == MODEL_WORKFLOW and run.progress_steps == 0:
        findings.append(Finding("comfyui-model-not-run", Severity.FAIL, "the sampler reported no steps",
                                ("no progress events from the KSampler",), fix="read the ComfyUI log"))
    return findings


def check_comfyui(url: str, *, workflow: str | None = None, expect_xpu: bool = False,
                  size: tuple[int, int] = (64, 64), deadline: float = 300.0, checkpoint: str | None = None,
                  rng: random.Random | None = None) -> ComfyCheck:
    """System stats, the node classes, the workflow made fresh through /prompt and /ws, the
    executed nodes, the outputs fetched and verified.

    ``expect_xpu`` is judged on a workflow that runs a model (one-step-sd15, the default then):
    the device /system_stats names runs the sampler, and the run must have executed on it; on an
    XPU, /system_stats must show torch holding device memory after the run (the model on the GPU)."""
    workflow = workflow or (MODEL_WORKFLOW if expect_xpu else "model-free")
    if expect_xpu and workflow != MODEL_WORKFLOW:
        raise ConfigError(f"expecting the GPU needs a workflow that runs a model on it ({MODEL_WORKFLOW}); "
                          f"{workflow} runs on the CPU in ComfyUI")
    if not (math.isfinite(deadline) and deadline > 0):
        raise ConfigError(f"a check needs a finite positive number of seconds, not {deadline!r}")
    try:
        http._split(url)
    except HttpError as exc:
        raise ConfigError(str(exc)) from None
    fresh = fresh_workflow(load_workflow(workflow), rng, checkpoint=checkpoint)
    client = ComfyClient(url, deadline=Deadline.after(deadline))
    try:
        device = _device(client.system_stats())
        missing = client.missing_nodes(fresh.workflow)
    except ComfyError as exc:
        return ComfyCheck(url, findings=(_unanswered(url, exc),), workflow=workflow)
    findings: list[Finding] = []
    if missing:
        findings.append(Finding("comfyui-missing-nodes", Severity.FAIL, f"ComfyUI lacks nodes the {workflow} "
                                f"workflow needs: {', '.join(missing)}", ("/object_info answered {} for them",),
                                fix="update ComfyUI; these are core nodes, a custom build may have dropped them"))
        return ComfyCheck(url, device, findings=tuple(findings), workflow=workflow)
    if device.get("type") != "xpu":
        findings.append(Finding(
            "comfyui-not-on-xpu", Severity.FAIL if expect_xpu else Severity.INFO,
            f"ComfyUI runs on {device.get('type')!r}, not on an Intel GPU ('xpu')",
            (f"/system_stats device: {device.get('name')}",),
            fix="run ComfyUI with a PyTorch that has XPU (the flake's comfyui-ipex); it picks xpu when "
                "torch.xpu.is_available()",
            nixos='services.comfyui.intel = { enable = true; device = "xpu"; };'))
    try:
        run = client.run(fresh.workflow, deadline=deadline)
    except ComfyError as exc:
        return ComfyCheck(url, device, findings=tuple(findings + [_rejected(workflow, exc, checkpoint)]),
                         workflow=workflow)
    if run.error is not None:
        return ComfyCheck(url, device, run, findings=tuple(findings + diagnose_error(run.error)), workflow=workflow)
    findings += _execution_findings(run, fresh, workflow)
    try:
        images = [_fetch_image(client, image) for image in _images(run)]
    except ComfyError as exc:
        return ComfyCheck(url, device, run, findings=tuple(findings + [_unfetched(exc)]), workflow=workflow)
    findings += _image_findings(images, fresh, size)
    if workflow != MODEL_WORKFLOW or device.get("type") != "xpu":  # on the CPU the figure is the RAM
        return ComfyCheck(url, device, run, tuple(images), tuple(findings), workflow)
    try:
        stats = client.system_stats()
        memory, evidence = _device_memory(stats, expect_xpu)
    except ComfyError as exc:
        return ComfyCheck(url, device, run, tuple(images), tuple(findings + [_unanswered(url, exc)]), workflow)
    return ComfyCheck(url, device, run, tuple(images), tuple(findings + evidence), workflow, memory)


# ComfyUI's flags (comfy/cli_args.py, 0.8.0) after which no model stays on the device once a
# prompt ends, however it ran: --novram casts the weights in per layer, --disable-smart-memory
# unloads every model after a prompt, --cache-none drops the model with the cache (each followed
# by torch.xpu.empty_cache()).
UNLOADING_FLAGS = ("--novram", "--disable-smart-memory", "--cache-none")


def _device_memory(stats: dict[str, Any], expect_xpu: bool) -> tuple[int | None, list[Finding]]:
    """After a model ran on an XPU: what torch holds there (ComfyUI reports torch.xpu's reserved
    bytes as the device's torch_vram_total; None where the answer does not say), and the finding
    when it holds nothing though the server's flags would keep the model loaded."""
    held = _device(stats).get("torch_vram_total")
    held = held if isinstance(held, int) and not isinstance(held, bool) else None
    argv = (stats.get("system") or {}).get("argv")
    flags = [a for a in argv if a in UNLOADING_FLAGS] if isinstance(argv, list) else []
    if flags:
        return held, [Finding("comfyui-device-memory-not-judged", Severity.INFO,
                              f"device memory says nothing here: ComfyUI runs with {' '.join(flags)}, so no model "
                              "stays on the GPU after a run", (f"/system_stats argv: {' '.join(map(str, argv))}",),
                              fix="nothing to do; xpu bench comfyui compares the GPU with the CPU")]
    if held != 0:
        return held, []
    return held, [Finding("comfyui-model-not-on-device", Severity.FAIL if expect_xpu else Severity.WARN,
                          "the sampler ran, yet torch holds no memory on the XPU: the model did not stay on the GPU",
                          ("/system_stats torch_vram_total is 0 after the run",),
                          fix="read the ComfyUI log for where the model was loaded (a POST /free from another "
                              "client in between also empties it: run the check again)")]


def _device(stats: dict[str, Any]) -> dict[str, Any]:
    """The first device /system_stats names ({} where it names none)."""
    devices = stats.get("devices") or [{}]
    if not isinstance(devices, list) or not isinstance(devices[0], dict):
        raise ComfyError(f"GET /system_stats: devices is not a list of objects: {http.quote(json.dumps(devices))}",
                         kind="bad-body")
    return devices[0]


def _images(run: Run) -> list[dict[str, str]]:
    """The images the run's outputs name, each with a file name."""
    images = [image for output in run.outputs.values() if isinstance(output, dict)
              for image in (output.get("images") or [])]
    if not all(isinstance(i, dict) and isinstance(i.get("filename"), str) for i in images):
        raise ComfyError(f"GET /history/{run.prompt_id}: outputs name images without a filename: "
                         f"{http.quote(json.dumps(images))}", kind="bad-body")
    return images


def _fetch_image(client: ComfyClient, image: dict[str, str]) -> ImageCheck:
    from PIL import Image  # noqa: PLC0415 - as check_image

    data = client.view(image)
    try:
        return check_image(data, image["filename"])
    except (OSError, ValueError, Image.DecompressionBombError) as exc:  # UnidentifiedImageError is an OSError
        raise ComfyError(f"GET /view: {image['filename']} is not an image ({exc}): {http.quote(data, 60)}",
                         kind="bad-body") from None


def _unfetched(exc: ComfyError) -> Finding:
    return Finding("comfyui-no-output", Severity.FAIL, f"the outputs could not be fetched: {exc}", (str(exc),),
                   fix="read the ComfyUI log; check that a proxy in front of it passes /view")
