"""What ComfyUI's answers say, as findings: a server that does not answer, a workflow it rejected
(a missing checkpoint), nodes that did not execute, an execution error of PyTorch's XPU backend
(FP64, oneDNN's JIT, the render node: ``diagnose_error``), outputs that could not be fetched, and
the device memory torch holds after a model ran (``device_memory``, from /system_stats)."""

from __future__ import annotations

import json
from typing import Any

from ... import http
from ...model import Finding, NixosSetting, Severity
from .. import api
from .client import ComfyError
from .workflow import CHECKPOINT_NAME, MODEL_WORKFLOW, Fresh, Run


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


NO_ANSWER = {
    "unreachable": ("ComfyUI at {url} does not answer", "start it (systemctl status comfyui), check listen/port"),
    "timeout": (
        "ComfyUI at {url} does not answer in time",
        "read the ComfyUI log; check that a proxy in front of it does not hold answers back",
    ),
    "other": (
        "ComfyUI at {url} does not answer as its API should",
        "read the ComfyUI log; check that a proxy in front of it passes /system_stats",
    ),
}


def no_answer(url: str, exc: ComfyError) -> Finding:
    return api.no_answer("comfyui", url, exc, NO_ANSWER)


def rejected(workflow: str, exc: ComfyError, checkpoint: str | None) -> Finding:
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


def execution_findings(run: Run, fresh: Fresh, workflow: str) -> list[Finding]:
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


def unfetched(exc: ComfyError) -> Finding:
    return Finding(
        "comfyui-no-output",
        Severity.FAIL,
        f"the outputs could not be fetched: {exc}",
        (str(exc),),
        fix="read the ComfyUI log; check that a proxy in front of it passes /view",
    )


# ComfyUI's flags (comfy/cli_args.py, 0.8.0) after which no model stays on the device once a
# prompt ends, however it ran: --novram casts the weights in per layer, --disable-smart-memory
# unloads every model after a prompt, --cache-none drops the model with the cache (each followed
# by torch.xpu.empty_cache()).
UNLOADING_FLAGS = ("--novram", "--disable-smart-memory", "--cache-none")


def device_memory(stats: dict[str, Any], expect_xpu: bool) -> tuple[int | None, list[Finding]]:
    """After a model ran on an XPU: what torch holds there (ComfyUI reports torch.xpu's reserved
    bytes as the device's torch_vram_total; None where the answer does not say), and the finding
    when it holds nothing though the server's flags would keep the model loaded."""
    held = first_device(stats).get("torch_vram_total")
    held = held if isinstance(held, int) and not isinstance(held, bool) else None
    argv = (stats.get("system") or {}).get("argv")
    args: list[Any] = argv if isinstance(argv, list) else []
    flags = [a for a in args if a in UNLOADING_FLAGS]
    if flags:
        return held, [
            Finding(
                "comfyui-device-memory-not-judged",
                Severity.INFO,
                f"device memory says nothing here: ComfyUI runs with {' '.join(flags)}, so no model "
                "stays on the GPU after a run",
                (f"/system_stats argv: {' '.join(map(str, args))}",),
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


def first_device(stats: dict[str, Any]) -> dict[str, Any]:
    """The first device /system_stats names ({} where it names none)."""
    devices = stats.get("devices") or [{}]
    if not isinstance(devices, list) or not isinstance(devices[0], dict):
        raise ComfyError(
            f"GET /system_stats: devices is not a list of objects: {http.quote(json.dumps(devices))}", kind="bad-body"
        )
    return devices[0]
