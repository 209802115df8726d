"""llama.cpp's llama-server on each target, end to end: the services.llama_cpp URL of every inventory
target (or the real llama-server the suite starts here on the tiny model where no target names
one: the CPU build of XPU_LLAMA_SERVER_CPU, with --hardware the Vulkan build of
XPU_LLAMA_SERVER_VULKAN).

    pytest pytests/test_llama_cpp.py [--hardware] [--xpu-inventory lab.yaml]

Each test generates 16 tokens through `xpu check llama-cpp` (the library, and the ``xpu`` command
as a user runs it) and asserts the work by the server's own token counts and timings. Where it ran
is only in llama-server's log: the suite reads the log of the server it started, or the journal of
llama-cpp.service on the target (through the target, so over SSH for a remote one). The command
reads logs on this machine only: for a local target it is given ``--journal llama-cpp.service``,
for a remote one the journal read through the target, saved to a file, as ``--log FILE``. With
--hardware the log must show the model on an Intel GPU, every layer offloaded.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from xpu_tool.cli.exit_codes import Exit
from xpu_tool.inventory import InventoryTarget
from xpu_tool.services.llama_cpp import LlamaCppCheck, check_llama_cpp
from xpu_tool.services.llama_cpp.check import N_PREDICT
from xpu_tool.target import open_target

from .conftest import LLAMA_CPP_UNIT

TIMEOUT = 300.0


def explain(result: LlamaCppCheck) -> str:
    lines = [f"{f.id}: {f.title}: {'; '.join(f.evidence)} -> {f.fix}" for f in result.findings]
    if result.evidence is not None:  # the lines of the server's log that say where it ran
        lines += ["llama-server's log says:", *result.evidence.lines[-10:]]
    return "\n".join(lines)


def xpu(*args: str) -> subprocess.CompletedProcess[str]:
    """The ``xpu`` command of this environment, as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "xpu_tool", *args], capture_output=True, text=True, timeout=TIMEOUT + 60, check=False
    )


def started_here(request: pytest.FixtureRequest) -> bool:
    return request.node.callspec.params.get("llama_cpp_target") is None


def log_options(
    request: pytest.FixtureRequest, target: InventoryTarget, log: Callable[[], str], tmp_path: Path
) -> list[str]:
    """How a user gives `xpu check llama-cpp` the server's log: the file of the server started here,
    ``--journal`` for the unit on this machine, else the target's journal saved to a file (none if
    the target has no such journal)."""
    if started_here(request):
        return ["--log", str(request.getfixturevalue("xpu_llama_server").log)]
    text = log()
    if not text.strip():
        return []
    if open_target(target.url).local:
        return ["--journal", LLAMA_CPP_UNIT]
    saved = tmp_path / "llama-cpp.log"  # ssh HOST journalctl -o cat -u llama-cpp > llama-cpp.log
    saved.write_text(text)
    return ["--log", str(saved)]


def assert_work_happened(result: LlamaCppCheck) -> None:
    c = result.completion
    assert c is not None and c.worked and c.content, explain(result)
    assert 0 < c.tokens_predicted <= N_PREDICT and c.tokens_evaluated > 0, explain(result)
    t = c.timings
    assert t is not None, f"llama-server sent no timings: {c}"
    assert t.predicted_n == c.tokens_predicted and t.predicted_ms > 0 and t.prompt_n > 0, t


def test_llama_cpp_generates_and_times_its_work(
    request: pytest.FixtureRequest, llama_cpp_target: InventoryTarget, llama_cpp_log: Callable[[], str]
) -> None:
    result = check_llama_cpp(llama_cpp_target.services["llama_cpp"], log_reader=llama_cpp_log, timeout=TIMEOUT)
    assert result.ok, explain(result)
    assert result.props is not None and result.props.build_info, result.props
    assert_work_happened(result)
    if started_here(request):  # the server's log at -lv 4 names where it ran (without --hardware: the CPU)
        assert result.evidence is not None and result.evidence.has_evidence, explain(result)
        if not request.config.getoption("hardware"):
            assert [f.id for f in result.findings] == ["llama-cpp-on-cpu"], explain(result)


def test_the_xpu_command_checks_llama_cpp(
    request: pytest.FixtureRequest, llama_cpp_target: InventoryTarget, llama_cpp_log: Callable[[], str], tmp_path: Path
) -> None:
    url = llama_cpp_target.services["llama_cpp"]
    options = log_options(request, llama_cpp_target, llama_cpp_log, tmp_path)
    run = xpu("check", "llama-cpp", url, *options)
    assert run.returncode == Exit.OK, (run.stdout, run.stderr)
    assert f"llama-cpp {url}" in run.stdout and "generated " in run.stdout, run.stdout
    assert "Traceback" not in run.stdout + run.stderr
    report = json.loads(xpu("check", "llama-cpp", url, *options, "--json").stdout)
    completion = report["completion"]
    assert report["ok"] and completion is not None, report["findings"]
    assert completion["timings"]["predicted_n"] == completion["tokens_predicted"] > 0, completion
    if options:
        assert report["log"] is not None, report


@pytest.mark.xpu_hardware
def test_llama_cpp_runs_on_an_intel_gpu(
    request: pytest.FixtureRequest, llama_cpp_target: InventoryTarget, llama_cpp_log: Callable[[], str], tmp_path: Path
) -> None:
    """The server's own log names the device the model went to; it must be an Intel GPU (not the
    CPU, not lavapipe), with every layer offloaded."""
    texts: list[str] = []

    def reader() -> str:
        texts.append(llama_cpp_log())
        return texts[-1]

    url = llama_cpp_target.services["llama_cpp"]
    result = check_llama_cpp(url, expect_gpu=True, log_reader=reader, timeout=TIMEOUT)
    assert_work_happened(result)
    if not started_here(request) and not texts[-1].strip():
        pytest.fail(
            f"{llama_cpp_target.name}: where llama-server at {url} ran is unknown: the journal of "
            f"{LLAMA_CPP_UNIT} on {llama_cpp_target.url} is empty (run llama-server as that unit, "
            "services.llama-cpp, at -lv 4, and let the target's user read the journal: the "
            "systemd-journal group)"
        )
    assert result.ok, explain(result)
    device = result.device
    assert device is not None and device.is_gpu, explain(result)
    assert "intel" in device.description.lower(), f"llama-server ran on {device.label}, not an Intel GPU"
    ev = result.evidence
    assert ev is not None and (ev.offloaded is None or ev.offloaded[0] == ev.offloaded[1]), explain(result)
    run = xpu(
        "check", "llama-cpp", url, "--expect-gpu", *log_options(request, llama_cpp_target, llama_cpp_log, tmp_path)
    )
    assert run.returncode == Exit.OK, (run.stdout, run.stderr)
    assert f"log: device {device.name}" in run.stdout, run.stdout
