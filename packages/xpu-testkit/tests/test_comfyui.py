"""The ComfyUI check against the ComfyUI double (no ComfyUI server can be installed here)."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from xpu_testkit.doubles.comfyui import ComfyDouble
from xpu_testkit.model import Severity
from xpu_testkit.services.comfyui import ComfyClient, ComfyError, check_comfyui, load_workflow
from xpu_testkit.process import free_port


def test_model_free_workflow_on_xpu() -> None:
    with ComfyDouble("xpu") as double:
        result = check_comfyui(double.url, expect_xpu=True)
        assert result.ok, result.findings
        assert result.device is not None and result.device["type"] == "xpu" and result.device["vram_total"] > 0
        [image] = result.images
        assert (image.width, image.height, image.colours) == (64, 64, 2)  # background plus the pasted square
        kinds = [e["type"] for e in result.run.events if e["type"] != "status"] if result.run else []
        assert kinds[:2] == ["execution_start", "execution_cached"] and kinds[-2:] == ["execution_success", "executing"]
        assert kinds.count("executing") == 5  # four nodes, then node null: done


def test_history_and_view_match_the_run() -> None:
    with ComfyDouble("xpu") as double:
        client = ComfyClient(double.url)
        run = client.run(load_workflow("model-free"))
        history = client.history(run.prompt_id)
        assert history["status"]["status_str"] == "success" and history["status"]["completed"] is True
        image = history["outputs"]["4"]["images"][0]
        assert client.view(image)[:8] == b"\x89PNG\r\n\x1a\n"


def test_cpu_fallback_is_a_failure_when_xpu_is_expected() -> None:
    with ComfyDouble("cpu") as double:
        strict = check_comfyui(double.url, expect_xpu=True)
        assert not strict.ok and [f.id for f in strict.findings] == ["comfyui-not-on-xpu"]
        lenient = check_comfyui(double.url)
        assert lenient.ok and lenient.findings[0].severity is Severity.INFO


def test_execution_error_is_diagnosed() -> None:
    with ComfyDouble("error") as double:
        result = check_comfyui(double.url)
        assert not result.ok and [f.id for f in result.findings] == ["mdwe-blocks-jit"]
        assert result.run is not None and result.run.status == "error"


def test_a_run_that_never_finishes_is_bounded() -> None:
    with ComfyDouble("never") as double:
        result = check_comfyui(double.url, deadline=2)
        assert [f.id for f in result.findings] == ["comfyui-workflow-failed"]
        assert "did not finish within 2 s" in result.findings[0].evidence[0]


def test_missing_checkpoint_is_rejected_with_the_reason() -> None:
    with ComfyDouble("xpu") as double:
        with pytest.raises(ComfyError) as err:
            ComfyClient(double.url).queue(load_workflow("one-step-sd15"))
        assert err.value.status == 400
        assert "ckpt_name: 'xpu-tiny-sd15.safetensors' not in []" in str(err.value)


def test_unknown_node_is_rejected() -> None:
    with ComfyDouble("xpu") as double:
        with pytest.raises(ComfyError, match="Cannot execute because node NoSuchNode does not exist"):
            ComfyClient(double.url).queue({"1": {"class_type": "NoSuchNode", "inputs": {}}})


def test_http_500_on_prompt() -> None:
    with ComfyDouble("http500") as double:
        result = check_comfyui(double.url)
        assert [f.id for f in result.findings] == ["comfyui-workflow-failed"]
        assert "HTTP 500" in result.findings[0].evidence[0]


def test_malformed_json() -> None:
    with ComfyDouble("malformed") as double:
        result = check_comfyui(double.url)
        assert [f.id for f in result.findings] == ["comfyui-api-error"]
        assert "not JSON" in result.findings[0].evidence[0]


def test_timeout() -> None:
    with ComfyDouble("slow", delay=5) as double:
        client = ComfyClient(double.url, timeout=1)
        with pytest.raises(ComfyError, match="did not answer GET /system_stats within 1 s"):
            client.system_stats()


def test_connection_refused() -> None:
    result = check_comfyui(f"http://127.0.0.1:{free_port()}")
    assert [f.id for f in result.findings] == ["comfyui-unreachable"]


def test_shipped_workflows() -> None:
    assert {n["class_type"] for n in load_workflow("model-free").values()} == {
        "EmptyImage", "ImageCompositeMasked", "SaveImage"}
    sampler = next(n for n in load_workflow("one-step-sd15").values() if n["class_type"] == "KSampler")
    assert (sampler["inputs"]["steps"], sampler["inputs"]["seed"]) == (1, 42)
    with pytest.raises(ValueError):
        load_workflow("nope")


def test_check_cli() -> None:
    with ComfyDouble("cpu") as double:
        run = subprocess.run([sys.executable, "-m", "xpu_testkit", "check", "comfyui", double.url, "--json",
                              "--expect-gpu"], capture_output=True, text=True, timeout=60)
    assert run.returncode == 1
    report = json.loads(run.stdout)
    assert report["images"][0]["width"] == 64 and report["findings"][0]["id"] == "comfyui-not-on-xpu"


@pytest.mark.parametrize("mode, status", [("xpu", "success"), ("error", "error")])
def test_a_run_whose_events_were_lost_ends_through_history(mode: str, status: str) -> None:
    """No event arrives on /ws; after QUIET_SECONDS of silence the client asks /history and ends
    with the run's real outcome instead of waiting out the deadline."""
    from xpu_testkit.services.comfyui import QUIET_SECONDS, ComfyClient, load_workflow

    with ComfyDouble(mode, drop_events=True) as double:
        started = time.monotonic()
        run = ComfyClient(double.url).run(load_workflow("model-free"), deadline=60)
        took = time.monotonic() - started
    assert run.status == status and not any(e.get("type") == "executing" for e in run.events)
    assert QUIET_SECONDS <= took < QUIET_SECONDS + 5
    if status == "error":
        assert run.error is not None and run.error["exception_type"] == "RuntimeError"
    else:
        assert run.outputs
