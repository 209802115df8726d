"""tests/recorded_view.py: this machine seen as a recorded one, for the tests whose verdict depends on it.

Under the view (XPU_TEST_RECORDED_VIEW set by the runner) the machine fixtures and the real
`xpu doctor` must see exactly the recorded GPUs. The runner itself is run from outside: what it
mounts is seen inside only, and nothing (mount, directory, process) is left when it ends.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from xpu_tool.probes.pci import PciGpu

from . import machines
from .recorded_view import VIEW_VARIABLE
from .test_cli import only_report
from .xpu_command import run_xpu

RUNNER = Path(__file__).with_name("recorded_view.py")
OUTSIDE_ONLY = "runs under tests/recorded_view.py only (./bootstrap.sh test runs it after the suite)"


def recorded_gpus(name: str) -> list[tuple[str, int]]:
    """(address, device id) of the Intel display-class devices the recording lists."""
    devices = machines.load(name).get("devices") or {}
    return sorted(
        (address, int(dev["device"], 16)) for address, dev in devices.items() if str(dev["class"]).startswith("0x03")
    )


@pytest.fixture
def viewed_machine() -> str:
    name = os.environ.get(VIEW_VARIABLE)
    if not name:
        pytest.skip(f"{VIEW_VARIABLE} is not set: this test {OUTSIDE_ONLY}")
    return name


@pytest.mark.xpu_allowed_skip(OUTSIDE_ONLY)
def test_the_machine_fixtures_see_the_recorded_gpus(
    viewed_machine: str, this_machines_intel_gpus: tuple[PciGpu, ...], machine
) -> None:
    assert [(g.address, g.device_id) for g in this_machines_intel_gpus] == recorded_gpus(viewed_machine)
    assert Path("/proc/cmdline").read_text().strip() == machines.load(viewed_machine)["cmdline"]
    assert sorted(os.listdir("/dev/dri")) == sorted(os.listdir(machine(viewed_machine) / "dev/dri"))


@pytest.mark.this_machine
@pytest.mark.xpu_allowed_skip(OUTSIDE_ONLY)
def test_the_real_doctor_reports_the_recorded_gpus(viewed_machine: str) -> None:
    run = run_xpu("doctor", "--json")  # this machine, no --sysroot
    report = only_report(run)
    probes = {p["probe"]: p for p in report["probes"]}
    gpus = probes["pci"]["data"]["gpus"]
    assert sorted((g["address"], g["device_id"]) for g in gpus) == recorded_gpus(viewed_machine)
    ids = {f["id"] for f in report["findings"]}
    assert ("no-intel-gpu" in ids) is (not gpus)
    assert probes["pci"]["data"]["kernel"] == machines.load(viewed_machine)["kernel"]
    assert run.returncode == 1  # no real GPU runtime behind the recorded card: blocked, not unusable input


# --- the runner, from outside ---------------------------------------------------------------------------------------

PEEK = """
import json, os, time
from pathlib import Path

def test_peek():
    points = {{}}
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        points[fields[4]] = fields[3]
    Path({out!r}).write_text(json.dumps({{
        "view": os.environ.get("XPU_TEST_RECORDED_VIEW"),
        "mnt_ns": os.readlink("/proc/self/ns/mnt"),
        "devices": sorted(os.listdir("/sys/bus/pci/devices")),
        "dri": sorted(os.listdir("/dev/dri")),
        "dev_null_is_a_device": Path("/dev/null").is_char_device(),
        "pts_mounted": "/dev/pts" in points,
        "source": points.get("/sys/bus/pci/devices"),
    }}))
    deadline = time.monotonic() + 60
    while not Path({go!r}).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
"""
VIEWED_POINTS = (
    "/sys/bus/pci/devices",
    "/sys/devices/pci0000:00",
    "/sys/kernel/iommu_groups",
    "/proc/cmdline",
    "/proc/sys/kernel/osrelease",
    "/dev/dri",
)


def outside_view() -> dict:
    points = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
    return {
        "devices": sorted(os.listdir("/sys/bus/pci/devices")),
        "dri": os.path.exists("/dev/dri"),
        "viewed_mounts": sorted(p for p in points if p in VIEWED_POINTS or p == "/dev"),
    }


@pytest.fixture
def as_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("the recorded view needs root for its mount namespace")


def runner(*args: str, cwd: Path | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(RUNNER), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd
    )


@pytest.mark.parametrize("ending", ["exit", "sigterm"])
def test_the_view_is_seen_inside_only_and_leaves_nothing(as_root: None, tmp_path: Path, ending: str) -> None:
    out, go = tmp_path / "inside.json", tmp_path / "go"
    (tmp_path / "test_peek.py").write_text(PEEK.format(out=str(out), go=str(go)))
    before = outside_view()
    proc = runner("arc-a770-i915", "--", str(tmp_path / "test_peek.py"), "-q", "-p", "no:cacheprovider", cwd=tmp_path)
    try:
        deadline = time.monotonic() + 60
        while not out.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert out.exists(), proc.communicate(timeout=30)
        time.sleep(0.1)  # the file is written in one call; let it land whole
        inside = json.loads(out.read_text())
        assert inside["view"] == "arc-a770-i915"
        assert inside["devices"] == [a for a, _ in recorded_gpus("arc-a770-i915")]
        assert inside["dri"] == ["card0", "renderD128"]
        assert inside["dev_null_is_a_device"] and inside["pts_mounted"]  # the rest of /dev is this machine's
        assert inside["mnt_ns"] != os.readlink("/proc/self/ns/mnt")
        assert outside_view() == before  # while it runs, nothing shows outside
        if ending == "exit":
            go.touch()
        else:
            proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == (0 if ending == "exit" else 128 + signal.SIGTERM), stdout + stderr
    assert outside_view() == before
    workdir = Path(inside["source"]).parents[4]  # <workdir>/root/sys/bus/pci/devices
    assert workdir.name.startswith("xpu-recorded-view-") and not workdir.exists()


@pytest.mark.parametrize(
    "args, text",
    [
        (["no-such-machine", "--", "-q"], "recorded_view: unknown recorded machine 'no-such-machine' (one of: "),
        ([], "usage: recorded_view.py MACHINE [-- PYTEST-ARGS]"),
        (["arc-a770-i915", "-q"], "usage: recorded_view.py MACHINE [-- PYTEST-ARGS]"),
    ],
)
def test_bad_input_is_one_line(args: list[str], text: str) -> None:
    proc = runner(*args)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 2 and stdout == ""
    assert len(stderr.splitlines()) == 1 and stderr.startswith(text), stderr
