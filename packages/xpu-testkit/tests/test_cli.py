"""The `xpu` command end to end: the doctor on this machine, bad input, flags of one service refused
for the other, and the exit code of each kind of failure (cli.exit_codes)."""

from __future__ import annotations

import importlib
import inspect
import json
import os
import pkgutil
import subprocess
from pathlib import Path
from types import ModuleType

import pytest

import xpu_testkit
import xpu_tool
from xpu_testkit.vm.qemu import VmError
from xpu_tool.cli import TEST_KIT_COMMANDS, commands, exit_codes
from xpu_tool.cli.exit_codes import Exit
from xpu_tool.errors import ConfigError, XpuError
from xpu_tool.probes import registry
from xpu_tool.probes.pci import PciGpu
from xpu_tool.services.api import ServiceError
from xpu_tool.target import TargetError

from .xpu_command import run_xpu

PROBES = [p.name for p in registry.probes()]
STATUSES = {"ok", "warn", "fail", "absent"}
SEVERITIES = {"fail", "warn", "info"}


def check_schema(report: dict) -> None:
    assert report["schema_version"] == 1
    assert isinstance(report["usable"], bool)
    assert [p["probe"] for p in report["probes"]] == PROBES
    for p in report["probes"]:
        assert p["status"] in STATUSES and isinstance(p["summary"], str) and isinstance(p["evidence"], list)
        if p["status"] != "ok":
            assert p["cause"] and p["fix"], p
    for f in report["findings"]:
        assert f["severity"] in SEVERITIES
        assert f["id"] and f["title"] and f["fix"] and isinstance(f["evidence"], list)


def only_report(run: subprocess.CompletedProcess[str]) -> dict:
    """The one report of `xpu doctor --json` on one target: {"usable": ..., "reports": [report]}."""
    out = json.loads(run.stdout)
    assert set(out) == {"usable", "reports"} and len(out["reports"]) == 1, out
    assert out["usable"] is out["reports"][0]["usable"]
    report: dict = out["reports"][0]
    return report


def test_doctor_json_on_this_machine(this_machines_intel_gpus: tuple[PciGpu, ...]) -> None:
    """The real doctor on this machine reports the GPUs the scan finds; with none, it says so first."""
    run = run_xpu("doctor", "--json")
    report = only_report(run)
    check_schema(report)
    assert report["target"] == "local://"
    ids = [f["id"] for f in report["findings"]]
    probes = {p["probe"]: p for p in report["probes"]}
    assert [g["address"] for g in probes["pci"]["data"]["gpus"]] == [g.address for g in this_machines_intel_gpus]
    assert run.returncode == (0 if report["usable"] else 1), run.stderr
    if this_machines_intel_gpus:
        assert "no-intel-gpu" not in ids and probes["pci"]["status"] != "absent"
        return
    assert report["usable"] is False and ids[0] == "no-intel-gpu"
    assert probes["pci"]["status"] == "absent"
    ze = probes["level-zero"]
    if ze["status"] != "absent":  # Debian's libze1 installed: loader present, no driver
        assert ze["data"]["init_result_name"] == "ZE_RESULT_ERROR_UNINITIALIZED"
        assert "level-zero-no-driver" in ids


def test_doctor_text_says_plainly_there_is_no_gpu(machine) -> None:
    run = run_xpu("doctor", "--sysroot", str(machine("no-intel-gpu")))
    assert run.returncode == 1
    assert "VERDICT: no Intel GPU on this machine" in run.stdout
    assert "FAIL   No Intel GPU on this machine  [no-intel-gpu]" in run.stdout


def test_doctor_on_a_recorded_machine(machine) -> None:
    root = machine("arc-a770-i915")
    run = run_xpu("doctor", "--json", "--sysroot", str(root), "--user", "nobody")
    report = only_report(run)
    check_schema(report)
    probes = {p["probe"]: p for p in report["probes"]}
    assert probes["pci"]["status"] == "ok"
    assert probes["pci"]["data"]["gpus"][0]["name"] == "Arc A770"
    ids = {f["id"] for f in report["findings"]}
    assert "no-intel-gpu" not in ids and "render-access" in ids
    assert run.returncode == 1


def test_doctor_json_has_one_shape_for_many_targets(machine) -> None:
    """Two targets: the same object, a report each in the order given, usable only if both are."""
    root = machine("arc-a770-i915")
    run = run_xpu(
        "doctor", "--json", "--sysroot", str(root), "--user", "nobody", "--target", "local://", "--target", "local"
    )
    out = json.loads(run.stdout)
    assert set(out) == {"usable", "reports"} and [r["target"] for r in out["reports"]] == ["local://"] * 2
    for report in out["reports"]:
        check_schema(report)
    assert out["usable"] is False and run.returncode == 1


def assert_one_line_error(run: subprocess.CompletedProcess[str], text: str, code: int = 2) -> None:
    assert run.returncode == code, run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("xpu: error: "), run.stderr
    assert text in lines[0]
    assert "Traceback" not in run.stderr and run.stdout == ""


@pytest.mark.parametrize(
    "args, text",
    [
        (["doctor", "--target", "ftp://box"], "unknown target scheme 'ftp'"),
        (["doctor", "--target", "arc-box"], "neither a URL nor a name in the inventory"),
        (["doctor", "--inventory", "/nonexistent/lab.yaml"], "cannot read inventory /nonexistent/lab.yaml"),
        (["doctor", "--sysroot", "/nonexistent"], "not a directory"),
        (["doctor", "--timeout", "0"], "--timeout 0.0: must be a positive number of seconds"),
        (["doctor", "--timeout", "nan"], "--timeout nan: must be a positive number of seconds"),
        (["doctor", "--timeout", "inf"], "--timeout inf: must be a positive number of seconds"),
        (["doctor", "--colour"], "unrecognized arguments: --colour"),
        (["collect", "cuda"], "invalid choice: 'cuda'"),
        ([], "the following arguments are required: command"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str], text: str) -> None:
    assert_one_line_error(run_xpu(*args), text)


def test_malformed_inventory(tmp_path: Path) -> None:
    bad = tmp_path / "lab.yaml"
    bad.write_text("targets:\n  box: {url: ssh://box\n")
    assert_one_line_error(run_xpu("doctor", "--inventory", str(bad)), f"{bad}:3: malformed YAML")


def test_inventory_target_with_bad_scheme(tmp_path: Path) -> None:
    inv = tmp_path / "lab.yaml"
    inv.write_text("targets:\n  box:\n    url: telnet://box\n")
    assert_one_line_error(run_xpu("doctor", "--inventory", str(inv)), f"{inv}:3: targets.box.url")


def test_unreachable_target() -> None:
    from xpu_testkit.process import free_port

    run = run_xpu("doctor", "--target", f"ssh://root@127.0.0.1:{free_port()}?ssh_config=/dev/null")
    assert_one_line_error(run, "cannot reach ssh://root@127.0.0.1", code=Exit.UNREACHABLE)


def test_a_console_that_is_not_there_is_unreachable(tmp_path: Path) -> None:
    run = run_xpu("doctor", "--target", f"backdoor://{tmp_path}/shell.sock")
    assert_one_line_error(run, "shell.sock", code=Exit.UNREACHABLE)


@pytest.mark.parametrize(
    "args, text",
    [
        (
            ["check", "comfyui", "http://127.0.0.1:1", "--journal", "ollama.service"],
            "unrecognized arguments: --journal ollama.service (see `xpu check comfyui --help`)",
        ),
        (
            ["check", "ollama", "http://127.0.0.1:1", "--workflow", "model-free"],
            "unrecognized arguments: --workflow model-free (see `xpu check ollama --help`)",
        ),
        (
            ["check", "ollama", "http://127.0.0.1:1", "--checkpoint", "x.safetensors"],
            "unrecognized arguments: --checkpoint x.safetensors (see `xpu check ollama --help`)",
        ),
        (
            ["check", "llama-cpp", "http://127.0.0.1:1", "--workflow", "model-free"],
            "unrecognized arguments: --workflow model-free (see `xpu check llama-cpp --help`)",
        ),
        (["doctor", "--jsn"], "unrecognized arguments: --jsn (see `xpu doctor --help`)"),
        (
            [
                "bench",
                "comfyui",
                "--xpu",
                "http://127.0.0.1:1",
                "--cpu",
                "http://127.0.0.1:2",
                "--backend",
                "a=http://x",
            ],
            "--backend applies to `xpu bench ollama`, not to comfyui",
        ),
        (
            [
                "bench",
                "comfyui",
                "--xpu",
                "http://127.0.0.1:1",
                "--cpu",
                "http://127.0.0.1:2",
                "--journal",
                "o.service",
            ],
            "--journal applies to `xpu bench ollama`, not to comfyui",
        ),
        (["bench", "comfyui", "--num-predict", "4"], "--num-predict applies to `xpu bench ollama`, not to comfyui"),
        (
            ["bench", "ollama", "--backend", "a=http://127.0.0.1:1", "--xpu", "http://x"],
            "--xpu applies to `xpu bench comfyui`, not to ollama",
        ),
        (
            ["bench", "ollama", "--backend", "a=http://127.0.0.1:1", "--cpu", "http://x"],
            "--cpu applies to `xpu bench comfyui`",
        ),
        (
            ["bench", "ollama", "--backend", "a=http://127.0.0.1:1", "--harness"],
            "--harness applies to `xpu bench comfyui`",
        ),
        (
            ["bench", "ollama", "--backend", "a=http://127.0.0.1:1", "--steps", "3"],
            "--steps applies to `xpu bench comfyui`",
        ),
        (
            ["bench", "ollama", "--backend", "a=http://127.0.0.1:1", "--checkpoint", "c"],
            "--checkpoint applies to `xpu bench comfyui`",
        ),
    ],
)
def test_a_flag_of_the_other_service_is_refused(args: list[str], text: str) -> None:
    assert_one_line_error(run_xpu(*args), text)


@pytest.mark.parametrize(
    "args",
    [
        ["check", "ollama", "ftp://127.0.0.1:1"],
        ["check", "comfyui", "127.0.0.1:8188"],
        ["bench", "comfyui", "--xpu", "http://127.0.0.1:1", "--cpu", "file:///etc"],
        ["bench", "ollama", "--backend", "sycl=ftp://127.0.0.1:1"],
        ["export", "--comfyui", "http://"],
    ],
)
def test_every_command_refuses_a_url_that_is_not_http(args: list[str]) -> None:
    assert_one_line_error(run_xpu(*args), "is not an http(s) URL")


def _error_classes(package: ModuleType, skip: tuple[str, ...] = ()) -> set[type[XpuError]]:
    classes = set()
    for info in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
        if info.name.startswith(skip):
            continue
        module = importlib.import_module(info.name)
        classes |= {
            c
            for _, c in inspect.getmembers(module, inspect.isclass)
            if issubclass(c, XpuError) and c.__module__ == info.name
        }
    return classes


def test_every_expected_failure_has_its_own_exit_code() -> None:
    """Each XpuError class the host tool defines is in the table by name (none falls through to the
    base class) but the services' errors, which map through ServiceError (a failed check; exit 4 when
    nothing answered); the table names no class of the test kit, whose commands register their own
    rows (EXIT_CODES on a command's module: a VM failure is 5) and whose other errors map through
    the host tool's bases (a server that would not start is a failed check); and the table's codes
    are the ones the module's docstring documents."""
    classes = _error_classes(xpu_tool, skip=("xpu_tool.collectors.",))
    service_errors = {c for c in classes if issubclass(c, ServiceError) and c is not ServiceError}
    assert {"OllamaError", "ComfyError", "LlamaCppError"} <= {c.__name__ for c in service_errors}
    assert classes - {kind for kind, _ in exit_codes.EXCEPTIONS} == service_errors
    assert all(kind.__module__.startswith("xpu_tool.") for kind, _ in exit_codes.EXCEPTIONS)
    for error in service_errors:
        assert exit_codes.for_exception(error("x")) is Exit.FAILED
        assert exit_codes.for_exception(error("x", kind="unreachable")) is Exit.UNREACHABLE
    available, broken = commands()
    assert not broken and set(TEST_KIT_COMMANDS) <= set(available)
    extra = exit_codes.registered(available.values())
    assert [(kind.__name__, code) for kind, code in extra] == [("VmFailure", Exit.VM_FAILED)]
    kit = {
        c.__name__: next(code for kind, code in exit_codes.table(extra) if issubclass(c, kind))
        for c in _error_classes(xpu_testkit, skip=("xpu_testkit.doubles",))
    }
    assert kit == {
        "VmFailure": Exit.VM_FAILED,
        "VmError": Exit.VM_FAILED,
        "GuestBuildError": Exit.VM_FAILED,
        "BindError": Exit.VM_FAILED,
        "RestoreError": Exit.VM_FAILED,
        "OllamaServerError": Exit.FAILED,
        "ComfyServerError": Exit.FAILED,
        "LlamaServerError": Exit.FAILED,
    }
    documented = {
        int(line.split()[0])
        for line in exit_codes.__doc__.splitlines()
        if line.strip()[:1].isdigit() and line.startswith("    ")
    }
    assert documented == {int(code) for code in Exit}
    assert exit_codes.for_exception(TargetError("x")) is Exit.UNREACHABLE
    assert exit_codes.for_exception(VmError("x"), extra) is Exit.VM_FAILED
    assert exit_codes.for_exception(VmError("x")) is Exit.FAILED  # without the test kit's row: an XpuError
    assert exit_codes.for_exception(ConfigError("x"), extra) is Exit.USAGE


def test_collect_prints_the_raw_facts() -> None:
    run = run_xpu("collect", "level-zero")
    assert run.returncode == 0
    facts = json.loads(run.stdout)
    assert set(facts) >= {"loader", "init_api", "init_result", "drivers"}


@pytest.mark.parametrize("command", ["tiny-model", "tiny-checkpoint"])
@pytest.mark.parametrize(
    "args, text",
    [
        (["{tmp}/m", "--seed", "-1"], "argument --seed: -1 is not between 0 and 4294967295"),
        (["{tmp}/m", "--seed", "x"], "argument --seed: 'x' is not a whole number"),
        (["{tmp}"], "{tmp}: is a directory; give a file name"),
        (["{tmp}/missing/m"], "{tmp}/missing: not a directory"),
        (["/dev/full"], "/dev/full: not a regular file"),
        (["/proc/m"], "cannot write /proc/m: No such file or directory"),
    ],
)
def test_writing_a_test_model_to_a_bad_place_is_one_line(
    command: str, args: list[str], text: str, tmp_path: Path
) -> None:
    run = run_xpu(command, *(a.format(tmp=tmp_path) for a in args))
    assert_one_line_error(run, text.format(tmp=tmp_path))
    assert not list(tmp_path.glob("*.part"))


def test_tiny_checkpoint_writes_the_checkpoint_comfyui_loads(tmp_path: Path) -> None:
    """The CLI writes the same bytes as the library (the ComfyUI tests load the library's)."""
    from xpu_testkit.services.sd15_checkpoint import write_checkpoint

    run = run_xpu("tiny-checkpoint", str(tmp_path / "a.safetensors"), "--seed", "3")
    assert run.returncode == 0, run.stderr
    made = write_checkpoint(tmp_path / "b.safetensors", 3)
    assert run.stdout.split() == [str(tmp_path / "a.safetensors"), str(made.size), "bytes", f"sha256:{made.sha256}"]


def test_a_broken_command_plugin_is_named_and_leaves_the_rest_working(tmp_path: Path) -> None:
    """An installed distribution whose xpu_tool.commands entry point cannot be imported: `xpu --help`
    still works and names it in one warning line, running it is one line (exit 2) naming the entry
    point and its distribution, and the host tool's own commands do not even load it."""
    dist = tmp_path / "broken_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[xpu_tool.commands]\nfoo = no_such_module_xyz\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}

    helped = run_xpu("--help", env=env)
    assert helped.returncode == 0 and "bench" in helped.stdout
    assert helped.stderr.splitlines() == [
        "xpu: warning: `xpu foo` (no_such_module_xyz, from broken-plugin) cannot be loaded: "
        "ModuleNotFoundError: No module named 'no_such_module_xyz'"
    ]
    assert_one_line_error(
        run_xpu("foo", env=env), "`xpu foo` (no_such_module_xyz, from broken-plugin) cannot be loaded"
    )
    collected = run_xpu("collect", "--help", env=env)
    assert collected.returncode == 0 and collected.stderr == ""
