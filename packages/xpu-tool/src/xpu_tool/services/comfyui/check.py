"""`xpu check comfyui`: a fresh workflow through /prompt and /ws, the nodes that must execute checked
against ``executing`` and ``execution_cached``, the images fetched and verified, --expect-gpu judged
on /system_stats after a model ran; every failure a finding. Also the quick check of `xpu export`.
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
import random
from dataclasses import dataclass
from typing import Any

from ... import http
from ...errors import ConfigError
from ...http import Deadline, HttpError
from ...model import Finding, NixosSetting, Severity
from ..registry import Option, ServiceState, reason, service
from .client import ComfyClient, ComfyError
from .workflow import CHECKPOINT_NAME, MODEL_WORKFLOW, WORKFLOWS, Fresh, Run, fresh_workflow, load_workflow


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
        return [
            Finding(
                "fp64-emulation",
                Severity.FAIL,
                f"{where} needs FP64, which this GPU lacks",
                (text.strip(),),
                fix="enable FP64 emulation: OverrideDefaultFP64Settings=1 IGC_EnableDPEmulation=1",
                settings=(NixosSetting("services.comfyui.intel.fp64Emulation", "true"),),
            )
        ]
    if "could not create a primitive" in lowered:
        return [
            Finding(
                "mdwe-blocks-jit",
                Severity.FAIL,
                f"{where}: oneDNN could not JIT a kernel",
                (text.strip(),),
                fix="turn MemoryDenyWriteExecute off for the ComfyUI service",
                settings=(
                    NixosSetting("systemd.services.comfyui.serviceConfig.MemoryDenyWriteExecute", "lib.mkForce false"),
                ),
            )
        ]
    if "permission denied" in lowered and "/dev/dri" in lowered:
        return [
            Finding(
                "render-access",
                Severity.FAIL,
                f"{where}: the service cannot open the GPU",
                (text.strip(),),
                fix="add the service user to the render and video groups",
                settings=(
                    NixosSetting("systemd.services.comfyui.serviceConfig.SupplementaryGroups", '[ "render" "video" ]'),
                ),
            )
        ]
    return [
        Finding(
            "comfyui-execution-error",
            Severity.FAIL,
            f"{where} failed",
            (text.strip(),),
            fix="read the ComfyUI log (journalctl -u comfyui)",
        )
    ]


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


def _unanswered(url: str, exc: ComfyError) -> Finding:
    if exc.kind == "unreachable":
        return Finding(
            "comfyui-unreachable",
            Severity.FAIL,
            f"ComfyUI at {url} does not answer",
            (str(exc),),
            fix="start it (systemctl status comfyui), check listen/port",
        )
    if exc.kind == "timeout":
        return Finding(
            "comfyui-timeout",
            Severity.FAIL,
            f"ComfyUI at {url} does not answer in time",
            (str(exc),),
            fix="read the ComfyUI log; check that a proxy in front of it does not hold answers back",
        )
    return Finding(
        "comfyui-api-error",
        Severity.FAIL,
        f"ComfyUI at {url} does not answer as its API should",
        (str(exc),),
        fix="read the ComfyUI log; check that a proxy in front of it passes /system_stats",
    )


def _rejected(workflow: str, exc: ComfyError, checkpoint: str | None) -> Finding:
    body = exc.body if isinstance(exc.body, dict) else {}
    no_checkpoint = any(
        e.get("extra_info", {}).get("input_name") == "ckpt_name"
        for n in (body.get("node_errors") or {}).values()
        for e in n.get("errors", [])
    )
    if no_checkpoint:
        test_checkpoint = f"xpu tiny-checkpoint MODELS/checkpoints/{CHECKPOINT_NAME} (the test kit's command)"
        fix = (
            f"put {checkpoint} into the server's models/checkpoints, or leave out --checkpoint and write the "
            f"test checkpoint: {test_checkpoint}"
            if checkpoint
            else f"write the test checkpoint into the server's models: {test_checkpoint}, or name an SD1.5 "
            "checkpoint it has with --checkpoint"
        )
        return Finding(
            "comfyui-no-checkpoint",
            Severity.FAIL,
            f"the server lacks the {workflow} workflow's checkpoint {checkpoint or CHECKPOINT_NAME}",
            (str(exc),),
            fix=fix,
        )
    return Finding(
        "comfyui-workflow-failed",
        Severity.FAIL,
        f"the {workflow} workflow did not complete: {exc}",
        (str(exc),),
        fix="read the ComfyUI log",
    )


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
            findings.append(
                Finding(
                    "comfyui-bad-image",
                    Severity.FAIL,
                    f"{image.filename} is not the expected image",
                    tuple(problems),
                    fix="read the ComfyUI log",
                )
            )
    if not images:
        findings.append(
            Finding(
                "comfyui-no-output", Severity.FAIL, "the workflow produced no image", (), fix="read the ComfyUI log"
            )
        )
    return findings


def _execution_findings(run: Run, fresh: Fresh, workflow: str) -> list[Finding]:
    findings = []
    stale = run.not_executed(fresh.must_execute)
    if stale:
        findings.append(
            Finding(
                "comfyui-not-executed",
                Severity.FAIL,
                f"nodes {', '.join(stale)} did not execute: the outputs are not from this run",
                (f"executed {sorted(run.executed_nodes)}, cached {sorted(run.cached_nodes)}",),
                fix="read the ComfyUI log; a server that answers from its cache checks nothing",
            )
        )
    if workflow == MODEL_WORKFLOW and run.progress_steps == 0:
        findings.append(
            Finding(
                "comfyui-model-not-run",
                Severity.FAIL,
                "the sampler reported no steps",
                ("no progress events from the KSampler",),
                fix="read the ComfyUI log",
            )
        )
    return findings


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
        return ComfyCheck(
            url, device, findings=tuple([*findings, _rejected(workflow, exc, checkpoint)]), workflow=workflow
        )
    if run.error is not None:
        return ComfyCheck(url, device, run, findings=tuple(findings + diagnose_error(run.error)), workflow=workflow)
    findings += _execution_findings(run, fresh, workflow)
    try:
        images = [_fetch_image(client, image) for image in _images(run)]
    except ComfyError as exc:
        return ComfyCheck(url, device, run, findings=tuple([*findings, _unfetched(exc)]), workflow=workflow)
    findings += _image_findings(images, fresh, size)
    if workflow != MODEL_WORKFLOW or device.get("type") != "xpu":  # on the CPU the figure is the RAM
        return ComfyCheck(url, device, run, tuple(images), tuple(findings), workflow)
    try:
        stats = client.system_stats()
        memory, evidence = _device_memory(stats, expect_xpu)
    except ComfyError as exc:
        return ComfyCheck(url, device, run, tuple(images), tuple([*findings, _unanswered(url, exc)]), workflow)
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
        return held, [
            Finding(
                "comfyui-device-memory-not-judged",
                Severity.INFO,
                f"device memory says nothing here: ComfyUI runs with {' '.join(flags)}, so no model "
                "stays on the GPU after a run",
                (f"/system_stats argv: {' '.join(map(str, argv))}",),
                fix="nothing to do; xpu bench comfyui compares the GPU with the CPU",
            )
        ]
    if held != 0:
        return held, []
    return held, [
        Finding(
            "comfyui-model-not-on-device",
            Severity.FAIL if expect_xpu else Severity.WARN,
            "the sampler ran, yet torch holds no memory on the XPU: the model did not stay on the GPU",
            ("/system_stats torch_vram_total is 0 after the run",),
            fix="read the ComfyUI log for where the model was loaded (a POST /free from another "
            "client in between also empties it: run the check again)",
        )
    ]


def _device(stats: dict[str, Any]) -> dict[str, Any]:
    """The first device /system_stats names ({} where it names none)."""
    devices = stats.get("devices") or [{}]
    if not isinstance(devices, list) or not isinstance(devices[0], dict):
        raise ComfyError(
            f"GET /system_stats: devices is not a list of objects: {http.quote(json.dumps(devices))}", kind="bad-body"
        )
    return devices[0]


def _images(run: Run) -> list[dict[str, str]]:
    """The images the run's outputs name, each with a file name."""
    images = [
        image for output in run.outputs.values() if isinstance(output, dict) for image in (output.get("images") or [])
    ]
    if not all(isinstance(i, dict) and isinstance(i.get("filename"), str) for i in images):
        raise ComfyError(
            f"GET /history/{run.prompt_id}: outputs name images without a filename: {http.quote(json.dumps(images))}",
            kind="bad-body",
        )
    return images


def _fetch_image(client: ComfyClient, image: dict[str, str]) -> ImageCheck:
    from PIL import Image  # noqa: PLC0415 - as check_image

    data = client.view(image)
    try:
        return check_image(data, image["filename"])
    except (OSError, ValueError, Image.DecompressionBombError) as exc:  # UnidentifiedImageError is an OSError
        raise ComfyError(
            f"GET /view: {image['filename']} is not an image ({exc}): {http.quote(data, 60)}", kind="bad-body"
        ) from None


def _unfetched(exc: ComfyError) -> Finding:
    return Finding(
        "comfyui-no-output",
        Severity.FAIL,
        f"the outputs could not be fetched: {exc}",
        (str(exc),),
        fix="read the ComfyUI log; check that a proxy in front of it passes /view",
    )


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
        return ServiceState("comfyui", url, False, error=reason(exc.kind, exc.status))
    system = stats.get("system")
    if not isinstance(system, dict):
        return ServiceState("comfyui", url, False, error="error")
    return ServiceState("comfyui", url, True, str(system.get("comfyui_version", ""))[:100])


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
