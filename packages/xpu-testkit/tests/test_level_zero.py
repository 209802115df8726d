"""The Level Zero probe against Debian's real loader (libze1), which finds no driver here."""

from __future__ import annotations

import sys

import pytest

from xpu_tool.collectors.run import collect
from xpu_tool.model import Status
from xpu_tool.probes.context import ProbeContext
from xpu_tool.probes.level_zero import probe_level_zero
from xpu_tool.target import Target

ZE_RESULT_ERROR_UNINITIALIZED = 0x78000001


def _loader_installed(local: Target) -> bool:
    return local.run("ldconfig -p | grep -q libze_loader.so.1").ok


def test_real_loader_present_without_driver(local: Target, no_intel_gpu_here: None) -> None:
    if not _loader_installed(local):
        pytest.skip("Debian's libze1 is not installed (apt-get install libze1)")
    result = probe_level_zero(ProbeContext(local))
    assert result.status is Status.FAIL
    assert result.summary == "Level Zero loader present, no driver"
    assert result.data["init_result"] == ZE_RESULT_ERROR_UNINITIALIZED
    assert result.data["init_result_name"] == "ZE_RESULT_ERROR_UNINITIALIZED"
    assert "0x78000001" in (result.cause or "")
    assert "intel-compute-runtime.drivers" in (result.fix or "")
    assert result.data["drivers"] == []
    # loader 1.8 has no zeInitDrivers; a newer loader must be asked through it instead
    assert result.data["init_api"] in ("zeInit", "zeInitDrivers")


def test_missing_loader_is_absent_not_a_crash(local: Target, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XPU_ZE_LOADER", "/nonexistent/libze_loader.so.1")
    result = probe_level_zero(ProbeContext(local))
    assert result.status is Status.ABSENT
    assert "/nonexistent/libze_loader.so.1" in result.evidence[0]
    assert "level-zero" in (result.fix or "")


class _NoPythonTarget(Target):
    """This machine, seen as a remote target whose only python3 does not exist."""

    def python_interpreters(self) -> list[str]:
        return ["/nonexistent/python3"]


def test_target_without_python_reports_could_not_run(local: Target, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # no xpu command either
    target = _NoPythonTarget("ssh://nopython", local.host, local=False)
    run = collect(target, "level-zero")
    assert not run.ok
    assert run.error is not None and run.error.startswith("could not run")
    result = probe_level_zero(ProbeContext(target))
    assert result.status is Status.WARN
    assert result.data["ran"] is False


def test_remote_route_prefers_the_xpu_command(local: Target, monkeypatch: pytest.MonkeyPatch) -> None:
    """A remote target runs `xpu collect` when the flake installed xpu there."""
    monkeypatch.setenv("PATH", f"{sys.prefix}/bin:/usr/bin:/bin")
    run = collect(Target("ssh://with-xpu", local.host), "level-zero")
    assert run.ok and run.via == "xpu"
    assert "init_result" in (run.data or {})


def test_remote_route_falls_back_to_python3(local: Target, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without xpu, the script is sent to the target's python3 (Debian's /usr/bin/python3 here)."""
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    target = Target("ssh://python3-only", local.host)
    assert target.which("xpu") is None and target.which("python3")
    run = collect(target, "level-zero")
    assert run.ok and run.via == "python3"
    assert "init_result" in (run.data or {})
