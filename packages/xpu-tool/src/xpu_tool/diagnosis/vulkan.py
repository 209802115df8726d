"""Rules that read Vulkan's device list: an Intel GPU that Vulkan does not list (or only llvmpipe),
and Ollama dropping an integrated GPU (it takes Vulkan's device type). GPUs are matched to Vulkan
devices by PCI id, never by name."""

from __future__ import annotations

from collections.abc import Iterable

from ..model import Finding, NixosSetting, Severity, Status
from ..probes.pci import PciGpu
from ..probes.vulkan import VulkanDevice, VulkanFacts
from .registry import Observations, no_gpu_note, rule


def _vulkan_devices(obs: Observations) -> tuple[VulkanDevice, ...] | None:
    """What Vulkan listed, or None when it was not asked or its answer says nothing (vulkaninfo
    absent, hung, or printed something else)."""
    facts = obs.facts("vulkan", VulkanFacts)
    if obs.status("vulkan") not in (Status.OK, Status.FAIL) or facts is None:
        return None
    return facts.devices


def _on_vulkan(gpu: PciGpu, devices: tuple[VulkanDevice, ...]) -> VulkanDevice | None:
    """The Intel hardware Vulkan device of a PCI GPU, matched by PCI id (8086:deviceID), never by name;
    a device whose deviceID vulkaninfo did not print matches any Intel GPU."""
    return next((d for d in devices if d.is_intel_gpu and d.device_id in (None, gpu.device_id)), None)


@rule
def igpu_dropped(obs: Observations) -> Iterable[Finding]:
    driven = obs.driven_gpus
    vulkan = _vulkan_devices(obs) or ()

    def kind(gpu: PciGpu) -> str:  # an id missing from the table: Vulkan's device type beats the address guess
        listed = _on_vulkan(gpu, vulkan) if gpu.model is None else None
        return listed.device_type if listed and listed.device_type in ("integrated", "discrete") else gpu.kind

    if driven and all(kind(g) == "integrated" for g in driven) and obs.variable("OLLAMA_IGPU_ENABLE") != "1":
        evidence = [
            f"only integrated Intel GPUs: {', '.join(g.label() for g in driven)}",
            "OLLAMA_IGPU_ENABLE is not 1",
            'recent Ollama logs "dropping integrated GPU" and runs on the CPU',
        ]
        for gpu in driven:
            listed = _on_vulkan(gpu, vulkan)
            if listed and listed.device_type == "integrated":
                evidence.append(
                    f"Vulkan lists {listed.name or gpu.name} [{listed.pci_id}] as "
                    "PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: Ollama (Vulkan by default since 0.30) "
                    "takes that type and drops the device"
                )
        yield Finding(
            "ollama-igpu-dropped",
            Severity.WARN,
            "Ollama will drop the integrated GPU",
            tuple(evidence),
            fix="set OLLAMA_IGPU_ENABLE=1 in Ollama's environment",
            settings=(
                NixosSetting("services.ollama.intel.enable", "true"),
                NixosSetting("services.ollama.intel.igpu", "true"),
            ),
            nixos='(or services.ollama.environmentVariables.OLLAMA_IGPU_ENABLE = "1";)',
        )


_VULKAN_LOADER_SWITCHES = ("VK_DRIVER_FILES", "VK_ICD_FILENAMES")
VULKAN_ICD_SETTINGS = (NixosSetting("hardware.graphics.enable", "true"),)
VULKAN_ICD_NIXOS = (
    "(Mesa, the default hardware.graphics.package, carries Intel's Vulkan driver; "
    "hardware.intel-xpu.enable = true sets it)"
)


def _vulkan_fix(obs: Observations) -> tuple[tuple[str, ...], str]:
    """Evidence about the loader's driver switches, and the fix for an Intel GPU that Vulkan does not list."""
    switches = [
        f"{name}={obs.variable(name)} limits the Vulkan loader to those drivers"
        for name in _VULKAN_LOADER_SWITCHES
        if obs.variable(name)
    ]
    fix = (
        "install Mesa's Intel Vulkan driver (ANV: libvulkan_intel.so and its intel_icd.*.json in "
        "/run/opengl-driver/share/vulkan/icd.d on NixOS, /usr/share/vulkan/icd.d elsewhere; Debian/Ubuntu: "
        "mesa-vulkan-drivers)"
    )
    if switches:
        fix = f"unset {' and '.join(n for n in _VULKAN_LOADER_SWITCHES if obs.variable(n))}, or " + fix
    return tuple(switches), fix


@rule
def vulkan(obs: Observations) -> Iterable[Finding]:
    """An Intel GPU that Vulkan does not list: Ollama (Vulkan by default since 0.30) and llama.cpp's
    Vulkan backend run on the CPU. One finding per cause: with only llvmpipe it is
    vulkan-software-only, otherwise vulkan-no-intel-device; without a driven Intel GPU the
    software-only listing is a note that follows from that (no-intel-gpu, kernel-driver)."""
    r = obs.results.get("vulkan")
    if r is None:
        return
    if r.status is Status.ABSENT:
        yield Finding(
            "vulkan-not-checked",
            Severity.INFO,
            "vulkaninfo not installed: Vulkan not checked",
            r.evidence or (r.cause or "",),
            fix=r.fix or "",
            settings=(NixosSetting("environment.systemPackages", "[ pkgs.vulkan-tools ]"),),
        )
        return
    devices = _vulkan_devices(obs)
    if devices is None:  # hung, or printed something that is not vulkaninfo's
        yield Finding(
            "vulkan-not-checked",
            Severity.WARN,
            "Vulkan could not be checked on the target",
            r.evidence + ((r.cause,) if r.cause else ()),
            fix=r.fix or "",
        )
        return
    listed = tuple(d.label() for d in devices) or ("Vulkan lists no device",)
    facts = r.facts_as(VulkanFacts)
    listed += facts.errors[:3] if facts else ()
    software_only = bool(devices) and all(d.is_software for d in devices)
    driven = obs.driven_gpus
    missing = [g for g in driven if _on_vulkan(g, devices) is None]
    if missing:
        switches, fix = _vulkan_fix(obs)
        some_on_vulkan = len(missing) < len(driven)
        where = tuple(f"PCI: {g.label()}, driven by {g.driver}, has no Vulkan device" for g in missing)
        if software_only:
            yield Finding(
                "vulkan-software-only",
                Severity.FAIL,
                f"Vulkan has only a software device, none for {', '.join(g.name for g in missing)}",
                (
                    *where,
                    *listed,
                    *switches,
                    (
                        "llvmpipe runs Vulkan on the CPU: llama.cpp skips it, and Ollama (Vulkan by default since "
                        "0.30) runs on the CPU"
                    ),
                ),
                fix=fix,
                settings=VULKAN_ICD_SETTINGS,
                nixos=VULKAN_ICD_NIXOS,
            )
            return
        yield Finding(
            "vulkan-no-intel-device",
            Severity.WARN if some_on_vulkan else Severity.FAIL,
            f"Vulkan lists no device for {', '.join(g.name for g in missing)}",
            (
                *where,
                *listed,
                *switches,
                "the other Intel GPU(s) are on Vulkan; programs that pick the missing one by index fail"
                if some_on_vulkan
                else (
                    "without an Intel Vulkan device Ollama (Vulkan by default since 0.30) and llama.cpp's Vulkan "
                    "backend run on the CPU"
                ),
            ),
            fix=fix,
            settings=VULKAN_ICD_SETTINGS,
            nixos=VULKAN_ICD_NIXOS,
        )
        return
    if software_only:  # no Intel GPU driven by i915/xe: llvmpipe is all a Vulkan program can get here
        note = no_gpu_note(obs) or (
            "(no Intel GPU is driven by i915 or xe here, see the kernel-driver finding: this follows from that)",
        )
        yield Finding(
            "vulkan-software-only",
            Severity.INFO,
            "Vulkan has only a software device: Vulkan programs run on the CPU",
            (*listed, "llama.cpp skips llvmpipe; Ollama's Vulkan backend finds no GPU", *note),
            fix="nothing to fix in Vulkan: give the machine an Intel GPU with a kernel driver (see the findings above)",
        )
