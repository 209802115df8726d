"""ComfyUI on each target, end to end: the services.comfyui URL of every inventory target.

    pytest pytests/test_comfyui.py --hardware --inventory lab.yaml

The model-free workflow runs through /prompt and /ws on an Intel GPU (/system_stats device type
"xpu"); the output image is fetched with /view and checked (64x64, not blank).
"""

from __future__ import annotations

import pytest

from xpu_testkit.inventory import InventoryTarget
from xpu_testkit.services.comfyui import check_comfyui


@pytest.mark.hardware
def test_comfyui_runs_a_workflow_on_xpu(comfyui_target: InventoryTarget) -> None:
    result = check_comfyui(comfyui_target.services["comfyui"], expect_xpu=True)
    assert result.ok, "\n".join(f"{f.title}: {'; '.join(f.evidence)} -> {f.fix}" for f in result.findings)
