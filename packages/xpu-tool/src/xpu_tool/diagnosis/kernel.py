"""Rules about the machine before any runtime: the way in (commands the target lacks), an Intel GPU
present, its kernel driver (i915, xe, or reserved for vfio-pci), and the PCI side (Resizable BAR)."""

from __future__ import annotations

from collections.abc import Iterable

from ..gpu_ids import lookup
from ..model import Finding, NixosSetting, Severity, Status
from .registry import XPU_ENABLE, Observations, rule


@rule
def commands_not_found(obs: Observations) -> Iterable[Finding]:
    """Exit 127 from the target itself (sshpass, sh or timeout missing): about the way in, not the GPU."""
    r = obs.results.get("target")
    if r is not None and r.status is Status.FAIL:
        yield Finding(
            "target-command-not-found", Severity.FAIL, r.summary, (*r.evidence, r.cause or ""), fix=r.fix or ""
        )


@rule
def no_intel_gpu(obs: Observations) -> Iterable[Finding]:
    if not obs.gpus and obs.status("target") is not Status.FAIL:
        yield Finding(
            "no-intel-gpu",
            Severity.FAIL,
            "No Intel GPU on this machine",
            ("no PCI device with vendor 0x8086 and class 0x03xxxx in /sys/bus/pci/devices",),
            fix="run on a machine with an Intel GPU, or pass one through to a VM (VFIO)",
        )


@rule
def kernel_driver(obs: Observations) -> Iterable[Finding]:
    version = obs.scan.kernel_version
    for gpu in obs.gpus:
        if gpu.driver in ("i915", "xe"):
            continue
        if gpu.driver == "vfio-pci":
            yield Finding(
                "gpu-reserved-for-vfio",
                Severity.INFO,
                f"{gpu.label()} is bound to vfio-pci",
                (f"driver vfio-pci{', driver_override ' + gpu.driver_override if gpu.driver_override else ''}",),
                fix="expected on a passthrough host; to use it here, unbind vfio-pci and bind i915/xe",
                nixos="remove the id from the vfio-pci ids (boot.kernelParams' vfio-pci.ids=, "
                "boot.extraModprobeConfig's options vfio-pci ids=) and vfio-pci from boot.initrd.kernelModules",
            )
            continue
        model = lookup(gpu.device_id)
        evidence = [f"{gpu.label()}: no kernel driver bound", f"kernel {obs.scan.kernel or 'unknown'}"]
        wanted = "xe" if model and model.family.xe_only else "i915 or xe"
        xe = model is None or "xe" in model.family.drivers  # Gen9-Gen11: i915 only
        fix = f"boot a kernel that drives it with {wanted}"
        if model and model.family.min_kernel and version and version < model.family.min_kernel:
            need = ".".join(map(str, model.family.min_kernel))
            evidence.append(f"{model.family.name} needs Linux {need}+ ({wanted}) without force_probe")
            fix = f"upgrade to Linux {need} or newer, or force-probe the device: xe.force_probe={gpu.device_hex}"
        else:
            evidence.append("the driver did not bind: check `dmesg | grep -E 'i915|xe'` (e.g. probe error -105)")
            fix += (
                f"; to move it to xe: i915.force_probe=!{gpu.device_hex} xe.force_probe={gpu.device_hex}"
                if xe
                else f"; to force i915 onto it: i915.force_probe={gpu.device_hex}"
            )
        yield Finding(
            "kernel-driver",
            Severity.FAIL,
            f"No GPU kernel driver for {gpu.label()}",
            tuple(evidence),
            fix=fix,
            settings=(
                NixosSetting("boot.kernelPackages", "pkgs.linuxPackages_latest"),
                XPU_ENABLE,
                NixosSetting("hardware.intel-xpu.driver", '"xe"' if xe else '"i915"'),
                NixosSetting("hardware.intel-xpu.forceProbe", f'[ "{gpu.device_hex}" ]'),
            ),
            nixos=(
                f'(forceProbe adds boot.kernelParams = [ "i915.force_probe=!{gpu.device_hex}" '
                f'"xe.force_probe={gpu.device_hex}" ]; xe needs Linux 6.8+)'
                if xe
                else f'(forceProbe adds boot.kernelParams = [ "i915.force_probe={gpu.device_hex}" ])'
            ),
            refs=("nixpkgs#448998",),
        )


@rule
def resizable_bar(obs: Observations) -> Iterable[Finding]:
    for gpu in obs.gpus:
        if gpu.resizable_bar == "off":
            yield Finding(
                "rebar-off",
                Severity.WARN,
                f"Resizable BAR is off for {gpu.label()}",
                (f"largest prefetchable BAR {gpu.largest_prefetchable_bar // 2**20} MiB (256 MiB window)",),
                fix="enable Resizable BAR and Above 4G Decoding in the firmware setup (reported ~5x slower without)",
            )
