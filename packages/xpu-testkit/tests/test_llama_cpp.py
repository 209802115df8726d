"""`xpu check llama-cpp` against the real llama-server built here from llama.cpp's source (the CPU
build, and the Vulkan build on Mesa's lavapipe), its log parser on real logs (tests/data/
llama-server-logs.yaml: this machine's and Intel machines' from public reports), and, for an
Intel GPU, the llama-server double that replays a log recorded on one."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from xpu_testkit.doubles.llama_cpp import LlamaCppDouble
from xpu_testkit.services.llama_server import BUILDS, LAVAPIPE, LlamaServer, binary_for
from xpu_tool.cli.exit_codes import Exit
from xpu_tool.deadline import Deadline
from xpu_tool.model import Severity
from xpu_tool.services.llama_cpp import (
    LlamaCppClient,
    check_llama_cpp,
    judge_evidence,
    parse_log,
)
from xpu_tool.services.llama_cpp.log import strip_prefix
from xpu_tool.services.tiny_gguf import write_tiny_llama

from .xpu_command import run_xpu

DATA = Path(__file__).parent / "data"
SAMPLES = yaml.safe_load((DATA / "llama-server-logs.yaml").read_text())
BUILT_HERE = "bootstrap.sh test builds llama-server from llama.cpp's source and exports it"


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_llama(tmp_path_factory.mktemp("models") / "xpu-tiny.gguf", seed=1).path


def _server(build: str, model: Path, env: dict[str, str]) -> Iterator[LlamaServer]:
    binary = binary_for(build)
    if binary is None:
        pytest.skip(f"{BUILDS[build]} is unset: no {build} llama-server to run ({BUILT_HERE})")
    with LlamaServer(binary, model, env=env) as server:
        yield server


@pytest.fixture(scope="module")
def cpu_server(tiny_model: Path) -> Iterator[LlamaServer]:
    yield from _server("cpu", tiny_model, {})


@pytest.fixture(scope="module")
def lavapipe_server(tiny_model: Path) -> Iterator[LlamaServer]:
    """The Vulkan build on Mesa's lavapipe (GGML_VK_VISIBLE_DEVICES=0 lets llama.cpp use a CPU-type device)."""
    yield from _server("vulkan", tiny_model, LAVAPIPE)


@pytest.fixture(scope="module")
def vulkan_without_device(tiny_model: Path) -> Iterator[LlamaServer]:
    """The Vulkan build without that variable: it skips lavapipe and runs on the CPU."""
    yield from _server("vulkan", tiny_model, {})


# -- the real llama-server ------------------------------------------------------------------------


def test_the_api_of_the_real_server(cpu_server: LlamaServer, tiny_model: Path) -> None:
    client = LlamaCppClient(cpu_server.url, Deadline.after(120))
    assert client.wait_until_ready() == "ok"
    props = client.props()
    assert Path(props.model_path) == tiny_model and props.build_info
    assert client.models() and tiny_model.name in client.models()[0]
    first, again = client.complete("Why is the sky blue?"), client.complete("Why is the sky blue?")
    assert first.tokens_predicted == 16 and first.tokens_evaluated > 0 and first.worked
    assert first.timings is not None and first.timings.predicted_n == 16 and first.timings.predicted_ms > 0
    assert first.content == again.content  # temperature 0, a fixed seed, no prompt cache


def test_the_check_passes_on_the_cpu_build_and_says_it_ran_on_the_cpu(cpu_server: LlamaServer) -> None:
    result = check_llama_cpp(cpu_server.url, log_reader=cpu_server.log_text, timeout=120)
    assert result.ok, result.findings
    assert result.completion is not None and result.completion.tokens_predicted == 16
    assert [(f.id, f.severity) for f in result.findings] == [("llama-cpp-on-cpu", Severity.WARN)]


def test_expect_gpu_fails_on_the_cpu_build_naming_the_cpu(cpu_server: LlamaServer) -> None:
    result = check_llama_cpp(cpu_server.url, log_reader=cpu_server.log_text, expect_gpu=True, timeout=120)
    assert not result.ok and not result.unreachable
    [finding] = result.findings
    assert (finding.id, finding.severity) == ("llama-cpp-on-cpu", Severity.FAIL)
    assert "ran on the CPU" in finding.title, finding.title


def test_the_check_passes_on_the_vulkan_build_on_lavapipe(lavapipe_server: LlamaServer) -> None:
    result = check_llama_cpp(lavapipe_server.url, log_reader=lavapipe_server.log_text, timeout=180)
    assert result.ok, result.findings
    assert result.device is not None and result.device.name == "Vulkan0" and "llvmpipe" in result.device.description
    assert result.evidence is not None and result.evidence.offloaded is not None
    assert result.evidence.offloaded[0] == result.evidence.offloaded[1] > 0  # "offloaded 3/3 layers to GPU"
    assert [(f.id, f.severity) for f in result.findings] == [("llama-cpp-software-device", Severity.WARN)]


def test_expect_gpu_fails_on_lavapipe_naming_llvmpipe_a_software_device(lavapipe_server: LlamaServer) -> None:
    """The log says 'offloaded N/N layers to GPU': the device, llvmpipe, is the CPU."""
    assert "layers to GPU" in lavapipe_server.log_text()
    result = check_llama_cpp(lavapipe_server.url, log_reader=lavapipe_server.log_text, expect_gpu=True, timeout=180)
    assert not result.ok
    [finding] = result.findings
    assert (finding.id, finding.severity) == ("llama-cpp-software-device", Severity.FAIL)
    assert "llvmpipe" in finding.title and "software device" in finding.title, finding.title
    assert any("layers to GPU', but" in line for line in finding.evidence), finding.evidence


def test_the_vulkan_build_without_a_visible_device_runs_on_the_cpu(vulkan_without_device: LlamaServer) -> None:
    result = check_llama_cpp(
        vulkan_without_device.url, log_reader=vulkan_without_device.log_text, expect_gpu=True, timeout=120
    )
    assert result.completion is not None and result.completion.worked
    assert [f.id for f in result.findings] == ["llama-cpp-on-cpu"] and not result.ok
    # at -ngl 99 it logs only "no usable GPU found", as a CPU-only build does: the fix names both
    [finding] = result.findings
    assert "a CPU-only build, or a Vulkan/SYCL build that sees no GPU device" in finding.fix
    assert "GGML_VK_VISIBLE_DEVICES" in finding.fix and "hardware.graphics.enable" in finding.fix


@pytest.fixture(scope="module")
def vulkan_auto_without_device(tiny_model: Path) -> Iterator[LlamaServer]:
    """The Vulkan build at its default, -ngl auto, with no device visible: it logs
    "ggml_vulkan: No devices found." (b11434) and runs on the CPU."""
    binary = binary_for("vulkan")
    if binary is None:
        pytest.skip(f"{BUILDS['vulkan']} is unset: no vulkan llama-server to run ({BUILT_HERE})")
    with LlamaServer(binary, tiny_model, args=("-lv", "4")) as server:
        yield server


def test_a_vulkan_build_that_found_no_device_is_told_about_the_driver(vulkan_auto_without_device: LlamaServer) -> None:
    """Not "use a GPU build": it is one; the driver or a device filter is what is missing."""
    result = check_llama_cpp(
        vulkan_auto_without_device.url, log_reader=vulkan_auto_without_device.log_text, expect_gpu=True, timeout=120
    )
    [finding] = result.findings
    assert finding.id == "llama-cpp-on-cpu" and finding.severity is Severity.FAIL
    assert finding.title.endswith("its Vulkan backend found no GPU device"), finding.title
    assert finding.fix.startswith("no GPU device is visible to the Vulkan backend: the Intel Vulkan driver (Mesa's ANV")
    assert "GGML_VK_VISIBLE_DEVICES hides the GPU" in finding.fix and "use a GPU build" not in finding.fix
    assert finding.nixos == "hardware.graphics.enable = true; services.llama-cpp.intel.enable = true;"
    assert "ggml_vulkan: No devices found." in vulkan_auto_without_device.log_text()


def test_a_cpu_build_is_told_to_use_a_gpu_build() -> None:
    [finding] = judge_evidence(parse_log(_sample("this machine: the CPU build")), expect_gpu=True)
    assert finding.id == "llama-cpp-on-cpu" and "use a GPU build" in finding.fix


@pytest.mark.parametrize("expect_gpu, code", [(False, Exit.OK), (True, Exit.FAILED)])
def test_the_cli_on_the_cpu_build(cpu_server: LlamaServer, expect_gpu: bool, code: int) -> None:
    run = run_xpu(
        "check",
        "llama-cpp",
        cpu_server.url,
        "--log",
        str(cpu_server.log),
        *(["--expect-gpu"] if expect_gpu else []),
        timeout=300,
    )
    assert run.returncode == code, (run.stdout, run.stderr)
    assert run.stderr == "" and "Traceback" not in run.stdout
    assert "generated 16 tokens" in run.stdout and "ran on the CPU" in run.stdout
    assert ("FAIL: " if expect_gpu else "WARN: ") + "llama-server ran on the CPU" in run.stdout
    assert "None" not in run.stdout and "False" not in run.stdout


@pytest.mark.parametrize("expect_gpu, code", [(False, Exit.OK), (True, Exit.FAILED)])
def test_the_cli_on_lavapipe_with_a_saved_log(
    lavapipe_server: LlamaServer, expect_gpu: bool, code: int, tmp_path: Path
) -> None:
    saved = tmp_path / "llama-server.log"
    shutil.copy(lavapipe_server.log, saved)
    run = run_xpu(
        "check",
        "llama-cpp",
        lavapipe_server.url,
        "--log",
        str(saved),
        *(["--expect-gpu"] if expect_gpu else []),
        timeout=300,
    )
    assert run.returncode == code, (run.stdout, run.stderr)
    assert "log: device Vulkan0 (llvmpipe" in run.stdout and "a software device: the CPU" in run.stdout
    assert "None" not in run.stdout and "False" not in run.stdout
    report = json.loads(
        run_xpu("check", "llama-cpp", lavapipe_server.url, "--log", str(saved), "--json", timeout=300).stdout
    )
    assert report["ok"] and report["log"]["used"][0]["kind"] == "software"
    assert report["completion"]["timings"]["predicted_n"] == report["completion"]["tokens_predicted"] > 0


def test_the_cli_reads_the_units_journal(cpu_server: LlamaServer, tmp_path: Path) -> None:
    """`--journal UNIT` runs `journalctl -o cat -u UNIT`; a journalctl on PATH prints the real server's
    log for exactly that invocation, as journald would."""
    fake = tmp_path / "bin" / "journalctl"
    fake.parent.mkdir()
    fake.write_text(
        f'#!/bin/sh\ncase " $* " in *" -o cat "*" -u llama-cpp.service "*) exec cat {cpu_server.log} ;; esac\nexit 1\n'
    )
    fake.chmod(0o755)
    env = {**os.environ, "PATH": f"{fake.parent}:{os.environ['PATH']}"}
    run = run_xpu(
        "check",
        "llama-cpp",
        cpu_server.url,
        "--journal",
        "llama-cpp.service",
        "--expect-gpu",
        "--json",
        env=env,
        timeout=300,
    )
    assert run.returncode == Exit.FAILED, run.stderr
    assert [f["id"] for f in json.loads(run.stdout)["findings"]] == ["llama-cpp-on-cpu"]


def test_without_a_log_where_it_ran_is_unknown(cpu_server: LlamaServer) -> None:
    assert [(f.id, f.severity) for f in check_llama_cpp(cpu_server.url, timeout=60).findings] == [
        ("llama-cpp-no-evidence", Severity.INFO)
    ]
    run = run_xpu("check", "llama-cpp", cpu_server.url, "--expect-gpu", timeout=300)
    assert run.returncode == Exit.FAILED and "no log was read" in run.stdout and "-lv 4" in run.stdout


# -- the parser on real logs ----------------------------------------------------------------------


@pytest.mark.parametrize("sample", SAMPLES, ids=[s["source"].split(",")[0][:50] for s in SAMPLES])
def test_the_log_parser_on_a_real_log(sample: dict) -> None:
    evidence = parse_log(sample["log"])
    expect = sample["expect"]
    assert [[d.name, d.description, d.kind] for d in evidence.found] == expect["found"]
    assert [[d.name, d.description, d.kind] for d in evidence.used] == expect["used"]
    assert (list(evidence.offloaded) if evidence.offloaded else None) == expect["offloaded"]
    assert [f.id for f in judge_evidence(evidence, expect_gpu=True)] == expect["findings"]


def _sample(text: str) -> str:
    log: str = next(s["log"] for s in SAMPLES if s["source"].startswith(text))
    return log


def test_a_journal_across_restarts_is_judged_by_its_last_run() -> None:
    cpu, lavapipe = _sample("this machine: the CPU build"), _sample("this machine: the Vulkan build on lavapipe")
    assert [f.id for f in judge_evidence(parse_log(cpu + lavapipe), expect_gpu=True)] == ["llama-cpp-software-device"]
    assert [f.id for f in judge_evidence(parse_log(lavapipe + cpu), expect_gpu=True)] == ["llama-cpp-on-cpu"]


def test_journald_and_2026_prefixes_are_stripped() -> None:
    line = "load_tensors: offloaded 3/3 layers to GPU"
    assert strip_prefix(f"Dec 05 15:41:00 box llama-server[1234]: {line}") == line
    assert strip_prefix(f"0.01.554.870 I {line}") == line
    assert strip_prefix("0.00.158.215 I   - SYCL0   : x (1 MiB, 1 MiB free)") == "  - SYCL0   : x (1 MiB, 1 MiB free)"


def test_a_partial_offload_is_named() -> None:
    log = _sample("intel/ipex-llm#12994").replace("offloaded 33/33", "offloaded 20/33")
    [finding] = judge_evidence(parse_log(log), expect_gpu=False)
    assert (finding.id, finding.severity) == ("llama-cpp-partial-offload", Severity.WARN)
    assert finding.title.startswith("Only 20 of 33 layers run on the GPU")


# -- the double: llama-server on an Intel Arc ------------------------------------------------------


@pytest.mark.parametrize(
    "device, name", [("arc-vulkan", "Intel(R) Arc(TM) 140V GPU (16GB)"), ("arc-sycl", "Intel(R) Graphics [0xe20b]")]
)
def test_the_check_passes_on_an_intel_gpu(device: str, name: str, tmp_path: Path) -> None:
    with LlamaCppDouble(device=device) as double:
        result = check_llama_cpp(double.url, log_reader=double.log_text, expect_gpu=True, timeout=30)
        assert result.ok and result.findings == () and result.device is not None
        assert result.device.description == name
        sent = double.requests[-1][2]
        assert sent == {
            "prompt": "Why is the sky blue?",
            "n_predict": 16,
            "temperature": 0,
            "seed": 42,
            "cache_prompt": False,
        }
        log = tmp_path / "server.log"
        log.write_text(double.log_text())
        run = run_xpu("check", "llama-cpp", double.url, "--log", str(log), "--expect-gpu")
    assert run.returncode == Exit.OK, (run.stdout, run.stderr)
    assert f"log: device {result.device.label}" in run.stdout and "FAIL" not in run.stdout


def test_the_check_waits_for_the_model_to_load() -> None:
    with LlamaCppDouble("loading", loading_for=1.5) as double:
        result = check_llama_cpp(double.url, log_reader=double.log_text, expect_gpu=True, timeout=30)
        assert result.ok and [r[1] for r in double.requests].count("/health") >= 3


@pytest.mark.parametrize(
    "mode, finding", [("no-tokens", "llama-cpp-no-tokens"), ("http500", "llama-cpp-generate-failed")]
)
def test_a_server_that_does_no_work_fails(mode: str, finding: str) -> None:
    with LlamaCppDouble(mode) as double:
        result = check_llama_cpp(double.url, log_reader=double.log_text, timeout=30)
    assert not result.ok and finding in [f.id for f in result.findings]
