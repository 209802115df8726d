"""ComfyUI as a checked service: its API client (``client``: HTTP and /ws), the workflows that ship
with the package made fresh for each run (``workflow``), and the end-to-end check (``check``, `xpu
check comfyui`, with the quick check of `xpu export`), its findings (``findings``) and the images it
fetches and judges (``images``)."""

from __future__ import annotations

from .check import ComfyCheck, check_comfyui, check_comfyui_quickly, check_to_dict
from .client import CANCEL_SECONDS, MAX_ANSWER, MAX_IMAGE, QUIET_SECONDS, ComfyClient, ComfyError
from .findings import UNLOADING_FLAGS, diagnose_error
from .images import ImageCheck, check_image
from .workflow import CHECKPOINT_NAME, MODEL_WORKFLOW, WORKFLOWS, Fresh, Run, downstream, fresh_workflow, load_workflow

__all__ = [
    "CANCEL_SECONDS",
    "CHECKPOINT_NAME",
    "MAX_ANSWER",
    "MAX_IMAGE",
    "MODEL_WORKFLOW",
    "QUIET_SECONDS",
    "UNLOADING_FLAGS",
    "WORKFLOWS",
    "ComfyCheck",
    "ComfyClient",
    "ComfyError",
    "Fresh",
    "ImageCheck",
    "Run",
    "check_comfyui",
    "check_comfyui_quickly",
    "check_image",
    "check_to_dict",
    "diagnose_error",
    "downstream",
    "fresh_workflow",
    "load_workflow",
]
