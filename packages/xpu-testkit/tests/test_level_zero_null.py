"""The Level Zero device path on a real loader: Debian's level-zero 1.8.12 built with its null driver.

setup/level-zero-null.sh builds the loader and the null driver into a directory that
XPU_ZE_NULL_DIR names (bootstrap.sh does this for `test`). The loader is enabled the way a user
enables it, through the environment of the process that loads it: LD_LIBRARY_PATH=DIR with
ZE_ENABLE_NULL_DRIVER=1 (or ZE_ENABLE_ALT_DRIVERS=DIR/libze_null.so.1). Its driver reports one
GPU, "Null Device", with every property zero: a device Level Zero shows and sysfs does not.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from xpu_tool.collectors import ze_probe
from xpu_tool.diagnosis import diagnose
from xpu_tool.model import ProbeResult, Severity, Status
from xpu_tool.probes.context import ProbeContext
from xpu_tool.probes.environment import collect_env, judge_env
from xpu_tool.probes.level_zero import probe_level_zero
from xpu_tool.probes.sycl import probe_sycl
from xpu_tool.target import Target

from .test_cli import check_schema
from .test_diagnosis import A770, UHD630, observe, ze
from .xpu_command import run_xpu

NULL_DEVICE = {
    "properties_result": "ZE_RESULT_SUCCESS",
    "name": "Null Device",
    "type": "gpu",
    "vendor_id": 0,
    "device_id": 0,
    "integrated": False,
    "core_clock_mhz": 0,
    "eu_count": 0,
    "memory": [{"name": "", "total_size": 0}],
}  # ze_null.cpp fills only stype, type and name
NOT_IN_SYSFS = "level-zero-gpu-not-in-sysfs"
DEBIAN_LOADER = Path("/usr/lib/x86_64-linux-gnu/libze_loader.so.1")  # libze1


@pytest.fixture(scope="session")
def ze_null_dir() -> Path:
    """The directory setup/level-zero-null.sh built the loader and its null driver into."""
    value = os.environ.get("XPU_ZE_NULL_DIR")
    if not value:
        pytest.skip("XPU_ZE_NULL_DIR is not set: run setup/level-zero-null.sh DIR and set XPU_ZE_NULL_DIR=DIR")
    path = Path(value)
    missing = [n for n in ("libze_loader.so.1", "libze_null.so.1", "include/ze_api.h") if not (path / n).exists()]
    if missing:
        pytest.fail(f"XPU_ZE_NULL_DIR={value} lacks {', '.join(missing)}: run setup/level-zero-null.sh {value}")
    return path


@pytest.fixture
def loader_env(ze_null_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This process's environment as a user's shell would hold it: the built loader first on the
    library path; no loader variables yet (each test sets the one it means)."""
    monkeypatch.setenv("LD_LIBRARY_PATH", f"{ze_null_dir}:{os.environ.get('LD_LIBRARY_PATH', '')}".rstrip(":"))
    for name in ("XPU_ZE_LOADER", *ze_probe.LOADER_VARIABLES):
        monkeypatch.delenv(name, raising=False)
    return ze_null_dir


@pytest.fixture
def null_driver(loader_env: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ZE_ENABLE_NULL_DRIVER", "1")
    return loader_env


def probe(local: Target) -> ProbeResult:
    return probe_level_zero(ProbeContext(local))


def test_probe_enumerates_the_null_device_on_the_built_loader(local: Target, null_driver: Path) -> None:
    result = probe(local)
    data = result.data
    assert Path(data["loader"]).resolve().parent == null_driver.resolve()
    assert data["loader_version"] == "1.8.0"  # as Debian's libze_loader.so.1.8.0 (no VERSION_PATCH in the source)
    assert (data["init_api"], data["init_result"], data["init_result_name"]) == ("zeInit", 0, "ZE_RESULT_SUCCESS")
    assert data["driver_get_result"] == "ZE_RESULT_SUCCESS" and data["driver_count"] == 1
    [driver] = data["drivers"]
    assert (driver["version"], driver["version_text"], driver["device_get_result"]) == (0, "0.0.0", "ZE_RESULT_SUCCESS")
    assert driver["devices"] == [NULL_DEVICE]
    assert data["loader_environment"] == {"ZE_ENABLE_NULL_DRIVER": "1"}
    # a GPU, but not an Intel one: the probe does not count it, and says why
    assert result.status is Status.FAIL and result.summary == "Level Zero drivers enumerate no Intel GPU"
    assert data["gpus"] == []
    assert "null driver" in (result.cause or "")
    assert (result.fix or "").startswith("unset ZE_ENABLE_NULL_DRIVER; then install the compute runtime")
    assert "  Null Device [0000:0000] gpu discrete, 0.0 GiB" in result.evidence
    assert "zeInit -> ZE_RESULT_SUCCESS (0x00000000)" in result.evidence


def test_debians_packaged_loader_loads_the_null_driver_too(
    local: Target, null_driver: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not DEBIAN_LOADER.exists():
        pytest.skip("Debian's libze1 is not installed (apt-get install libze1)")
    monkeypatch.setenv("XPU_ZE_LOADER", str(DEBIAN_LOADER))
    data = probe(local).data
    assert Path(data["loader"]).resolve() == DEBIAN_LOADER.resolve()
    assert data["init_result"] == 0 and [d["devices"] for d in data["drivers"]] == [[NULL_DEVICE]]


@pytest.mark.parametrize("value", ["0", "true", "yes", ""])
def test_only_1_enables_the_null_driver(
    local: Target, loader_env: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    """The loader's getenv_tobool takes "1" alone; the probe's reading of the variable agrees."""
    monkeypatch.setenv("ZE_ENABLE_NULL_DRIVER", value)
    result = probe(local)
    assert result.data["drivers"] == [] and result.data["init_result_name"] == "ZE_RESULT_ERROR_UNINITIALIZED"
    assert result.summary == "Level Zero loader present, no driver"
    assert result.data["loader_environment"] == {"ZE_ENABLE_NULL_DRIVER": value}
    assert not any("ZE_ENABLE_NULL_DRIVER" in line for line in result.evidence)


def test_alt_drivers_bring_the_same_device(local: Target, loader_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZE_ENABLE_ALT_DRIVERS", str(loader_env / "libze_null.so.1"))
    result = probe(local)
    assert [d["devices"] for d in result.data["drivers"]] == [[NULL_DEVICE]]
    assert (result.fix or "").startswith("unset ZE_ENABLE_ALT_DRIVERS; then")
    assert any(line.startswith(f"ZE_ENABLE_ALT_DRIVERS={loader_env}/libze_null.so.1: ") for line in result.evidence)


# ctypes classes of ze_probe.py and the C types of ze_api.h / loader/ze_loader.h they mirror.
# (InitDriverTypeDesc belongs to zeInitDrivers, which 1.8's headers do not have yet.)
C_TYPES = {
    "DriverProperties": "ze_driver_properties_t",
    "DeviceProperties": "ze_device_properties_t",
    "MemoryProperties": "ze_device_memory_properties_t",
    "ComponentVersion": "zel_component_version_t",
}
C_FIELDS = {("ComponentVersion", f): f"component_lib_version.{f}" for f in ("major", "minor", "patch")}


def test_ctypes_layouts_match_the_real_headers(ze_null_dir: Path, tmp_path: Path) -> None:
    """The driver copies whole structs into the probe's buffers: sizes and offsets must be the C ones."""
    compiler = shutil.which("g++") or shutil.which("c++")
    if compiler is None:
        pytest.skip("no C++ compiler (apt-get install g++; setup/level-zero-null.sh installs it)")
    lines, expected = [], {}
    for cls, ctype in C_TYPES.items():
        struct = getattr(ze_probe, cls)
        lines.append(f'std::printf("{cls} %zu\\n", sizeof({ctype}));')
        expected[cls] = ctypes.sizeof(struct)
        for name, *_ in struct._fields_:
            member = C_FIELDS.get((cls, name), name)
            lines.append(f'std::printf("{cls}.{name} %zu\\n", offsetof({ctype}, {member}));')
            expected[f"{cls}.{name}"] = getattr(struct, name).offset
    source = tmp_path / "layout.cpp"
    source.write_text(
        "#include <cstdio>\n#include <cstddef>\n#include <ze_api.h>\n#include <loader/ze_loader.h>\n"
        "int main() {\n" + "\n".join(lines) + "\n}\n"
    )
    subprocess.run(
        [compiler, f"-I{ze_null_dir}/include", str(source), "-o", str(tmp_path / "layout")],
        check=True,
        capture_output=True,
        timeout=60,
    )
    out = subprocess.run([str(tmp_path / "layout")], check=True, capture_output=True, text=True, timeout=10).stdout
    actual = {key: int(value) for key, value in (line.split() for line in out.splitlines())}
    assert actual == expected
    assert actual["DeviceProperties"] == 368 and actual["DeviceProperties.name"] == 112  # x86_64, as compiled


def test_diagnosis_shapes_agree_with_the_real_collector(local: Target, null_driver: Path) -> None:
    """test_diagnosis feeds the judge collector-shaped data for GPUs that cannot run here; every key it
    uses is one the real collector prints, with the same type."""
    real = probe(local).data
    made = ze(A770, UHD630).data
    assert made is not None
    for key, value in made.items():
        if key != "drivers":
            assert type(real[key]) is type(value), key
    real_driver, made_driver = real["drivers"][0], made["drivers"][0]
    assert {k: type(v) for k, v in made_driver.items() if k != "devices"} == {
        k: type(real_driver[k]) for k in made_driver if k != "devices"
    }
    real_device = real_driver["devices"][0]
    for device in made_driver["devices"]:
        assert {k: type(v) for k, v in device.items() if k != "memory"} == {
            k: type(real_device[k]) for k in device if k != "memory"
        }
        assert [set(m) for m in device["memory"]] == [set(m) for m in real_device["memory"]]


def test_doctor_json_names_the_null_drivers_gpu(null_driver: Path, machine) -> None:
    """The real loader and null driver here, sysfs from the recorded machine without an Intel GPU."""
    run = run_xpu("doctor", "--json", "--sysroot", str(machine("no-intel-gpu")))
    assert run.returncode == 1 and "Traceback" not in run.stderr, run.stderr
    [report] = json.loads(run.stdout)["reports"]
    check_schema(report)
    ze_probe_result = next(p for p in report["probes"] if p["probe"] == "level-zero")
    assert ze_probe_result["status"] == "fail"
    assert [d["devices"] for d in ze_probe_result["data"]["drivers"]] == [[NULL_DEVICE]]
    findings = {f["id"]: f for f in report["findings"]}
    assert report["findings"][0]["id"] == "no-intel-gpu"
    finding = findings[NOT_IN_SYSFS]
    assert finding["severity"] == "fail"
    assert finding["title"] == "Level Zero reports a GPU that is not hardware (ZE_ENABLE_NULL_DRIVER is set)"
    assert finding["evidence"][:2] == [
        "Level Zero GPU 'Null Device' [0000:0000]",
        "sysfs: no Intel GPU driven by i915 or xe",
    ]
    assert finding["fix"].startswith("unset ZE_ENABLE_NULL_DRIVER")
    assert "environment.sessionVariables" in finding["nixos"]
    assert findings["level-zero-no-driver"]["title"] == "Level Zero loader finds no Intel GPU driver"


def test_doctor_text_names_the_null_drivers_gpu(null_driver: Path, machine) -> None:
    run = run_xpu("doctor", "--sysroot", str(machine("no-intel-gpu")))
    assert run.returncode == 1 and "Traceback" not in run.stderr, run.stderr
    lines = run.stdout.splitlines()
    assert "level-zero    FAIL    Level Zero drivers enumerate no Intel GPU" in lines
    assert (
        f"FAIL   Level Zero reports a GPU that is not hardware (ZE_ENABLE_NULL_DRIVER is set)  [{NOT_IN_SYSFS}]"
        in lines
    )
    assert "       - Level Zero GPU 'Null Device' [0000:0000]" in lines
    assert any(line.startswith("       fix: unset ZE_ENABLE_NULL_DRIVER") for line in lines)
    assert "VERDICT: no Intel GPU on this machine: GPU acceleration is not possible here" in lines


def test_doctor_on_an_arc_layout_still_flags_the_null_device(null_driver: Path, machine) -> None:
    """sysfs shows an A770: the null device is still not it (matched by vendor and device id)."""
    run = run_xpu("doctor", "--json", "--sysroot", str(machine("arc-a770-i915")), "--user", "nobody")
    findings = {f["id"]: f for f in json.loads(run.stdout)["reports"][0]["findings"]}
    assert "no-intel-gpu" not in findings
    assert findings[NOT_IN_SYSFS]["evidence"][1].startswith("sysfs: Arc A770 [8086:56a0] at ")


def test_without_a_loader_variable_the_unshown_gpu_is_a_warning(ctx_for) -> None:
    """An Intel GPU on Level Zero that the PCI scan does not show (a container without the host's
    /sys): the real collector cannot produce one here, so this is collector-shaped data (its
    shape is checked against the real collector above)."""
    findings = {f.id: f for f in diagnose(observe(ctx_for("no-intel-gpu"), level_zero=ze(A770)))}
    finding = findings[NOT_IN_SYSFS]
    assert finding.severity is Severity.WARN
    assert finding.title == "Level Zero reports a GPU that sysfs does not show"
    assert "container" in finding.fix and finding.nixos is None
    shown = {f.id for f in diagnose(observe(ctx_for("arc-a770-i915"), level_zero=ze(A770)))}
    assert NOT_IN_SYSFS not in shown  # the same GPU, present in sysfs: nothing to say


def test_sycl_probe_names_a_runtime_that_crashes_on_the_null_driver(local: Target, null_driver: Path) -> None:
    """dpctl's SYCL runtime dies (SIGSEGV) listing devices with the null driver on: the probe says the
    runtime crashed, not that there is no SYCL runtime."""
    result = probe_sycl(ProbeContext(local, timeout=60))
    assert result.status is Status.FAIL and result.summary == "the SYCL runtime crashed while listing devices"
    assert any("exit 139" in line for line in result.evidence), result.evidence
    assert "ZE_ENABLE_NULL_DRIVER" in (result.fix or "")


def test_environment_probe_shows_the_loader_switch(local: Target, null_driver: Path) -> None:
    assert "ZE_ENABLE_NULL_DRIVER=1" in judge_env(collect_env(ProbeContext(local))).evidence
