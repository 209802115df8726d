"""Parsers against real sycl-ls and clinfo outputs recorded from Intel GPU machines."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from xpu_tool.model import Status
from xpu_tool.probes.opencl import judge_opencl, parse_clinfo_list
from xpu_tool.probes.sycl import judge_sycl, parse_device_line, parse_sycl_ls

DATA = Path(__file__).parent / "data"
SYCL_SAMPLES = yaml.safe_load((DATA / "sycl-ls.yaml").read_text())
CLINFO_SAMPLES = yaml.safe_load((DATA / "clinfo-list.yaml").read_text())


@pytest.mark.parametrize("sample", SYCL_SAMPLES, ids=[s["source"].split(",")[0][:40] for s in SYCL_SAMPLES])
def test_sycl_ls_sample(sample: dict) -> None:
    listing = parse_sycl_ls(sample["stdout"], sample.get("stderr", ""))
    expect = sample["expect"]
    assert len(listing.devices) == expect["devices"]
    gpus = [d for d in listing.devices if d.is_intel_gpu]
    got = [
        {"backend": d.backend, "index": d.index, "name": d.name, "driver": d.driver, "version": d.version} for d in gpus
    ]
    assert got == expect["gpus"]
    assert listing.selector == expect.get("selector")
    verdict = judge_sycl(listing, "sycl-ls", None)
    assert verdict.status.value == expect.get("status", "ok")


def test_device_name_brackets_are_not_the_driver() -> None:
    dev = parse_device_line(
        "[level_zero:gpu][level_zero:0] Intel(R) Level-Zero, Intel(R) Graphics [0x7d55] 1.3 [1.3.27642]"
    )
    assert dev is not None
    assert (dev.name, dev.driver) == ("Intel(R) Graphics [0x7d55]", "1.3.27642")


def test_level_zero_platform_matched_loosely() -> None:
    for platform in (
        "Intel(R) Level-Zero",
        "Intel(R) oneAPI Unified Runtime over Level-Zero V2",
        "Intel(R) oneAPI Unified Runtime over Level-Zero",
    ):
        dev = parse_device_line(f"[level_zero:gpu] {platform}, Intel(R) Arc(TM) A770 Graphics 1.6 [1.3.31294]")
        assert dev is not None and dev.on_level_zero and dev.platform == platform


def test_sycl_exception_is_a_failure_even_with_exit_zero() -> None:
    listing = parse_sycl_ls("", "terminate called after throwing an instance of 'sycl::_V1::exception'\n")
    verdict = judge_sycl(listing, "sycl-ls", None)
    assert verdict.status is Status.FAIL
    assert "sycl::_V1::exception" in (verdict.cause or "")


def test_selector_from_environment_is_reported_when_sycl_ls_is_silent() -> None:
    listing = parse_sycl_ls("", "")
    verdict = judge_sycl(listing, "sycl-ls", "level_zero:3")
    assert verdict.status is Status.FAIL
    assert "ONEAPI_DEVICE_SELECTOR" in (verdict.fix or "")


@pytest.mark.parametrize("sample", CLINFO_SAMPLES, ids=[s["source"].split(" ")[0] for s in CLINFO_SAMPLES])
def test_clinfo_list_sample(sample: dict) -> None:
    devices = parse_clinfo_list(sample["stdout"])
    assert len(devices) == sample["expect"]["devices"]
    assert [d.name for d in devices if d.is_intel_gpu] == sample["expect"]["gpus"]
    assert judge_opencl(devices, "clinfo -l", None).status is Status.OK
