"""The ComfyUI check against the real ComfyUI 0.8 on the CPU (the ``xpu_comfyui_server`` fixture:
XPU_COMFYUI_SRC run from XPU_COMFYUI_VENV), and against the double for what only a server on an
Intel GPU shows (an xpu device, XPU execution errors) and for network faults."""

from __future__ import annotations

import hashlib
import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from xpu_testkit.doubles.comfyui import COMFYUI_VERSION, ComfyDouble
from xpu_testkit.process import free_port
from xpu_testkit.services.comfyui_server import ComfyInstall, ComfyServer, ComfyServerError, install_from_environment
from xpu_testkit.services.sd15_checkpoint import NAME, tensor, tensor_shapes, write_checkpoint
from xpu_tool.model import Severity
from xpu_tool.services.comfyui import ComfyClient, ComfyError, check_comfyui, fresh_workflow, load_workflow

from .xpu_command import run_xpu

# -- the real server ---------------------------------------------------------------------------


def test_model_free_check_twice_executes_both_times(xpu_comfyui_server: ComfyServer) -> None:
    """A repeated check is not served from ComfyUI's cache: every node executes each time and the
    image has exactly the colours this run asked for."""
    for _ in range(2):
        result = check_comfyui(xpu_comfyui_server.url)
        assert result.ok, result.findings
        assert result.run is not None
        assert result.run.executed_nodes == {"1", "2", "3", "4"} and not result.run.cached_nodes
        [image] = result.images
        assert (image.width, image.height, image.colours) == (64, 64, 2)
        assert result.device is not None and result.device["type"] == "cpu"
        assert [(f.id, f.severity) for f in result.findings] == [("comfyui-not-on-xpu", Severity.INFO)]


def test_an_identical_prompt_is_served_from_the_cache_and_the_check_says_so(xpu_comfyui_server: ComfyServer) -> None:
    """The same fresh workflow twice (same random choices): the second time ComfyUI executes
    nothing, and the check fails instead of passing on the old image."""
    first = check_comfyui(xpu_comfyui_server.url, rng=random.Random(7))
    second = check_comfyui(xpu_comfyui_server.url, rng=random.Random(7))
    assert first.ok, first.findings
    assert second.run is not None and second.run.cached_nodes == {"1", "2", "3", "4"}
    assert not second.run.executed_nodes and not second.ok
    assert "comfyui-not-executed" in [f.id for f in second.findings]


def test_one_step_sd15_runs_the_model(xpu_comfyui_server: ComfyServer) -> None:
    """The random-weight SD1.5 checkpoint loads as SD1.5 (no missing or left-over keys in the log),
    the sampler steps, the VAE decodes a 64x64 image that is not blank."""
    result = check_comfyui(xpu_comfyui_server.url, workflow="one-step-sd15")
    assert result.ok, result.findings
    assert result.run is not None and result.run.progress_steps == 1
    assert {"5", "6", "7"} <= result.run.executed_nodes
    [image] = result.images
    assert (image.width, image.height) == (64, 64) and image.colours > 100
    log = xpu_comfyui_server.log_text()
    assert "model_type EPS" in log
    for complaint in ("missing", "left over keys", "unexpected"):
        assert complaint not in log.lower(), log[-2000:]


def test_the_checkpoint_is_deterministic(xpu_comfyui_server: ComfyServer, tmp_path: Path) -> None:
    served = xpu_comfyui_server.checkpoints / NAME
    again = write_checkpoint(tmp_path / NAME, seed=0)
    assert again.size == served.stat().st_size and 400e6 < again.size < 500e6
    with open(served, "rb") as f:
        assert hashlib.file_digest(f, "sha256").hexdigest() == again.sha256
    name, shape = next((n, s) for n, s in tensor_shapes().items() if len(s) > 1)
    assert tensor(name, shape, 0) != tensor(name, shape, 1)  # another seed, other weights


def test_expecting_the_gpu_runs_the_model_and_fails_on_the_cpu(xpu_comfyui_server: ComfyServer) -> None:
    result = check_comfyui(xpu_comfyui_server.url, expect_xpu=True)
    assert result.workflow == "one-step-sd15" and result.run is not None and result.run.progress_steps == 1
    assert [(f.id, f.severity) for f in result.findings] == [("comfyui-not-on-xpu", Severity.FAIL)]
    assert not result.ok


def test_object_info_answers_an_unknown_class_with_nothing(xpu_comfyui_server: ComfyServer) -> None:
    client = ComfyClient(xpu_comfyui_server.url)
    assert client.object_info("NoSuchNode") == {}
    workflow = {**load_workflow("model-free"), "9": {"class_type": "NoSuchNode", "inputs": {}}}
    assert client.missing_nodes(workflow) == ["NoSuchNode"]
    assert client.missing_nodes(load_workflow("one-step-sd15")) == []


def test_a_missing_checkpoint_is_named(xpu_comfyui_server: ComfyServer) -> None:
    result = check_comfyui(xpu_comfyui_server.url, workflow="one-step-sd15", checkpoint="nope.safetensors")
    assert [f.id for f in result.findings] == ["comfyui-not-on-xpu", "comfyui-no-checkpoint"]
    assert "ckpt_name: 'nope.safetensors' not in" in result.findings[1].evidence[0]
    assert result.findings[1].title.endswith("checkpoint nope.safetensors")
    assert result.findings[1].fix.startswith("put nope.safetensors into the server's models/checkpoints, ")
    assert f"xpu tiny-checkpoint MODELS/checkpoints/{NAME}" in result.findings[1].fix
    default = check_comfyui(
        xpu_comfyui_server.url, workflow="one-step-sd15", checkpoint=None, rng=random.Random(1)
    )  # the test checkpoint is there: no such finding
    assert "comfyui-no-checkpoint" not in [f.id for f in default.findings]


def test_the_servers_home_is_in_pytests_base_directory(
    xpu_comfyui_server: ComfyServer, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A killed session cannot remove the ~465 MB checkpoint: pytest's rotation of old base
    directories does."""
    assert xpu_comfyui_server.home.is_relative_to(tmp_path_factory.getbasetemp())
    assert (xpu_comfyui_server.checkpoints / NAME).stat().st_size > 400_000_000


def test_an_execution_error_is_reported(xpu_comfyui_server: ComfyServer) -> None:
    (xpu_comfyui_server.checkpoints / "xpu-broken.safetensors").write_bytes(b"not a model")
    result = check_comfyui(xpu_comfyui_server.url, workflow="one-step-sd15", checkpoint="xpu-broken.safetensors")
    assert result.run is not None and result.run.status == "error"
    assert [f.id for f in result.findings] == ["comfyui-not-on-xpu", "comfyui-execution-error"]
    assert "node 1 (CheckpointLoaderSimple)" in result.findings[1].title
    assert "SafetensorError" in result.findings[1].evidence[0]


def test_unknown_node_and_a_prompt_that_is_no_object_are_rejected(xpu_comfyui_server: ComfyServer) -> None:
    client = ComfyClient(xpu_comfyui_server.url)
    with pytest.raises(ComfyError, match="Cannot execute because node NoSuchNode does not exist"):
        client.queue({"1": {"class_type": "NoSuchNode", "inputs": {}}})
    with pytest.raises(ComfyError, match="HTTP 500, not JSON"):
        client.queue([1, 2])  # type: ignore[arg-type]  # a prompt that is no object, on purpose


def _server_goes_idle(url: str, seconds: float = 30) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        queue = requests.get(url + "/queue", timeout=10).json()
        if not queue["queue_running"] and not queue["queue_pending"]:
            return True
        time.sleep(0.2)
    return False


def test_a_run_that_does_not_finish_is_bounded_and_taken_off_the_server(xpu_comfyui_server: ComfyServer) -> None:
    """10000 sampler steps cannot finish in 3 s: the client gives up at its deadline and interrupts
    its own run, so the server is free again without anyone's help."""
    client = ComfyClient(xpu_comfyui_server.url)
    fresh = fresh_workflow(load_workflow("one-step-sd15"))
    fresh.workflow["5"]["inputs"]["steps"] = 10000
    started = time.monotonic()
    try:
        with pytest.raises(ComfyError, match="did not finish within 3 s"):
            client.run(fresh.workflow, deadline=3)
        assert time.monotonic() - started < 10
        assert _server_goes_idle(xpu_comfyui_server.url), "the client left its run on the server"
    finally:
        requests.post(xpu_comfyui_server.url + "/interrupt", timeout=10)  # never leave the session's server busy
        _server_goes_idle(xpu_comfyui_server.url)


def test_a_stopped_bench_takes_its_run_off_the_server(xpu_comfyui_server: ComfyServer, tmp_path: Path) -> None:
    """SIGTERM to `xpu bench comfyui` while the server samples: exit 130, and the run is interrupted."""
    url = xpu_comfyui_server.url
    bench = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "xpu_tool",
            "bench",
            "comfyui",
            "--xpu",
            url,
            "--cpu",
            url,
            "--harness",
            "--steps",
            "5000",
            "--out",
            str(tmp_path / "out"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not requests.get(url + "/queue", timeout=10).json()["queue_running"]:
            assert bench.poll() is None and time.monotonic() < deadline, bench.communicate()[1][-2000:]
            time.sleep(0.2)
        bench.send_signal(signal.SIGTERM)
        _, stderr = bench.communicate(timeout=60)
        assert bench.returncode == 130, stderr
        assert _server_goes_idle(url, 20), "the stopped bench left its run on the server"
    finally:
        bench.kill()
        requests.post(url + "/interrupt", timeout=10)
        _server_goes_idle(url)


def test_check_cli_twice_and_with_the_model(xpu_comfyui_server: ComfyServer) -> None:
    for _ in range(2):
        run = run_xpu("check", "comfyui", xpu_comfyui_server.url, "--json")
        assert run.returncode == 0, run.stderr
        report = json.loads(run.stdout)
        assert report["executed"] == ["1", "2", "3", "4"] and report["cached"] == []
    run = run_xpu("check", "comfyui", xpu_comfyui_server.url, "--workflow", "one-step-sd15")
    assert run.returncode == 0, run.stderr
    assert "1 sampler step(s)" in run.stdout and "xpu-step_" in run.stdout


def test_check_cli_refuses_to_judge_the_gpu_on_the_model_free_workflow() -> None:
    run = run_xpu("check", "comfyui", "http://127.0.0.1:1", "--expect-gpu", "--workflow", "model-free")
    assert run.returncode == 2 and "Traceback" not in run.stderr and len(run.stderr.splitlines()) == 1
    assert "needs a workflow that runs a model" in run.stderr


def test_connection_refused() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    assert [f.id for f in check_comfyui(url).findings] == ["comfyui-unreachable"]
    run = run_xpu("check", "comfyui", url)
    assert run.returncode == 4 and run.stdout == "" and "None" not in run.stderr  # unreachable
    [line] = run.stderr.splitlines()
    assert line.startswith(f"xpu: error: cannot connect to ComfyUI at {url}: Connection refused -> ")
    assert "Connection refused -> start it (systemctl status comfyui), check listen/port" in line


def test_without_an_install_the_reason_is_named(tmp_path: Path) -> None:
    assert "set XPU_COMFYUI_SRC" in str(install_from_environment({}))
    env = {"XPU_COMFYUI_SRC": str(tmp_path), "XPU_COMFYUI_VENV": str(tmp_path / "venv")}
    assert install_from_environment(env) == f"{tmp_path} is not a ComfyUI checkout (no main.py)"
    (tmp_path / "main.py").write_text("")
    assert "setup/comfyui-env.sh" in str(install_from_environment(env))


def test_a_server_that_dies_at_start_is_an_error_with_its_log(tmp_path: Path) -> None:
    """A checkout whose main.py fails: a one-line error with the log's end, no process left, the
    home (with comfyui.log) kept for reading."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "main.py").write_text("import sys\nprint('no torchvision here', file=sys.stderr)\nsys.exit(3)\n")
    server = ComfyServer(ComfyInstall(src, Path(sys.prefix)), home=tmp_path / "home")
    with pytest.raises(ComfyServerError, match="exited with 3 at start: no torchvision here"), server:
        pass
    assert server.process is not None and server.process.poll() == 3
    assert "no torchvision here" in (tmp_path / "home" / "comfyui.log").read_text()


ENV_SCRIPT = Path(__file__).resolve().parents[3] / "setup" / "comfyui-env.sh"


def test_the_environment_script_reuses_a_built_environment(xpu_comfyui_server: ComfyServer) -> None:
    install = xpu_comfyui_server.install
    started = time.monotonic()
    run = subprocess.run(
        [str(ENV_SCRIPT), str(install.venv), str(install.src)], capture_output=True, text=True, timeout=120, check=False
    )
    assert (run.returncode, run.stdout, run.stderr) == (0, "", "") and time.monotonic() - started < 5


def test_the_environment_script_rejects_what_is_no_comfyui(tmp_path: Path) -> None:
    run = subprocess.run(
        [str(ENV_SCRIPT), str(tmp_path / "venv"), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 2 and not (tmp_path / "venv").exists()
    assert run.stderr.splitlines() == [
        f"comfyui-env: {tmp_path} is not a ComfyUI source tree (no main.py or requirements.txt)"
    ]


def test_shipped_workflows() -> None:
    assert {n["class_type"] for n in load_workflow("model-free").values()} == {
        "EmptyImage",
        "ImageCompositeMasked",
        "SaveImage",
    }
    sampler = next(n for n in load_workflow("one-step-sd15").values() if n["class_type"] == "KSampler")
    assert sampler["inputs"]["steps"] == 1
    with pytest.raises(ValueError):
        load_workflow("nope")


def test_fresh_workflows_differ_and_name_what_must_execute() -> None:
    a, b = fresh_workflow(load_workflow("model-free")), fresh_workflow(load_workflow("model-free"))
    assert a.workflow != b.workflow and len(a.colours) == 2
    assert a.changed == {"1", "2"} and a.must_execute == {"1", "2", "3", "4"}
    sd = fresh_workflow(load_workflow("one-step-sd15"), checkpoint="mine.safetensors")
    assert sd.changed == {"5"} and sd.must_execute == {"5", "6", "7"}
    assert sd.workflow["1"]["inputs"]["ckpt_name"] == "mine.safetensors"


# -- the double: what only a server on an Intel GPU shows, and network faults -------------------


def test_model_run_on_xpu_passes_the_gpu_check() -> None:
    with ComfyDouble() as double:
        result = check_comfyui(double.url, expect_xpu=True)
        assert result.ok, result.findings
        assert result.device is not None and result.device["type"] == "xpu" and result.device["vram_total"] > 0
        assert result.run is not None and result.run.progress_steps == 1 and not result.findings
        assert ComfyClient(double.url).system_stats()["system"]["comfyui_version"] == COMFYUI_VERSION


@pytest.mark.parametrize(
    "error, finding", [("onednn", "mdwe-blocks-jit"), ("fp64", "fp64-emulation"), ("render", "render-access")]
)
def test_xpu_execution_errors_are_diagnosed(error: str, finding: str) -> None:
    with ComfyDouble(xpu_error=error) as double:
        assert check_comfyui(double.url).ok  # the model-free nodes run on the CPU even on an XPU server
        result = check_comfyui(double.url, expect_xpu=True)
        assert not result.ok and [f.id for f in result.findings] == [finding]
        assert result.run is not None and result.run.status == "error"


def test_check_cli_on_xpu() -> None:
    with ComfyDouble() as double:
        run = run_xpu("check", "comfyui", double.url, "--json", "--expect-gpu")
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert report["workflow"] == "one-step-sd15" and report["sampler_steps"] == 1 and report["device"]["type"] == "xpu"
    assert report["device"]["torch_vram_total"] == 0 and report["device_memory"] > 0  # before and after the run


@pytest.mark.parametrize("expect_xpu, severity", [(True, Severity.FAIL), (False, Severity.WARN)])
def test_a_model_that_did_not_stay_on_the_xpu_is_named(expect_xpu: bool, severity: Severity) -> None:
    with ComfyDouble(keeps_models=False) as double:
        result = check_comfyui(double.url, workflow="one-step-sd15", expect_xpu=expect_xpu)
    assert result.run is not None and result.run.progress_steps == 1 and result.device_memory == 0
    [finding] = result.findings
    assert (finding.id, finding.severity) == ("comfyui-model-not-on-device", severity)
    assert result.ok is not expect_xpu


@pytest.mark.parametrize("flag", ["--novram", "--disable-smart-memory", "--cache-none"])
def test_device_memory_is_not_judged_under_flags_that_unload_the_model(flag: str) -> None:
    with ComfyDouble(keeps_models=False, argv=("main.py", "--listen", "127.0.0.1", flag)) as double:
        result = check_comfyui(double.url, expect_xpu=True)
    assert result.ok and result.device_memory == 0
    [finding] = result.findings
    assert (finding.id, finding.severity) == ("comfyui-device-memory-not-judged", Severity.INFO)
    assert f"ComfyUI runs with {flag}," in finding.title


def test_a_system_stats_that_fails_after_the_run_is_named_as_such() -> None:
    """The images are kept; the finding names /system_stats, not the outputs."""

    class BreaksAfterTheRun(ComfyDouble):
        def system_stats(self) -> dict[str, Any]:
            stats = super().system_stats()
            return {**stats, "devices": "oops"} if self.history else stats

    with BreaksAfterTheRun() as double:
        result = check_comfyui(double.url, expect_xpu=True)
    assert len(result.images) == 1 and [f.id for f in result.findings] == ["comfyui-api-error"]
    assert "devices is not a list of objects" in result.findings[0].evidence[0]


def test_device_memory_is_read_only_after_a_model_on_an_xpu(xpu_comfyui_server: ComfyServer) -> None:
    """On the CPU, torch_vram_total is the machine's RAM (ComfyUI 0.8.0): it says nothing about a model."""
    result = check_comfyui(xpu_comfyui_server.url, workflow="one-step-sd15", rng=random.Random(11))
    assert result.run is not None and result.run.progress_steps == 1
    assert result.device_memory is None and "comfyui-model-not-on-device" not in [f.id for f in result.findings]


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


@pytest.mark.parametrize("error, status", [(None, "success"), ("onednn", "error")])
def test_a_run_whose_events_were_lost_ends_through_history(error: str | None, status: str) -> None:
    """No event arrives on /ws; after QUIET_SECONDS of silence the client asks /history and ends
    with the run's real outcome instead of waiting out the deadline."""
    from xpu_tool.services.comfyui import QUIET_SECONDS

    with ComfyDouble(xpu_error=error, drop_events=True) as double:
        started = time.monotonic()
        run = ComfyClient(double.url).run(fresh_workflow(load_workflow("one-step-sd15")).workflow, deadline=60)
        took = time.monotonic() - started
    assert run.status == status and not any(e.get("type") == "executing" for e in run.events)
    assert QUIET_SECONDS <= took < QUIET_SECONDS + 5
    if status == "error":
        assert run.error is not None and run.error["exception_type"] == "RuntimeError"
    else:
        assert run.outputs
