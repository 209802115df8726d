"""OpenCL: which platforms and devices does the ICD loader find (clinfo)?"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from typing import Any

from ..model import Facts, ProbeResult, Status
from .context import ProbeContext
from .registry import Collected, listed_gpus, probe

INTEL_VENDOR = 0x8086


@dataclass(frozen=True)
class ClDevice:
    platform: str
    name: str
    type: str  # "gpu", "cpu", "accelerator", "unknown"
    vendor_id: int | None
    driver: str

    @property
    def is_intel_gpu(self) -> bool:
        if self.type == "gpu":
            return self.vendor_id == INTEL_VENDOR or "Intel" in self.platform
        # `clinfo -l` gives no type: Intel's GPU runtime (NEO) names its platform "... Graphics"
        return self.type == "unknown" and "Intel" in self.platform and "Graphics" in self.platform


@dataclass(frozen=True)
class OpenClFacts(Facts):
    """The opencl probe's facts: where the list came from, the ICD loader, the devices."""

    source: str | None
    devices: tuple[ClDevice, ...] = ()
    icd_loader: str | None = None

    @property
    def gpus(self) -> tuple[ClDevice, ...]:
        return tuple(d for d in self.devices if d.is_intel_gpu)

    def to_dict(self) -> dict[str, Any]:
        listed = {"devices": [asdict(d) for d in self.devices], "gpus": [asdict(d) for d in self.gpus]}
        if self.source is None:  # clinfo not installed: no loader was asked
            return {"source": None, **listed}
        return {"source": self.source, "icd_loader": self.icd_loader, **listed}


def icd_loader(text: str) -> str | None:
    """The ICD loader clinfo --json reports (ocl-icd or Khronos), e.g. "OpenCL ICD Loader 2.3.1"."""
    loader = json.loads(text).get("icd_loader") or {}
    name = loader.get("CL_ICDL_NAME")
    return f"{name} {loader.get('CL_ICDL_VERSION', '')}".strip() if name else None


def parse_clinfo_json(text: str) -> list[ClDevice]:
    """``clinfo --json``: platforms[i] pairs with devices[i]["online"]; keys are CL_* names."""
    doc = json.loads(text)
    devices = []
    for platform, group in zip(doc.get("platforms", []), doc.get("devices", []), strict=False):
        pname = platform.get("CL_PLATFORM_NAME", "")
        for dev in group.get("online", []):
            types = (dev.get("CL_DEVICE_TYPE") or {}).get("type", [])
            kind = "unknown"
            for t in types:
                kind = t.removeprefix("CL_DEVICE_TYPE_").lower()
            devices.append(
                ClDevice(
                    pname,
                    dev.get("CL_DEVICE_NAME", ""),
                    kind,
                    dev.get("CL_DEVICE_VENDOR_ID"),
                    dev.get("CL_DRIVER_VERSION", ""),
                )
            )
    return devices


_PLATFORM = re.compile(r"^Platform #(\d+): (.*)$")
_DEVICE = re.compile(r"^\s*[`+|\\-]*\s*[-`+]-+\s*Device #(\d+): (.*)$|^\s*[└├]─+\s*Device #(\d+): (.*)$")
_RAW_PLATFORM = re.compile(r"^(\d+): (.*)$")
_RAW_DEVICE = re.compile(r"^(\d+)\.(\d+): (.*)$")


def parse_clinfo_list(text: str) -> list[ClDevice]:
    """``clinfo -l`` (tree) or ``clinfo --raw -l`` (``P: name`` / ``P.D: name``)."""
    platforms: dict[str, str] = {}
    current = ""
    devices = []
    for line in text.splitlines():
        if m := _PLATFORM.match(line):
            current = m.group(2).strip()
        elif m := _DEVICE.match(line):
            devices.append(ClDevice(current, (m.group(2) or m.group(4)).strip(), "unknown", None, ""))
        elif m := _RAW_DEVICE.match(line):
            devices.append(ClDevice(platforms.get(m.group(1), ""), m.group(3).strip(), "unknown", None, ""))
        elif m := _RAW_PLATFORM.match(line):
            platforms[m.group(1)] = m.group(2).strip()
    return devices


def judge_opencl(devices: list[ClDevice], source: str, icd_env: str | None, loader: str | None = None) -> ProbeResult:
    evidence = [f"source: {source}" + (f" ({loader})" if loader else "")] + [
        f"{d.platform}: {d.name} ({d.type}{', ' + d.driver if d.driver else ''})" for d in devices
    ]
    if icd_env:
        evidence.append(f"ICD registration from the environment: {icd_env}")
    facts = OpenClFacts(source, tuple(devices), loader)
    gpus = facts.gpus
    if not devices:
        return ProbeResult(
            "opencl",
            Status.FAIL,
            "no OpenCL platform",
            tuple(evidence),
            cause="the OpenCL ICD loader found no platform (no .icd in /etc/OpenCL/vendors or OCL_ICD_VENDORS)",
            fix="NixOS: hardware.graphics.extraPackages = [ pkgs.intel-compute-runtime ]; Debian: intel-opencl-icd",
            facts=facts,
        )
    if not gpus:
        return ProbeResult(
            "opencl",
            Status.FAIL,
            "OpenCL sees no Intel GPU",
            tuple(evidence),
            cause="the OpenCL platforms present are not Intel's GPU runtime (NEO)",
            fix="install the compute runtime (NixOS: hardware.graphics.extraPackages = [ pkgs.intel-compute-runtime ])",
            facts=facts,
        )
    return ProbeResult("opencl", Status.OK, f"{len(gpus)} Intel GPU device(s) on OpenCL", tuple(evidence), facts=facts)


def probe_opencl(ctx: ProbeContext, icd_env: str | None = None) -> ProbeResult:
    if not ctx.target.which("clinfo"):
        return ProbeResult(
            "opencl",
            Status.ABSENT,
            "clinfo is not installed",
            (),
            cause="no clinfo on PATH to ask the OpenCL ICD loader",
            fix="NixOS: the intel-xpu module installs clinfo; Debian: apt-get install clinfo",
            facts=OpenClFacts(None),
        )
    out = ctx.target.run("clinfo --json", timeout=ctx.timeout)
    if out.ok and out.stdout.lstrip().startswith("{"):
        try:
            return judge_opencl(parse_clinfo_json(out.stdout), "clinfo --json", icd_env, icd_loader(out.stdout))
        except (ValueError, AttributeError):
            pass
    out = ctx.target.run("clinfo -l", timeout=ctx.timeout)
    if not out.ok or not out.stdout.strip():
        out = ctx.target.run("clinfo --raw -l", timeout=ctx.timeout)
    return judge_opencl(parse_clinfo_list(out.stdout), "clinfo -l", icd_env)


@probe("opencl", order=50, runtime="opencl", gpus=listed_gpus)
def run(collected: Collected) -> ProbeResult:
    env = collected.env.result()
    icd = " ".join(f"{k}={env.get(k)}" for k in ("OCL_ICD_VENDORS", "OCL_ICD_FILENAMES") if env.get(k))
    return probe_opencl(collected.ctx, icd or None)
