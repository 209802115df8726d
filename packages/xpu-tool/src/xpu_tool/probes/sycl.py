"""SYCL: which devices does the oneAPI runtime enumerate (sycl-ls, else dpctl)?"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

from ..collectors.run import collect
from ..model import Facts, ProbeResult, Status
from .context import ProbeContext
from .registry import Collected, listed_gpus, probe

# "[level_zero:gpu][level_zero:0] ..." (2024+), "[ext_oneapi_level_zero:gpu:0] ..." (2022-2023),
# "[level_zero:gpu] ..." (when ONEAPI_DEVICE_SELECTOR filters, the [backend:idx] group is absent)
_LINE = re.compile(
    r"^\[(?P<backend>[a-z_]+):(?P<type>[a-z]+)(?::(?P<idx1>\d+))?\]"
    r"(?:\[(?P<backend2>[a-z_]+):(?P<idx2>\d+)\])?\s*(?P<rest>.*)$"
)
# Device version as sycl-ls prints it after the name: "OpenCL 3.0 NEO", "OpenCL 3.0 (Build 0)", "1.3", "12.55.8"
_VERSION = re.compile(r"\s+(?P<version>OpenCL \d+\.\d+(?: NEO| \(Build \d+\)| LINUX)?|\d+(?:\.\d+)+)\s*$")
_FILTER_NOTE = re.compile(
    r"(?:ONEAPI_DEVICE_SELECTOR|SYCL_DEVICE_FILTER) environment variable(?:, which)? is set to \"?(.+?)\"?\.?\s*$"
)
_LEVEL_ZERO_PLATFORM = re.compile(r"level[- _]?zero", re.I)


@dataclass(frozen=True)
class SyclDevice:
    backend: str  # "level_zero", "opencl", "cuda", ...
    type: str  # "gpu", "cpu", "acc", "fpga"
    index: int | None
    platform: str
    name: str
    version: str
    driver: str

    @property
    def is_intel_gpu(self) -> bool:
        return self.type == "gpu" and ("Intel" in self.name or "Intel" in self.platform)

    @property
    def on_level_zero(self) -> bool:
        return self.backend == "level_zero" or bool(_LEVEL_ZERO_PLATFORM.search(self.platform))

    def label(self) -> str:
        idx = "" if self.index is None else f":{self.index}"
        return f"[{self.backend}:{self.type}{idx}] {self.name} ({self.platform}, driver {self.driver or '?'})"


@dataclass(frozen=True)
class SyclListing:
    devices: tuple[SyclDevice, ...]
    selector: str | None  # the filter sycl-ls said it applied
    errors: tuple[str, ...]  # stdout/stderr lines that are neither devices nor notes


@dataclass(frozen=True)
class SyclFacts(Facts):
    """The sycl probe's facts: where the list came from, the selector that filtered it, the devices
    (``error``: what a runtime that crashed while listing said)."""

    source: str | None
    selector: str | None = None
    devices: tuple[SyclDevice, ...] = ()
    error: str | None = None

    @property
    def gpus(self) -> tuple[SyclDevice, ...]:
        return tuple(d for d in self.devices if d.is_intel_gpu)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"source": self.source}
        if self.source is not None and self.error is None:  # a listing was judged, with or without a selector
            out["selector"] = self.selector
        out.update(
            devices=[asdict(d) for d in self.devices],
            gpus=[asdict(d) for d in self.gpus],
            level_zero_gpus=sum(1 for d in self.gpus if d.on_level_zero),
        )
        if self.error is not None:
            out["error"] = self.error
        return out


def _backend(name: str) -> str:
    name = name.removeprefix("ext_oneapi_")
    return "level_zero" if name in ("level_zero", "levelzero") else name


def parse_device_line(line: str) -> SyclDevice | None:
    m = _LINE.match(line.strip())
    if not m:
        return None
    rest = m.group("rest").strip()
    driver = ""
    if rest.endswith("]") and "[" in rest:  # the LAST bracket group is the driver: names contain "[0x7d55]"
        cut = rest.rindex("[")
        driver, rest = rest[cut + 1 : -1].strip(), rest[:cut].rstrip()
    platform, sep, device = rest.partition(", ")
    if not sep:
        platform, device = "", rest
    version = ""
    vm = _VERSION.search(device)
    if vm:
        version, device = vm.group("version"), device[: vm.start()]
    index = m.group("idx2") or m.group("idx1")
    return SyclDevice(
        backend=_backend(m.group("backend2") or m.group("backend")),
        type=m.group("type"),
        index=int(index) if index is not None else None,
        platform=platform.strip(),
        name=device.strip(),
        version=version,
        driver=driver,
    )


def parse_sycl_ls(stdout: str, stderr: str = "") -> SyclListing:
    """Parse ``sycl-ls`` output. Judge by stdout: sycl-ls exits 0 even after a SYCL exception."""
    devices, errors = [], []
    selector = None
    for line in (stdout + "\n" + stderr).splitlines():
        if not line.strip():
            continue
        note = _FILTER_NOTE.search(line)
        if note:
            selector = note.group(1).strip()
            continue
        if line.startswith(("To see device ids", "To see the correct device id", "To see all devices")):
            continue
        device = parse_device_line(line)
        if device is not None:
            devices.append(device)
        else:
            errors.append(line.strip())
    return SyclListing(tuple(devices), selector, tuple(errors))


def from_dpctl(data: dict) -> SyclListing:
    devices = []
    for d in data.get("devices", []):
        filt = str(d.get("filter", ""))
        idx = filt.rsplit(":", 1)[-1]
        devices.append(
            SyclDevice(
                backend=_backend(str(d.get("backend", ""))),
                type=str(d.get("type", "")),
                index=int(idx) if idx.isdigit() else None,
                platform=str(d.get("platform", "")),
                name=str(d.get("name", "")),
                version="",
                driver=str(d.get("driver", "")),
            )
        )
    return SyclListing(tuple(devices), None, (data["error"],) if data.get("error") else ())


def judge_sycl(listing: SyclListing, source: str, env_selector: str | None) -> ProbeResult:
    evidence = [f"source: {source}"] + [d.label() for d in listing.devices] + list(listing.errors[:5])
    selector = listing.selector or env_selector
    if selector:
        evidence.append(f"ONEAPI_DEVICE_SELECTOR={selector} filters the list")
    facts = SyclFacts(source, selector, listing.devices)
    gpus = facts.gpus
    if not listing.devices:
        cause = "the SYCL runtime enumerated no device"
        if listing.errors:
            cause += f" ({listing.errors[-1][:160]})"
        fix = (
            "unset or correct ONEAPI_DEVICE_SELECTOR"
            if selector
            else ("install a SYCL device runtime: the compute runtime for the GPU (hardware.graphics.extraPackages)")
        )
        return ProbeResult("sycl", Status.FAIL, "no SYCL device", tuple(evidence), cause=cause, fix=fix, facts=facts)
    if not gpus:
        kinds = ", ".join(sorted({f"{d.backend}:{d.type}" for d in listing.devices}))
        return ProbeResult(
            "sycl",
            Status.FAIL,
            f"SYCL sees no Intel GPU, only {kinds}",
            tuple(evidence),
            cause="no level_zero:gpu or opencl:gpu device: the GPU runtime is missing or the GPU is not visible",
            fix="see the level-zero and pci results; SYCL programs would run on the CPU device only",
            facts=facts,
        )
    if not any(d.on_level_zero for d in gpus):
        return ProbeResult(
            "sycl",
            Status.WARN,
            "Intel GPU on OpenCL only, not on Level Zero",
            tuple(evidence),
            cause="SYCL lists the GPU through OpenCL but no level_zero:gpu device",
            fix="install the Level Zero GPU driver (intel-compute-runtime.drivers); "
            "llama.cpp/Ollama SYCL need Level Zero",
            facts=facts,
        )
    return ProbeResult("sycl", Status.OK, f"{len(gpus)} Intel GPU device(s) on SYCL", tuple(evidence), facts=facts)


def probe_sycl(ctx: ProbeContext, env_selector: str | None = None) -> ProbeResult:
    if ctx.target.which("sycl-ls"):
        out = ctx.target.run("sycl-ls", timeout=ctx.timeout)
        listing = parse_sycl_ls(out.stdout, out.stderr)
        if out.timed_out:
            listing = SyclListing(listing.devices, listing.selector, (*listing.errors, "sycl-ls timed out"))
        return judge_sycl(listing, "sycl-ls", env_selector)
    run = collect(ctx.target, "dpctl", ctx.timeout)
    dpctl = run.data or {}
    if run.ok and dpctl.get("available"):
        return judge_sycl(from_dpctl(dpctl), f"dpctl {dpctl.get('version')} via {run.via}", env_selector)
    if run.crashes:  # dpctl was there and started, then died (a SIGSEGV with ZE_ENABLE_NULL_DRIVER=1)
        return ProbeResult(
            "sycl",
            Status.FAIL,
            "the SYCL runtime crashed while listing devices",
            run.crashes,
            cause=run.crashes[0],
            fix="run `python -m dpctl -f` (or sycl-ls) to see it; Level Zero loader switches such as "
            "ZE_ENABLE_NULL_DRIVER=1 crash SYCL's Level Zero adapter: unset them",
            facts=SyclFacts("dpctl", error=run.crashes[0]),
        )
    reason = run.error or (run.data or {}).get("error", "dpctl not importable")
    return ProbeResult(
        "sycl",
        Status.ABSENT,
        "no SYCL runtime to ask (no sycl-ls, no dpctl)",
        (str(reason),),
        cause="neither sycl-ls nor the dpctl Python package is on the target",
        fix="NixOS: hardware.intel-xpu.syclTools = true; puts sycl-ls on PATH (MordragT's SYCL LLVM, through "
        "this flake's overlay); elsewhere pip install dpctl or install oneAPI",
        facts=SyclFacts(None),
    )


@probe("sycl", order=40, runtime="sycl", gpus=listed_gpus)
def run(collected: Collected) -> ProbeResult:
    selector: str | None = collected.env.result().get("ONEAPI_DEVICE_SELECTOR")
    return probe_sycl(collected.ctx, selector)
