"""ComfyUI on each target, end to end: the services.comfyui URL of every inventory target (or the
real ComfyUI the suite starts on the CPU where no target names one).

    pytest pytests/test_comfyui.py [--hardware] [--xpu-inventory lab.yaml]

Each check is made fresh (new colours, a new seed), so ComfyUI's cache cannot answer it, and it
must show that the nodes executed. one-step-sd15 needs the test checkpoint on the server
(``xpu tiny-checkpoint MODELS/checkpoints/xpu-tiny-sd15.safetensors``, a command of the test kit).
Only the Intel GPU judgement needs --hardware.
"""

from __future__ import annotations

import pytest

from xpu_tool.inventory import InventoryTarget
from xpu_tool.services.comfyui import ComfyCheck, check_comfyui


def explain(result: ComfyCheck) -> str:
    return "\n".join(f"{f.title}: {'; '.join(f.evidence)} -> {f.fix}" for f in result.findings)


def test_comfyui_executes_the_model_free_workflow_every_time(comfyui_target: InventoryTarget) -> None:
    for _ in range(2):
        result = check_comfyui(comfyui_target.services["comfyui"])
        assert result.ok, explain(result)
        assert result.run is not None and result.run.executed_nodes == {"1", "2", "3", "4"}
        assert not result.run.cached_nodes


def test_comfyui_runs_the_sd15_model(comfyui_target: InventoryTarget) -> None:
    result = check_comfyui(comfyui_target.services["comfyui"], workflow="one-step-sd15")
    assert result.ok, explain(result)
    assert result.run is not None and result.run.progress_steps == 1
    [image] = result.images
    assert (image.width, image.height) == (64, 64) and not image.blank


@pytest.mark.xpu_hardware
def test_comfyui_runs_the_model_on_xpu(comfyui_target: InventoryTarget) -> None:
    result = check_comfyui(comfyui_target.services["comfyui"], expect_xpu=True)
    assert result.ok, explain(result)
