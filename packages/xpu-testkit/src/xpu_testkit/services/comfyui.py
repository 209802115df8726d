"""A ComfyUI API client and end-to-end check (HTTP with requests, progress over /ws).

Endpoints as ComfyUI's server.py serves them: GET /system_stats, GET /object_info[/{class}],
POST /prompt -> {"prompt_id", "number", "node_errors"} (HTTP 400 with {"error", "node_errors"}
when the workflow is invalid), websocket /ws?clientId=... (status, execution_start, executing,
progress, executed, execution_success | execution_error, then executing with node null),
GET /history/{prompt_id}, GET /view?filename=&subfolder=&type=output.

Two workflows ship with the package: ``model-free`` (two EmptyImages composited and saved: no
model files, a 64x64 two-colour image) and ``one-step-sd15`` (one KSampler step at 64x64 from a
checkpoint named xpu-tiny-sd15.safetensors, which the server must have).
"""

from __future__ import annotations

import io
import json
import time
import uuid
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import requests
import websocket

from ..errors import XpuError
from ..model import Finding, Severity

WORKFLOWS = ("model-free", "one-step-sd15")


class ComfyError(XpuError):
    def __init__(self, message: str, *, status: int | None = None, body: Any = None) -> None:  # noqa: D107
        super().__init__(message)
        self.status = status
        self.body = body


def load_workflow(name: str) -> dict[str, Any]:
    if name not in WORKFLOWS:
        raise ValueError(f"unknown workflow {name!r} (known: {', '.join(WORKFLOWS)})")
    return json.loads(resources.files("xpu_testkit.workflows").joinpath(f"{name}.json").read_text())


@dataclass(frozen=True)
class ImageCheck:
    filename: str
    width: int
    height: int
    colours: int  # distinct colours: 1 means blank

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


@dataclass
class ComfyClient:
    base_url: str
    timeout: float = 30.0
    client_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def _get(self, path: str, **params: str) -> requests.Response:
        try:
            r = requests.get(self.base_url.rstrip("/") + path, params=params or None, timeout=self.timeout)
        except requests.ConnectionError:
            raise ComfyError(f"cannot connect to ComfyUI at {self.base_url}") from None
        except requests.Timeout:
            raise ComfyError(f"ComfyUI at {self.base_url} did not answer GET {path} within {self.timeout:.0f} s") from None
        if r.status_code >= 400:
            raise ComfyError(f"GET {path}: HTTP {r.status_code}", status=r.status_code, body=r.text[:500])
        return r

    def _json(self, path: str) -> Any:
        try:
            return self._get(path).json()
        except ValueError:
            raise ComfyError(f"GET {path}: not JSON") from None

    def system_stats(self) -> dict[str, Any]:
        return self._json("/system_stats")

    def object_info(self, node_class: str | None = None) -> dict[str, Any]:
        return self._json(f"/object_info/{node_class}" if node_class else "/object_info")

    def queue(self, workflow: dict[str, Any]) -> str:
        try:
            r = requests.post(self.base_url.rstrip("/") + "/prompt",
                              json={"prompt": workflow, "client_id": self.client_id}, timeout=self.timeout)
        except requests.RequestException as exc:
            raise ComfyError(f"cannot queue the workflow at {self.base_url}: {type(exc).__name__}") from None
        try:
            body = r.json()
        except ValueError:
            raise ComfyError(f"POST /prompt: HTTP {r.status_code}, not JSON", status=r.status_code) from None
        if r.status_code >= 400 or "prompt_id" not in body:
            err = body.get("error")
            message = err.get("message") if isinstance(err, dict) else err
            details = "; ".join(f"{e.get('message')}: {e.get('details')}" for n in (body.get("node_errors") or {}).values()
                                for e in n.get("errors", []))
            raise ComfyError(f"POST /prompt rejected the workflow: {message}{' (' + details + ')' if details else ''}",
                             status=r.status_code, body=body)
        return str(body["prompt_id"])

    def history(self, prompt_id: str) -> dict[str, Any]:
        return self._json(f"/history/{prompt_id}").get(prompt_id, {})

    def view(self, image: dict[str, str]) -> bytes:
        return self._get("/view", filename=image["filename"], subfolder=image.get("subfolder", ""),
                         type=image.get("type", "output")).content

    def run(self, workflow: dict[str, Any], deadline: float = 300.0) -> Run:
        """Queue ``workflow`` and follow it on /ws until it finishes or ``deadline`` passes."""
        ws_url = self.base_url.replace("http", "ws", 1).rstrip("/") + f"/ws?clientId={self.client_id}"
        try:
            ws = websocket.create_connection(ws_url, timeout=min(self.timeout, deadline))
        except (OSError, websocket.WebSocketException) as exc:
            raise ComfyError(f"cannot open {ws_url}: {exc}") from None
        started = time.monotonic()
        events: list[dict[str, Any]] = []
        arrivals: list[float] = []
        error = None
        try:
            prompt_id = self.queue(workflow)
            while True:
                left = deadline - (time.monotonic() - started)
                if left <= 0:
                    raise ComfyError(f"workflow {prompt_id} did not finish within {deadline:.0f} s "
                                     f"({len(events)} events)")
                ws.settimeout(min(left, self.timeout, QUIET_SECONDS))
                try:
                    message = ws.recv()
                except websocket.WebSocketTimeoutException:
                    # a quiet socket: the run may have ended with its events lost (a reconnect, a
                    # proxy that dropped frames), which /history shows
                    status = (self.history(prompt_id).get("status") or {})
                    if status.get("completed") or status.get("status_str") in ("success", "error"):
                        if status.get("status_str") == "error":
                            error = next((m[1] for m in status.get("messages", [])
                                          if m and m[0] == "execution_error"), {"exception_message": "error"})
                        break
                    continue
                except (OSError, websocket.WebSocketException) as exc:
                    raise ComfyError(f"the /ws connection broke: {exc}") from None
                if not isinstance(message, str):
                    continue  # binary previews
                event = json.loads(message)
                data = event.get("data") or {}
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
        finally:
            ws.close()
        seconds = time.monotonic() - started
        history = self.history(prompt_id)
        status = "error" if error else (history.get("status") or {}).get("status_str", "success")
        return Run(prompt_id, tuple(events), status, history.get("outputs", {}), error, seconds, tuple(arrivals))


QUIET_SECONDS = 5.0  # silence on /ws after which /history is asked whether the run ended


def check_image(data: bytes, filename: str) -> ImageCheck:
    from PIL import Image  # noqa: PLC0415 - Pillow comes with matplotlib

    with Image.open(io.BytesIO(data)) as img:
        img.load()
        colours = img.convert("RGB").getcolors(maxcolors=1 << 16)
        return ImageCheck(filename, img.width, img.height, len(colours) if colours is not None else 1 << 16)


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

    @property
    def ok(self) -> bool:
        return bool(self.images) and not any(f.severity is Severity.FAIL for f in self.findings)


def check_comfyui(url: str, *, workflow: str = "model-free", expect_xpu: bool = False,
                  size: tuple[int, int] = (64, 64), deadline: float = 300.0) -> ComfyCheck:
    """System stats, the workflow through /prompt and /ws, the outputs fetched and verified."""
    client = ComfyClient(url)
    try:
        stats = client.system_stats()
        device = (stats.get("devices") or [{}])[0]
        client.object_info("SaveImage")
    except ComfyError as exc:
        if str(exc).startswith("cannot connect"):
            finding = Finding("comfyui-unreachable", Severity.FAIL, f"ComfyUI at {url} does not answer", (str(exc),),
                              fix="start it (systemctl status comfyui), check listen/port")
        else:
            finding = Finding("comfyui-api-error", Severity.FAIL, f"ComfyUI at {url} does not answer as its API should",
                              (str(exc),), fix="read the ComfyUI log; check that a proxy in front of it passes /system_stats")
        return ComfyCheck(url, findings=(finding,))
    findings: list[Finding] = []
    if device.get("type") != "xpu":
        findings.append(Finding(
            "comfyui-not-on-xpu", Severity.FAIL if expect_xpu else Severity.INFO,
            f"ComfyUI runs on {device.get('type')!r}, not on an Intel GPU ('xpu')",
            (f"/system_stats device: {device.get('name')}",),
            fix="run ComfyUI with a PyTorch that has XPU (the flake's comfyui-ipex); it picks xpu when "
                "torch.xpu.is_available()",
            nixos='services.comfyui.intel = { enable = true; device = "xpu"; };'))
    try:
        run = client.run(load_workflow(workflow), deadline=deadline)
    except ComfyError as exc:
        findings.append(Finding("comfyui-workflow-failed", Severity.FAIL, f"the {workflow} workflow did not complete",
                                (str(exc),), fix="read the ComfyUI log; a missing model shows as a rejected workflow"))
        return ComfyCheck(url, device, findings=tuple(findings))
    if run.error is not None:
        return ComfyCheck(url, device, run, findings=tuple(findings + diagnose_error(run.error)))
    images = []
    for output in run.outputs.values():
        for image in output.get("images", []):
            images.append(check_image(client.view(image), image["filename"]))
    for image in images:
        if (image.width, image.height) != size or image.blank:
            findings.append(Finding("comfyui-bad-image", Severity.FAIL, f"{image.filename} is not the expected image",
                                    (f"{image.width}x{image.height}, {image.colours} colour(s); expected {size[0]}x{size[1]}",),
                                    fix="read the ComfyUI log"))
    if not images:
        findings.append(Finding("comfyui-no-output", Severity.FAIL, "the workflow produced no image", (),
                                fix="read the ComfyUI log"))
    return ComfyCheck(url, device, run, tuple(images), tuple(findings))
