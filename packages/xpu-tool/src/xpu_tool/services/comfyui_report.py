"""`xpu check comfyui --json`: a ComfyUI check as JSON (the check itself is services.comfyui)."""

from __future__ import annotations

import dataclasses
from typing import Any

from .comfyui import ComfyCheck


def check_to_dict(result: ComfyCheck) -> dict[str, Any]:
    run = result.run
    return {"url": result.url, "ok": result.ok, "workflow": result.workflow, "device": result.device,
            "images": [dict(dataclasses.asdict(i), palette=sorted(i.palette)) for i in result.images],
            "seconds": run.seconds if run else None,
            "executed": sorted(run.executed_nodes) if run else [],
            "cached": sorted(run.cached_nodes) if run else [],
            "sampler_steps": run.progress_steps if run else 0,
            "device_memory": result.device_memory,
            "findings": [f.to_dict() for f in result.findings]}
