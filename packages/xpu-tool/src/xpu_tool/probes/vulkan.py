"""Vulkan: which physical devices does the Vulkan loader find (``vulkaninfo --summary``)?

Ollama runs its GGUF models on Vulkan by default since 0.30 (upstream llama.cpp's Vulkan backend),
so an Intel GPU that Vulkan does not list means Ollama on the CPU. llama.cpp skips Vulkan devices of
type CPU (Mesa's llvmpipe, "lavapipe"), so a Vulkan stack with only a software device is no GPU
either.

The parser keys on the ``key = value`` fields under each ``GPU<n>:`` header, which both
``vulkaninfo --summary`` (1.2.1xx and later) and the full ``vulkaninfo`` text (``VkPhysicalDeviceProperties``,
``VkPhysicalDeviceDriverProperties``) print, whatever their indentation and line ends; a device is
Intel by its vendorID (0x8086) and matched to a PCI GPU by its deviceID, never by its name.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, fields
from typing import Any

from ..model import Facts, ProbeResult, Status
from .context import ProbeContext
from .registry import Collected, listed_gpus, probe

INTEL_VENDOR = 0x8086
COMMAND = "vulkaninfo --summary"
SOFTWARE_DRIVERS = frozenset({"DRIVER_ID_MESA_LLVMPIPE", "DRIVER_ID_GOOGLE_SWIFTSHADER"})
DEVICE_TYPES = {
    "INTEGRATED_GPU": "integrated",
    "DISCRETE_GPU": "discrete",
    "VIRTUAL_GPU": "virtual",
    "CPU": "cpu",
    "OTHER": "other",
}
# VkPhysicalDeviceType as numbers (vulkaninfo --json, some reformatted pastes)
DEVICE_TYPE_NUMBERS = {"0": "other", "1": "integrated", "2": "discrete", "3": "virtual", "4": "cpu"}
MAX_LINE = 4096  # vulkaninfo's lines are short: a longer one is not one of its fields
MAX_DEVICES = 64
MAX_ERRORS = 20

# "GPU0:" (summary, full text), "GPU0: AMD Radeon(TM) 860M Graphics" (a reformatted paste); never the
# "GPU id = 0 (...)" / "GPU id : 0 (...)" lines of the layer and surface sections
_HEADER = re.compile(r"^\s*GPU(\d{1,4})(?!\d)\s*:?\s*(.*)$")
_INSTANCE = re.compile(r"Vulkan Instance Version:\s*(\d+\.\d+(?:\.\d+)?)")
_DOTTED = re.compile(r"\d+\.\d+(?:\.\d+){0,2}")
_ERROR = re.compile(
    r"\bERROR\b|\bERROR_[A-Z_]+|VK_ERROR_[A-Z_]+|Cannot create Vulkan instance|Found no drivers"
    r"|failed with|Segmentation fault|core dumped"
)
_FIELDS = {  # vulkaninfo's key -> VulkanDevice attribute
    "devicename": "name",
    "vendorid": "vendor_id",
    "deviceid": "device_id",
    "devicetype": "device_type",
    "driverid": "driver_id",
    "drivername": "driver_name",
    "driverinfo": "driver_info",
    "apiversion": "api_version",
    "driverversion": "driver_version",
    "conformanceversion": "conformance_version",
    "deviceuuid": "device_uuid",
}


@dataclass(frozen=True)
class VulkanDevice:
    """One Vulkan physical device as vulkaninfo lists it; a field vulkaninfo did not print is None."""

    index: int
    name: str
    vendor_id: int | None = None
    device_id: int | None = None
    device_type: str | None = None  # "integrated", "discrete", "virtual", "cpu", "other"
    driver_id: str | None = None  # "DRIVER_ID_INTEL_OPEN_SOURCE_MESA", "DRIVER_ID_MESA_LLVMPIPE", ...
    driver_name: str | None = None
    driver_info: str | None = None
    api_version: str | None = None
    driver_version: str | None = None
    conformance_version: str | None = None
    device_uuid: str | None = None

    @property
    def is_intel(self) -> bool:
        return self.vendor_id == INTEL_VENDOR

    @property
    def is_software(self) -> bool:
        """A device that runs on the CPU (llvmpipe, SwiftShader): no GPU at all."""
        return self.device_type == "cpu" or self.driver_id in SOFTWARE_DRIVERS

    @property
    def is_intel_gpu(self) -> bool:
        """An Intel hardware device: what Vulkan programs can run on an Intel GPU with."""
        return self.is_intel and not self.is_software

    @property
    def pci_id(self) -> str:
        """``8086:56a0``, as lspci -nn and the PCI scan name the device (``?`` for a missing id)."""
        vendor = "?" if self.vendor_id is None else f"{self.vendor_id:04x}"
        device = "?" if self.device_id is None else f"{self.device_id:04x}"
        return f"{vendor}:{device}"

    def label(self) -> str:
        kind = self.device_type or "type unknown"
        driver = self.driver_id or self.driver_name or "driver unknown"
        info = f" ({self.driver_info})" if self.driver_info else ""
        api = f", Vulkan {self.api_version}" if self.api_version else ""
        return f"GPU{self.index}: {self.name or '?'} [{self.pci_id}] {kind}, {driver}{info}{api}"

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.update(pci_id=self.pci_id, is_intel=self.is_intel, is_software=self.is_software)
        return out


@dataclass(frozen=True)
class VulkanListing:
    """What one vulkaninfo run listed.

    ``recognized``: the text is vulkaninfo's (its banner, the instance version, a device or one of
    its error messages), so "no device" is a finding rather than a program that printed something
    else. ``errors``: the loader's and vulkaninfo's error lines, e.g. ``vkCreateInstance: Found no
    drivers!`` or ``vkEnumeratePhysicalDevices failed with ERROR_INITIALIZATION_FAILED``.
    """

    devices: tuple[VulkanDevice, ...]
    instance_version: str | None
    errors: tuple[str, ...]
    recognized: bool
    first_line: str | None = None  # the first line printed (for output that is not vulkaninfo's)

    @property
    def intel_gpus(self) -> tuple[VulkanDevice, ...]:
        """The Intel hardware devices: what Vulkan programs can run on an Intel GPU with."""
        return tuple(d for d in self.devices if d.is_intel_gpu)


def _printable(line: str, limit: int = 200) -> str:
    text = "".join(c if c.isprintable() else "?" for c in line.strip()[:limit])
    return text + ("..." if len(line.strip()) > limit else "")


def _int(value: str) -> int | None:
    """``0x8086`` or ``32902``; a bare ``56a0`` is read as hex. None for anything else."""
    token = value.split(maxsplit=1)[0] if value.split() else ""
    try:
        return int(token, 0)
    except ValueError:
        return int(token, 16) if re.fullmatch(r"[0-9a-fA-F]{1,8}", token) else None


def _api_version(value: str) -> str:
    """``1.3.230``; ``4206843 (1.3.251)`` and ``0x400039  (1.0.57)`` (older vulkaninfo) -> the dotted part;
    a bare number is decoded as VK_MAKE_API_VERSION."""
    m = _DOTTED.search(value)
    if m:
        return m.group(0)
    number = _int(value)
    if number is None:
        return value
    return f"{(number >> 22) & 0x7F}.{(number >> 12) & 0x3FF}.{number & 0xFFF}"


def _device_type(value: str) -> str:
    name = value.strip().upper().removeprefix("VK_").removeprefix("PHYSICAL_DEVICE_TYPE_")
    for key, kind in DEVICE_TYPES.items():
        if name.startswith(key):
            return kind
    return DEVICE_TYPE_NUMBERS.get(name.split(" ")[0], "other")


def _value(attr: str, raw: str) -> Any:
    value = raw.strip()
    if attr in ("vendor_id", "device_id"):
        return _int(value)
    if attr == "device_type":
        return _device_type(value)
    if attr == "api_version":
        return _api_version(value)
    if attr == "driver_version":  # "25.2.8"; a vendor encoding such as "2265006080 (0x87014000)" stays as printed
        m = _DOTTED.search(value)
        return m.group(0) if m else (value or None)
    if attr == "driver_id":
        return value.removeprefix("VK_").removesuffix("_KHR") or None
    return value or None


def parse_vulkaninfo(stdout: str, stderr: str = "") -> VulkanListing:
    """Parse ``vulkaninfo --summary`` (or the full ``vulkaninfo`` text) into its devices.

    Never raises: text that is not vulkaninfo's gives no devices and ``recognized=False``.
    """
    devices: dict[int, dict[str, Any]] = {}
    current: dict[str, Any] | None = None
    instance = None
    errors: list[str] = []
    recognized = False
    first_line = next(
        (
            _printable(x[:MAX_LINE])
            for x in (*stdout[:MAX_LINE].splitlines(), *stderr[:MAX_LINE].splitlines())
            if x.strip()
        ),
        None,
    )
    for raw in stdout.splitlines():
        line = raw[:MAX_LINE]
        if "VULKANINFO" in line or "Device Properties and Extensions" in line or line.strip() == "Devices:":
            recognized = True
        if instance is None and (m := _INSTANCE.search(line)):
            instance, recognized = m.group(1), True
            continue
        if m := _HEADER.match(line):
            index = int(m.group(1))
            if index not in devices and len(devices) >= MAX_DEVICES:
                current = None
                continue
            current = devices.setdefault(index, {"index": index})
            rest = m.group(2).strip()
            if rest and "=" not in rest and ":" not in rest:  # "GPU0: <name>" of a reformatted paste
                current.setdefault("name", rest)
            elif "=" in rest:  # "GPU0: deviceName = ..." (one field on the header line)
                line = rest
            else:
                continue
        if _ERROR.search(line):
            if len(errors) < MAX_ERRORS:
                errors.append(_printable(line))
            recognized = True
            continue
        if current is None or "=" not in line:
            continue
        key, _, raw_value = line.partition("=")
        attr = _FIELDS.get(key.strip().lower())
        if attr is not None and attr not in current:
            value = _value(attr, raw_value)
            if value is not None:
                current[attr] = value
                recognized = True
    for raw in stderr.splitlines():
        line = raw[:MAX_LINE]
        if _ERROR.search(line):
            recognized = True
            if len(errors) < MAX_ERRORS:
                errors.append(_printable(line))
    names = {f.name for f in fields(VulkanDevice)}
    listed = tuple(
        VulkanDevice(**{"name": "", **{k: v for k, v in d.items() if k in names}})
        for _, d in sorted(devices.items())
        if len(d) > 1
    )  # a header with no field under it is no device
    return VulkanListing(listed, instance, tuple(errors), recognized or bool(listed), first_line)


parse_vulkaninfo_summary = parse_vulkaninfo


@dataclass(frozen=True)
class VulkanFacts(Facts):
    """The vulkan probe's facts: one vulkaninfo run (``source`` None: it was not run) and what it
    listed."""

    source: str | None
    instance_version: str | None = None
    rc: int | None = None
    timed_out: bool = False
    devices: tuple[VulkanDevice, ...] = ()
    errors: tuple[str, ...] = ()

    @property
    def gpus(self) -> tuple[VulkanDevice, ...]:
        """The Intel hardware devices (what xpu_gpus{probe="vulkan"} counts)."""
        return tuple(d for d in self.devices if d.is_intel_gpu)

    def to_dict(self) -> dict[str, Any]:
        if self.source is None:  # not run: nothing but the empty lists
            return {"source": None, "devices": [], "gpus": [], "errors": []}
        return {
            "source": self.source,
            "instance_version": self.instance_version,
            "rc": self.rc,
            "timed_out": self.timed_out,
            "devices": [d.to_dict() for d in self.devices],
            "gpus": [d.to_dict() for d in self.gpus],
            "errors": list(self.errors),
        }


INSTALL_VULKANINFO = (
    "install vulkan-tools (NixOS: environment.systemPackages = [ pkgs.vulkan-tools ]; "
    "Debian/Ubuntu: apt install vulkan-tools)"
)
INTEL_ICD_FIX = (
    "install Mesa's Intel Vulkan driver (ANV, libvulkan_intel.so with its intel_icd.*.json); "
    "NixOS: hardware.graphics.enable = true; (its default package, Mesa, carries it); "
    "Debian/Ubuntu: mesa-vulkan-drivers"
)


def judge_vulkan(
    listing: VulkanListing, *, timed_out: bool = False, timeout: float | None = None, rc: int = 0, source: str = COMMAND
) -> ProbeResult:
    """The verdict on one vulkaninfo run.

    OK: an Intel hardware device is listed. FAIL: vulkaninfo answered and lists no Intel GPU (none
    at all, or only llvmpipe or other vendors' devices): Ollama (Vulkan by default since 0.30) and
    llama.cpp's Vulkan backend would run on the CPU. WARN: vulkaninfo did not finish, or printed
    nothing vulkaninfo prints (nothing can be concluded).
    """
    intel = listing.intel_gpus
    head = f"source: {source}" + (
        f" (Vulkan Instance Version {listing.instance_version})" if listing.instance_version else ""
    )
    evidence = [head] + [d.label() for d in listing.devices[:16]] + list(listing.errors[:5])
    facts = VulkanFacts(source, listing.instance_version, rc, timed_out, listing.devices, listing.errors)
    if timed_out:
        seconds = f" within {timeout:g} s" if timeout else ""
        return ProbeResult(
            "vulkan",
            Status.WARN,
            f"vulkaninfo did not finish{seconds}",
            tuple(evidence),
            cause="vulkaninfo hung: a Vulkan driver waiting on the GPU or its kernel driver, or a layer that blocks",
            fix="run `vulkaninfo --summary` on the target by hand; `VK_LOADER_DEBUG=all` shows which driver "
            "or layer it stops in",
            facts=facts,
        )
    if not listing.recognized:
        printed = f"it printed: {listing.first_line}" if listing.first_line else "it printed nothing"
        return ProbeResult(
            "vulkan",
            Status.WARN,
            "could not run vulkaninfo: its output is not vulkaninfo's",
            (*evidence, printed),
            cause=f"vulkaninfo exited {rc} and printed no Vulkan banner, device or error",
            fix="run `vulkaninfo --summary` on the target by hand; reinstall vulkan-tools if it is broken",
            facts=facts,
        )
    if intel:
        summary = f"{len(intel)} Intel GPU(s) on Vulkan: " + ", ".join(f"{d.name} [{d.pci_id}]" for d in intel)
        if all(d.device_type == "integrated" for d in intel):
            evidence.append("only integrated Intel GPUs: Ollama drops them unless OLLAMA_IGPU_ENABLE=1")
        return ProbeResult("vulkan", Status.OK, summary, tuple(evidence), facts=facts)
    if not listing.devices:
        cause = "the Vulkan loader found no physical device"
        if listing.errors:
            cause += f" ({listing.errors[-1][:160]})"
        elif rc > 128:
            cause = f"vulkaninfo was killed by signal {rc - 128} before it listed a device"
        elif rc:
            cause += f" (vulkaninfo exited {rc})"
        return ProbeResult(
            "vulkan",
            Status.FAIL,
            "Vulkan lists no device",
            tuple(evidence),
            cause=cause,
            fix=INTEL_ICD_FIX + "; Ollama and llama.cpp's Vulkan backend run on the CPU without it",
            facts=facts,
        )
    if all(d.is_software for d in listing.devices):
        names = ", ".join(d.name or d.pci_id for d in listing.devices)
        return ProbeResult(
            "vulkan",
            Status.FAIL,
            f"Vulkan lists only a software device ({names})",
            tuple(evidence),
            cause="no Intel Vulkan driver answered: the only device is Mesa's llvmpipe (a Vulkan device on "
            "the CPU), which llama.cpp skips; Ollama (Vulkan by default since 0.30) runs on the CPU",
            fix=INTEL_ICD_FIX,
            facts=facts,
        )
    others = ", ".join(f"{d.name or '?'} [{d.pci_id}]" for d in listing.devices if not d.is_software)
    return ProbeResult(
        "vulkan",
        Status.FAIL,
        f"Vulkan lists no Intel GPU, only {others}",
        tuple(evidence),
        cause="no device with vendorID 0x8086 other than a software one: no Intel Vulkan driver answered",
        fix=INTEL_ICD_FIX,
        facts=facts,
    )


def probe_vulkan(ctx: ProbeContext) -> ProbeResult:
    """Run ``vulkaninfo --summary`` on the target (bounded by ctx.timeout) and judge it."""
    if not ctx.target.which("vulkaninfo"):
        return ProbeResult(
            "vulkan",
            Status.ABSENT,
            "vulkaninfo not installed: Vulkan not checked",
            (),
            cause="vulkaninfo (vulkan-tools) is not on the target's PATH",
            fix=INSTALL_VULKANINFO,
            facts=VulkanFacts(None),
        )
    out = ctx.target.run(COMMAND, timeout=ctx.timeout)
    # vulkaninfo writes warnings and errors to stderr, and may exit non-zero after listing devices:
    # the devices decide, the exit code only explains an output that is not vulkaninfo's
    listing = parse_vulkaninfo(out.stdout, out.stderr)
    return judge_vulkan(listing, timed_out=out.timed_out, timeout=ctx.timeout, rc=out.rc)


@probe("vulkan", order=60, runtime="vulkan", gpus=listed_gpus)
def run(collected: Collected) -> ProbeResult:
    return probe_vulkan(collected.ctx)
