"""`xpu check comfyui`: a fresh workflow through /prompt and /ws, the nodes that must execute checked
against ``executing`` and ``execution_cached``, the images fetched and verified, --expect-gpu judged
on /system_stats after a model ran; every failure a finding. Also the quick check of `xpu export`.
The findings are made in ``findings``, the images fetched and judged in ``images``.
"""

from __future__ import annotations

import dataclasses
import math
import random
from dataclasses import dataclass
from typing import Any

from ... import http
from ...deadline import Deadline
from ...errors import ConfigError
from ...http import HttpError
from ...model import Finding, NixosSetting, Severity
from ...urls import check_url, redact
from ..registry import Option, ServiceState, reason, service
from .client import ComfyClient, ComfyError
from .findings import (
    device_memory,
    diagnose_error,
    execution_findings,
    first_device,
    no_answer,
    rejected,
    unfetched,
)
from .images import ImageCheck, fetch_image, image_findings, run_images
from .workflow import CHECKPOINT_NAME, MODEL_WORKFLOW, WORKFLOWS, Run, fresh_workflow, load_workflow


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

    @property
    def unanswered(self) -> bool:
        """No answer to report but why (its one finding): /system_stats did not answer."""
        return not self.answered

    def to_dict(self) -> dict[str, Any]:
        """`xpu check comfyui --json`."""
        return check_to_dict(self)

    def lines(self) -> list[str]:
        """`xpu check comfyui`'s text: the device, the nodes that ran, the images, the findings."""
        device = self.device or {}
        out = [
            f"comfyui {self.url}: device {device.get('type', 'unknown')} ({device.get('name', 'unnamed')}), "
            f"workflow {self.workflow}"
        ]
        if self.run is not None:
            cached = ", ".join(sorted(self.run.cached_nodes)) or "none"
            out.append(
                f"  executed nodes {', '.join(sorted(self.run.executed_nodes)) or 'none'} (from the cache: "
                f"{cached}), {self.run.progress_steps} sampler step(s), {self.run.seconds:.2f} s"
            )
        out += [f"  {i.filename}: {i.width}x{i.height}, {i.colours} colours" for i in self.images]
        out += [f"  {f.severity.value.upper()}: {f.title} -> {f.fix}" for f in self.findings]
        return out


def check_comfyui(
    url: str,
    *,
    workflow: str | None = None,
    expect_xpu: bool = False,
    size: tuple[int, int] = (64, 64),
    deadline: float = 300.0,
    checkpoint: str | None = None,
    rng: random.Random | None = None,
) -> ComfyCheck:
    """System stats, the node classes, the workflow made fresh through /prompt and /ws, the
    executed nodes, the outputs fetched and verified.

    ``expect_xpu`` is judged on a workflow that runs a model (one-step-sd15, the default then):
    the device /system_stats names runs the sampler, and the run must have executed on it; on an
    XPU, /system_stats must show torch holding device memory after the run (the model on the GPU)."""
    workflow = workflow or (MODEL_WORKFLOW if expect_xpu else "model-free")
    if expect_xpu and workflow != MODEL_WORKFLOW:
        raise ConfigError(
            f"expecting the GPU needs a workflow that runs a model on it ({MODEL_WORKFLOW}); "
            f"{workflow} runs on the CPU in ComfyUI"
        )
    if not (math.isfinite(deadline) and deadline > 0):
        raise ConfigError(f"a check needs a finite positive number of seconds, not {deadline!r}")
    try:
        check_url(url)
    except ValueError as exc:
        raise ConfigError(f"{http.quote(url, 60)} is not an http(s) URL ({exc})") from None
    fresh = fresh_workflow(load_workflow(workflow), rng, checkpoint=checkpoint)
    client = ComfyClient(url, deadline=Deadline.after(deadline))
    url = client.shown_url  # from here on, the URL as shown: no password
    try:
        device = first_device(client.system_stats())
        missing = client.missing_nodes(fresh.workflow)
    except ComfyError as exc:
        return ComfyCheck(url, findings=(no_answer(url, exc),), workflow=workflow)
    findings: list[Finding] = []
    if missing:
        findings.append(
            Finding(
                "comfyui-missing-nodes",
                Severity.FAIL,
                f"ComfyUI lacks nodes the {workflow} workflow needs: {', '.join(missing)}",
                ("/object_info answered {} for them",),
                fix="update ComfyUI; these are core nodes, a custom build may have dropped them",
            )
        )
        return ComfyCheck(url, device, findings=tuple(findings), workflow=workflow)
    if device.get("type") != "xpu":
        findings.append(
            Finding(
                "comfyui-not-on-xpu",
                Severity.FAIL if expect_xpu else Severity.INFO,
                f"ComfyUI runs on {device.get('type')!r}, not on an Intel GPU ('xpu')",
                (f"/system_stats device: {device.get('name')}",),
                fix="run ComfyUI with a PyTorch that has XPU (the flake's comfyui-ipex); it picks xpu when "
                "torch.xpu.is_available()",
                settings=(
                    NixosSetting("services.comfyui.intel.enable", "true"),
                    NixosSetting("services.comfyui.intel.device", '"xpu"'),
                ),
            )
        )
    try:
        run = client.run(fresh.workflow, deadline=deadline)
    except ComfyError as exc:
        return ComfyCheck(url, device, findings=(*findings, rejected(workflow, exc, checkpoint)), workflow=workflow)
    if run.error is not None:
        return ComfyCheck(url, device, run, findings=tuple(findings + diagnose_error(run.error)), workflow=workflow)
    findings += execution_findings(run, fresh, workflow)
    try:
        images = [fetch_image(client, image) for image in run_images(run)]
    except ComfyError as exc:
        return ComfyCheck(url, device, run, findings=(*findings, unfetched(exc)), workflow=workflow)
    findings += image_findings(images, fresh, size)
    if workflow != MODEL_WORKFLOW or device.get("type") != "xpu":  # on the CPU the figure is the RAM
        return ComfyCheck(url, device, run, tuple(images), tuple(findings), workflow)
    try:
        stats = client.system_stats()
        memory, evidence = device_memory(stats, expect_xpu)
    except ComfyError as exc:
        return ComfyCheck(url, device, run, tuple(images), (*findings, no_answer(url, exc)), workflow)
    return ComfyCheck(url, device, run, tuple(images), tuple(findings + evidence), workflow, memory)


def check_to_dict(result: ComfyCheck) -> dict[str, Any]:
    run = result.run
    return {
        "url": result.url,
        "ok": result.ok,
        "workflow": result.workflow,
        "device": result.device,
        "images": [dict(dataclasses.asdict(i), palette=sorted(i.palette)) for i in result.images],
        "seconds": run.seconds if run else None,
        "executed": sorted(run.executed_nodes) if run else [],
        "cached": sorted(run.cached_nodes) if run else [],
        "sampler_steps": run.progress_steps if run else 0,
        "device_memory": result.device_memory,
        "findings": [f.to_dict() for f in result.findings],
    }


def check_comfyui_quickly(url: str, timeout: float) -> ServiceState:
    """`xpu export`'s check: /system_stats within ``timeout`` seconds; the version from
    system.comfyui_version."""
    try:
        stats = http.get_json(
            url.rstrip("/") + "/system_stats", deadline=Deadline.after(timeout), max_bytes=1024 * 1024
        )
    except HttpError as exc:
        return ServiceState("comfyui", redact(url), False, error=reason(exc.kind, exc.status))
    system = stats.get("system")
    if not isinstance(system, dict):
        return ServiceState("comfyui", redact(url), False, error="error")
    return ServiceState("comfyui", redact(url), True, str(system.get("comfyui_version", ""))[:100])


OPTIONS = (
    Option(
        "--workflow",
        "the workflow to run (default model-free; one-step-sd15 with --expect-gpu, which needs a "
        "workflow that runs a model on the device)",
        choices=WORKFLOWS,
    ),
    Option(
        "--checkpoint",
        f"the SD1.5 checkpoint one-step-sd15 loads from the server's models/checkpoints (default "
        f"{CHECKPOINT_NAME}: write it there with the test kit's `xpu tiny-checkpoint`)",
        metavar="FILE",
    ),
)


@service(
    "comfyui",
    title="ComfyUI",
    example_url="http://127.0.0.1:8188",
    quick=check_comfyui_quickly,
    options=OPTIONS,
    summary="a fresh workflow through /prompt and /ws; with --expect-gpu, a model step on the device",
)
def run_check(
    url: str,
    *,
    expect_gpu: bool = False,
    timeout: float = 300.0,
    workflow: str | None = None,
    checkpoint: str | None = None,
) -> ComfyCheck:
    return check_comfyui(url, workflow=workflow, expect_xpu=expect_gpu, checkpoint=checkpoint, deadline=timeout)
