"""The Vulkan probe: its parser on real `vulkaninfo` outputs (this machine's and Intel machines' from
public reports, tests/data/vulkaninfo.yaml), its judge, the diagnosis rules that read it, and its
behaviour against output that is not vulkaninfo's and a vulkaninfo that hangs."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from xpu_tool.diagnosis import Observations, diagnose
from xpu_tool.model import Finding, ProbeResult, Severity, Status
from xpu_tool.probes.context import ProbeContext
from xpu_tool.probes.environment import EnvFacts
from xpu_tool.probes.pci import judge_pci, scan_system
from xpu_tool.probes.vulkan import (
    VulkanDevice,
    VulkanFacts,
    VulkanListing,
    judge_vulkan,
    parse_vulkaninfo,
    parse_vulkaninfo_summary,
    probe_vulkan,
)
from xpu_tool.target import Target

DATA = Path(__file__).parent / "data"
SAMPLES = yaml.safe_load((DATA / "vulkaninfo.yaml").read_text())


def sample_from(words: str) -> dict:
    """The first recorded output whose source names ``words``."""
    return next(s for s in SAMPLES if words in s["source"])


LAVAPIPE = sample_from("this machine")  # this machine's real output
RPL_S_AND_NVIDIA = sample_from("i9-13900HX")
LUNAR_LAKE = sample_from("lunarlake")
NO_DRIVERS = sample_from("lutris/lutris#5503")
OLD_FULL_FORMAT = sample_from("kpet/clvk#537")
EXPECTED_FIELDS = {
    "name": "name",
    "vendor_id": "vendor_id",
    "device_id": "device_id",
    "type": "device_type",
    "driver_id": "driver_id",
    "driver_name": "driver_name",
    "api_version": "api_version",
    "driver_version": "driver_version",
    "conformance_version": "conformance_version",
    "device_uuid": "device_uuid",
}


def listing(sample: dict) -> VulkanListing:
    return parse_vulkaninfo(sample["stdout"], sample.get("stderr", ""))


def short(sample: dict) -> str:
    source: str = sample["source"]
    return source[:60]


@pytest.mark.parametrize("sample", SAMPLES, ids=short)
def test_each_recorded_output_parses_as_expected(sample: dict) -> None:
    parsed = listing(sample)
    expect = sample["expect"]
    assert len(parsed.devices) == len(expect["devices"])
    for device, wanted in zip(parsed.devices, expect["devices"], strict=True):
        for key, value in wanted.items():
            assert getattr(device, EXPECTED_FIELDS[key]) == value, (device.index, key)
    assert parsed.instance_version == expect["instance_version"]
    assert parsed.recognized
    if "error" in expect:
        assert any(expect["error"] in line for line in parsed.errors), parsed.errors


@pytest.mark.parametrize("sample", SAMPLES, ids=short)
def test_the_judge_on_each_recorded_output(sample: dict) -> None:
    result = judge_vulkan(listing(sample))
    expect = sample["expect"]
    assert result.probe == "vulkan"
    assert result.status.value == expect["status"]
    assert len(result.data["gpus"]) == expect["intel_gpus"]  # what xpu_gpus{probe="vulkan"} counts
    assert len(result.data["devices"]) == len(expect["devices"])
    assert all(gpu["vendor_id"] == 0x8086 and not gpu["is_software"] for gpu in result.data["gpus"])
    json.dumps(result.to_dict())  # the report and the metrics serialise it


def test_intel_machines_with_an_intel_device_are_ok_and_name_it() -> None:
    with_devices = [s for s in SAMPLES if s["intel"] and s["expect"]["intel_gpus"]]
    assert len(with_devices) >= 3
    for sample in with_devices:
        result = judge_vulkan(listing(sample))
        assert result.status is Status.OK, short(sample)
        assert all(f"[8086:{g['device_id']:04x}]" in result.summary for g in result.data["gpus"])


def test_lavapipe_alone_is_the_software_only_verdict() -> None:
    result = judge_vulkan(listing(LAVAPIPE))
    assert result.status is Status.FAIL
    assert result.summary == "Vulkan lists only a software device (llvmpipe (LLVM 15.0.6, 256 bits))"
    assert "CPU" in (result.cause or "") and "hardware.graphics.enable = true" in (result.fix or "")
    assert result.data["gpus"] == []


def test_a_loader_without_drivers_fails_with_its_error() -> None:
    result = judge_vulkan(listing(NO_DRIVERS), rc=1)
    assert result.status is Status.FAIL and result.summary == "Vulkan lists no device"
    assert "ERROR_INCOMPATIBLE_DRIVER" in (result.cause or "")


def test_the_intel_null_hardware_layer_is_no_intel_device() -> None:
    """This machine lists the layer VK_LAYER_INTEL_nullhw ("INTEL NULL HW"): a name, not a device."""
    assert "VK_LAYER_INTEL_nullhw" in LAVAPIPE["stdout"]
    assert not any(d.is_intel for d in listing(LAVAPIPE).devices)


def test_only_the_vendor_id_makes_a_device_intel() -> None:
    """Key on fields: an Intel-looking name with another vendor id is not Intel, a device renamed is."""
    renamed = LUNAR_LAKE["stdout"].replace("Intel(R) Graphics (LNL)", "Mystery GPU")
    assert parse_vulkaninfo(renamed).devices[0].is_intel
    foreign = RPL_S_AND_NVIDIA["stdout"].replace("NVIDIA GeForce RTX 4070 Laptop GPU", "Intel(R) Arc(tm) B580 Graphics")
    parsed = parse_vulkaninfo(foreign)
    assert [d.is_intel for d in parsed.devices] == [True, False]
    assert len(parsed.intel_gpus) == 1


@pytest.mark.parametrize("variant", ["crlf", "spaces", "flush", "reordered"])
def test_line_ends_indentation_and_field_order_do_not_matter(variant: str) -> None:
    text = LAVAPIPE["stdout"]
    if variant == "crlf":
        text = text.replace("\n", "\r\n")
    elif variant == "spaces":
        text = text.replace("\t", "  ")
    elif variant == "flush":
        text = "\n".join(line.strip() for line in text.splitlines())
    else:
        head, _, fields = text.partition("GPU0:\n")
        text = head + "GPU0:\n" + "".join(reversed(fields.splitlines(keepends=True)))
    assert parse_vulkaninfo(text).devices == listing(LAVAPIPE).devices


def test_the_summary_name_is_the_same_parser() -> None:
    assert parse_vulkaninfo_summary is parse_vulkaninfo


def test_layer_and_surface_lines_of_the_full_output_are_no_devices() -> None:
    """The full `vulkaninfo` text names devices in its layer and surface sections ("GPU id = 0 (...)",
    "GPU id : 0 (...)"): only "GPU<n>:" sections are devices."""
    full = (
        "Layers: count = 1\n=======\nVK_LAYER_MESA_device_select (Linux device selection layer) Vulkan version "
        "1.3.211, layer version 1:\n\tLayer Extensions: count = 0\n\tDevices: count = 1\n\t\tGPU id = 0 "
        "(llvmpipe (LLVM 15.0.6, 256 bits))\n\t\tLayer-Device Extensions: count = 0\n\nPresentable Surfaces:\n"
        "=====================\nGPU id : 0 (llvmpipe (LLVM 15.0.6, 256 bits)):\n\tSurface types: count = 2\n"
        + OLD_FULL_FORMAT["stdout"]
    )
    parsed = parse_vulkaninfo(full)
    assert [(d.index, d.name) for d in parsed.devices] == [(0, "llvmpipe (LLVM 11.0.1, 128 bits)")]


# -- this machine's real vulkaninfo ------------------------------------------------------------------


@pytest.fixture(scope="module")
def real_vulkaninfo() -> str:
    path = shutil.which("vulkaninfo")
    if path is None:
        pytest.skip(
            "vulkaninfo is not installed here (Debian: apt-get install vulkan-tools mesa-vulkan-drivers "
            "libvulkan1); CI installs it"
        )
    return path


def test_the_real_vulkaninfo_here_parses(real_vulkaninfo: str) -> None:
    out = subprocess.run([real_vulkaninfo, "--summary"], capture_output=True, text=True, timeout=60, check=False)
    parsed = parse_vulkaninfo(out.stdout, out.stderr)
    assert parsed.recognized and parsed.instance_version
    assert parsed.devices, (out.stdout[-2000:], out.stderr[-2000:])
    for device in parsed.devices:
        assert device.vendor_id is not None and device.device_id is not None and device.device_type, device
        assert device.driver_id and device.api_version, device
    verdict = judge_vulkan(parsed, rc=out.returncode)
    assert (verdict.status is Status.OK) == bool(parsed.intel_gpus)


def test_probe_vulkan_through_the_local_target(real_vulkaninfo: str, local: Target) -> None:
    result = probe_vulkan(ProbeContext(local, timeout=60))
    out = subprocess.run([real_vulkaninfo, "--summary"], capture_output=True, text=True, timeout=60, check=False)
    assert result.status in (Status.OK, Status.FAIL), result
    assert [d["pci_id"] for d in result.data["devices"]] == [d.pci_id for d in parse_vulkaninfo(out.stdout).devices]
    assert result.data["source"] == "vulkaninfo --summary"


# -- the diagnosis rules -----------------------------------------------------------------------------


def observe(ctx: ProbeContext, vulkan: ProbeResult | None, variables: dict[str, str] | None = None) -> Observations:
    scan = scan_system(ctx)
    results = {"pci": judge_pci(scan)}
    if vulkan is not None:
        results["vulkan"] = vulkan
    return Observations(scan, results, EnvFacts(variables or {}, False, ()))


def findings(obs: Observations) -> dict[str, Finding]:
    return {f.id: f for f in diagnose(obs)}


def judged(sample: dict) -> ProbeResult:
    return judge_vulkan(listing(sample))


def intel_device(device_id: int, kind: str, index: int = 0) -> VulkanDevice:
    return VulkanDevice(index, f"device {index}", 0x8086, device_id, kind, "DRIVER_ID_INTEL_OPEN_SOURCE_MESA")


def test_intel_gpu_on_pci_that_vulkan_does_not_list(ctx_for) -> None:
    found = findings(observe(ctx_for("arc-a770-i915"), judged(NO_DRIVERS)))
    finding = found["vulkan-no-intel-device"]
    assert finding.severity is Severity.FAIL
    assert any("[8086:56a0]" in e and "i915" in e for e in finding.evidence)
    assert any("Found no drivers!" in e for e in finding.evidence)
    assert "hardware.graphics.enable = true;" in (finding.nixos or "")
    assert "vulkan-software-only" not in found


def test_intel_gpu_with_only_llvmpipe_is_one_finding(ctx_for) -> None:
    found = findings(observe(ctx_for("arc-a770-i915"), judged(LAVAPIPE)))
    finding = found["vulkan-software-only"]
    assert finding.severity is Severity.FAIL
    assert any("Ollama" in e and "CPU" in e for e in finding.evidence)
    assert "hardware.graphics.enable = true;" in (finding.nixos or "")
    assert "vulkan-no-intel-device" not in found


def test_no_intel_gpu_and_only_llvmpipe_adds_no_second_failure(ctx_for) -> None:
    """This CI machine: no-intel-gpu is the blocking finding; the Vulkan verdict follows from it."""
    found = diagnose(observe(ctx_for("no-intel-gpu"), judged(LAVAPIPE)))
    assert [f.id for f in found if f.severity is Severity.FAIL] == ["no-intel-gpu"]
    software = next(f for f in found if f.id == "vulkan-software-only")
    assert software.severity is Severity.INFO
    assert "(this machine has no Intel GPU, so this follows from that)" in software.evidence


def test_a_listed_intel_gpu_gives_no_vulkan_finding(ctx_for) -> None:
    found = findings(observe(ctx_for("lunar-lake-xe"), judged(LUNAR_LAKE)))
    assert not {"vulkan-no-intel-device", "vulkan-software-only", "vulkan-not-checked"} & set(found)


def test_vulkan_devices_match_pci_gpus_by_pci_id_not_by_name(ctx_for) -> None:
    renamed = LUNAR_LAKE["stdout"].replace("Intel(R) Graphics (LNL)", "Mystery GPU")
    result = judge_vulkan(parse_vulkaninfo(renamed))
    assert "vulkan-no-intel-device" not in findings(observe(ctx_for("lunar-lake-xe"), result))
    other_id = LUNAR_LAKE["stdout"].replace("0x64a0", "0x64b0")  # same name, another Lunar Lake id
    finding = findings(observe(ctx_for("lunar-lake-xe"), judge_vulkan(parse_vulkaninfo(other_id))))[
        "vulkan-no-intel-device"
    ]
    assert finding.severity is Severity.FAIL
    assert any("[8086:64a0]" in e for e in finding.evidence)
    # an Intel iGPU of another machine (8086:a788) does not stand in for this one's A770
    assert "vulkan-no-intel-device" in findings(observe(ctx_for("arc-a770-i915"), judged(RPL_S_AND_NVIDIA)))


def test_one_of_two_intel_gpus_missing_is_a_warning(ctx_for) -> None:
    only_arc = judge_vulkan(VulkanListing((intel_device(0x56A0, "discrete"),), "1.4.309", (), True))
    finding = findings(observe(ctx_for("igpu-plus-arc"), only_arc))["vulkan-no-intel-device"]
    assert finding.severity is Severity.WARN
    assert any("[8086:3e92]" in e for e in finding.evidence)
    assert not any("[8086:56a0]" in e and "no Vulkan device" in e for e in finding.evidence)


def test_the_loader_switches_are_named_in_the_fix(ctx_for) -> None:
    variables = {"VK_ICD_FILENAMES": "/usr/share/vulkan/icd.d/lvp_icd.x86_64.json"}
    finding = findings(observe(ctx_for("arc-a770-i915"), judged(LAVAPIPE), variables))["vulkan-software-only"]
    assert finding.fix.startswith("unset VK_ICD_FILENAMES")
    assert any("lvp_icd" in e for e in finding.evidence)


def test_the_integrated_gpu_evidence_names_vulkans_device_type(ctx_for) -> None:
    finding = findings(observe(ctx_for("lunar-lake-xe"), judged(LUNAR_LAKE)))["ollama-igpu-dropped"]
    assert any("PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU" in e and "[8086:64a0]" in e for e in finding.evidence)
    assert "services.ollama.intel.igpu = true" in (finding.nixos or "")
    enabled = observe(ctx_for("lunar-lake-xe"), judged(LUNAR_LAKE), {"OLLAMA_IGPU_ENABLE": "1"})
    assert "ollama-igpu-dropped" not in findings(enabled)


def test_vulkan_not_checked(ctx_for) -> None:
    absent = ProbeResult(
        "vulkan",
        Status.ABSENT,
        "vulkaninfo not installed: Vulkan not checked",
        (),
        cause="no vulkaninfo",
        fix="install vulkan-tools",
        facts=VulkanFacts(None),
    )
    finding = findings(observe(ctx_for("arc-a770-i915"), absent))["vulkan-not-checked"]
    assert finding.severity is Severity.INFO and "pkgs.vulkan-tools" in (finding.nixos or "")
    hung = judge_vulkan(VulkanListing((), None, (), False), timed_out=True, timeout=5)
    found = findings(observe(ctx_for("arc-a770-i915"), hung))
    assert found["vulkan-not-checked"].severity is Severity.WARN
    assert not {"vulkan-no-intel-device", "vulkan-software-only"} & set(found)  # a hang says nothing


def test_without_a_vulkan_result_no_vulkan_rule_speaks(ctx_for) -> None:
    assert not any(i.startswith("vulkan-") for i in findings(observe(ctx_for("arc-a770-i915"), None)))


# -- bad input: one clear result, never a traceback, in bounded time ------------------------------------


def test_empty_output_is_could_not_run() -> None:
    result = judge_vulkan(parse_vulkaninfo("", ""), rc=0)
    assert result.status is Status.WARN and result.summary.startswith("could not run vulkaninfo")
    assert "it printed nothing" in result.evidence


def test_garbage_is_could_not_run_and_shows_what_was_printed() -> None:
    result = judge_vulkan(parse_vulkaninfo("Usage: vulkaninfo [--frobnicate]\nsegments = 3\n", ""), rc=2)
    assert result.status is Status.WARN
    assert "it printed: Usage: vulkaninfo [--frobnicate]" in result.evidence
    assert "exited 2" in (result.cause or "")


def test_binary_output_gives_one_result() -> None:
    noise = random.Random(5).randbytes(1 << 16).decode("utf-8", errors="replace")  # as the target decodes it
    result = judge_vulkan(parse_vulkaninfo(noise, noise), rc=0)
    assert result.status is Status.WARN and result.data["devices"] == []
    assert all(c.isprintable() for line in result.evidence for c in line)
    assert max(len(line) for line in result.evidence) < 300


def test_ten_megabytes_parse_in_bounded_time() -> None:
    head, sep, devices = LAVAPIPE["stdout"].partition("Devices:")
    padding = "VK_KHR_surface                         : extension revision 25\n"
    huge = head + padding * (10 * 2**20 // len(padding)) + sep + devices
    started = time.monotonic()
    parsed = parse_vulkaninfo(huge, "x" * (10 * 2**20))  # and a 10 MB line without a line end
    assert time.monotonic() - started < 10
    assert [d.name for d in parsed.devices] == ["llvmpipe (LLVM 15.0.6, 256 bits)"]
    many = "".join(f"GPU{i}:\n\tvendorID = 0x8086\n\tdeviceID = 0x56a0\n" for i in range(5000))
    assert len(parse_vulkaninfo(many).devices) == 64  # capped: no device list grows without bound


@pytest.fixture
def fake_vulkaninfo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """fake_vulkaninfo(script) puts an executable `vulkaninfo` running ``script`` (sh) first on PATH."""

    def make(script: str) -> Path:
        exe = tmp_path / "bin" / "vulkaninfo"
        exe.parent.mkdir(exist_ok=True)
        exe.write_text("#!/bin/sh\n" + script + "\n")
        exe.chmod(0o755)
        monkeypatch.setenv("PATH", f"{exe.parent}:/usr/bin:/bin")
        return exe

    return make


def test_a_hanging_vulkaninfo_is_cut_off_by_the_targets_timeout(fake_vulkaninfo, local: Target) -> None:
    fake_vulkaninfo("echo '=========='; echo VULKANINFO; sleep 60")
    started = time.monotonic()
    result = probe_vulkan(ProbeContext(local, timeout=2))
    assert time.monotonic() - started < 15
    assert result.status is Status.WARN and result.summary == "vulkaninfo did not finish within 2 s"
    assert result.data["timed_out"] is True


@pytest.mark.parametrize("kind", ["empty", "garbage", "binary", "huge"])
def test_bad_output_through_the_real_target(kind: str, fake_vulkaninfo, tmp_path: Path, local: Target) -> None:
    blob = tmp_path / "out"
    if kind == "binary":
        blob.write_bytes(random.Random(7).randbytes(1 << 20))
    elif kind == "huge":
        blob.write_text("no vulkan here, just a very long log line\n" * (10 * 2**20 // 42))
    elif kind == "garbage":
        blob.write_text("Segmentation-free nonsense: 42 = 6 * 7\nGPUs are: none\n")
    else:
        blob.write_text("")
    fake_vulkaninfo(f"cat {blob}")
    started = time.monotonic()
    result = probe_vulkan(ProbeContext(local, timeout=30))
    assert time.monotonic() - started < 30
    assert result.status is Status.WARN and result.summary.startswith("could not run vulkaninfo"), result.summary
    assert sum(len(e) for e in result.evidence) < 2000


def test_a_nonzero_exit_with_devices_is_judged_by_its_devices(fake_vulkaninfo, tmp_path: Path, local: Target) -> None:
    """vulkaninfo can exit non-zero (a failing surface query) after it listed the devices."""
    (tmp_path / "out").write_text(LAVAPIPE["stdout"])
    fake_vulkaninfo(
        f"cat {tmp_path / 'out'}; echo 'ERROR at ./vulkaninfo/vulkaninfo.h:245: surface failed' >&2; exit 1"
    )
    result = probe_vulkan(ProbeContext(local, timeout=30))
    assert result.status is Status.FAIL and "software device" in result.summary
    assert result.data["rc"] == 1 and any("surface failed" in e for e in result.data["errors"])


def test_no_vulkaninfo_on_the_target_is_absent(local: Target, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for tool in ("timeout", "sh"):  # what the target needs to run a command, and no vulkaninfo
        (tmp_path / tool).symlink_to(shutil.which(tool) or f"/bin/{tool}")
    monkeypatch.setenv("PATH", str(tmp_path))
    assert local.run("true").ok
    result = probe_vulkan(ProbeContext(local, timeout=30))
    assert result.status is Status.ABSENT
    assert "pkgs.vulkan-tools" in (result.fix or "")
