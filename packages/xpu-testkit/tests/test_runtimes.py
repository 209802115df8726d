"""SYCL (dpctl) and OpenCL (clinfo) probes against the real CPU runtimes from PyPI and Debian."""

from __future__ import annotations

import pytest

from xpu_tool.model import Status
from xpu_tool.probes.context import ProbeContext
from xpu_tool.probes.opencl import parse_clinfo_json, parse_clinfo_list, probe_opencl
from xpu_tool.probes.sycl import probe_sycl
from xpu_tool.target import Target


def test_dpctl_enumerates_the_cpu_device_as_no_gpu(local: Target, cpu_opencl_runtime, no_intel_gpu_here: None) -> None:
    pytest.importorskip("dpctl", reason="pip install dpctl")
    if local.which("sycl-ls"):
        pytest.skip("sycl-ls is on PATH; this test covers the dpctl route")
    result = probe_sycl(ProbeContext(local))
    assert result.data["source"].startswith("dpctl")
    filters = [f"{d['backend']}:{d['type']}:{d['index']}" for d in result.data["devices"]]
    assert "opencl:cpu:0" in filters
    assert result.data["gpus"] == []
    assert result.status is Status.FAIL
    assert result.summary == "SYCL sees no Intel GPU, only opencl:cpu"


def test_dpctl_without_a_runtime_lists_nothing(local: Target, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("dpctl", reason="pip install dpctl")
    monkeypatch.delenv("OCL_ICD_FILENAMES", raising=False)
    monkeypatch.setenv("OCL_ICD_VENDORS", "/nonexistent")
    result = probe_sycl(ProbeContext(local))
    assert result.status is Status.FAIL
    assert result.summary == "no SYCL device"


def _clinfo(local: Target) -> None:
    if not local.which("clinfo"):
        pytest.skip("clinfo is not installed (apt-get install clinfo ocl-icd-libopencl1)")


def test_clinfo_json_with_the_cpu_runtime(local: Target, cpu_opencl_runtime, no_intel_gpu_here: None) -> None:
    _clinfo(local)
    result = probe_opencl(ProbeContext(local), f"OCL_ICD_VENDORS={cpu_opencl_runtime}")
    assert result.data["source"] == "clinfo --json"
    assert result.data["icd_loader"].startswith("OpenCL ICD Loader")  # Debian's ocl-icd, not the wheel's Khronos loader
    assert [d["type"] for d in result.data["devices"]] == ["cpu"]
    assert result.data["devices"][0]["platform"] == "Intel(R) OpenCL"
    assert result.data["devices"][0]["vendor_id"] == 0x8086  # Intel's CPU runtime reports Intel as vendor
    assert result.status is Status.FAIL and result.summary == "OpenCL sees no Intel GPU"


def test_clinfo_list_formats_agree_with_json(local: Target, cpu_opencl_runtime, no_intel_gpu_here: None) -> None:
    _clinfo(local)
    as_json = parse_clinfo_json(local.run("clinfo --json").stdout)
    tree = parse_clinfo_list(local.run("clinfo -l").stdout)
    raw = parse_clinfo_list(local.run("clinfo --raw -l").stdout)
    assert [(d.platform, d.name) for d in tree] == [(d.platform, d.name) for d in as_json]
    assert [(d.platform, d.name) for d in raw] == [(d.platform, d.name) for d in as_json]
    assert not any(d.is_intel_gpu for d in tree + raw)


def test_clinfo_without_platforms(local: Target, monkeypatch: pytest.MonkeyPatch) -> None:
    _clinfo(local)
    monkeypatch.delenv("OCL_ICD_FILENAMES", raising=False)
    monkeypatch.setenv("OCL_ICD_VENDORS", "/nonexistent")
    result = probe_opencl(ProbeContext(local))
    assert result.status is Status.FAIL
    assert result.summary == "no OpenCL platform"
