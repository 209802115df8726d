"""Rules about the compute runtimes: the Level Zero loader and its GPU driver (and a GPU it reports
that is no hardware), SYCL, OpenCL, PyTorch's XPU, and NixOS's split of the compute runtime's
drivers output."""

from __future__ import annotations

from collections.abc import Iterable

from ..model import Finding, NixosSetting, Severity, Status
from ..probes.level_zero import DRIVER_SETTING, INTEL_VENDOR, LevelZeroFacts, loader_override
from ..probes.torch_xpu import TorchFacts
from .registry import XPU_ENABLE, Observations, no_gpu_note, rule


@rule
def level_zero(obs: Observations) -> Iterable[Finding]:
    r = obs.results.get("level-zero")
    if r is None or r.status is Status.OK:
        return
    if r.status is Status.ABSENT:
        yield Finding(
            "level-zero-loader-missing",
            Severity.FAIL,
            "Level Zero loader not installed",
            r.evidence + no_gpu_note(obs),
            fix=r.fix or "",
            settings=(XPU_ENABLE,),
            nixos="(adds pkgs.level-zero)",
        )
        return
    if r.status is Status.WARN:  # could not run
        yield Finding(
            "level-zero-not-checked",
            Severity.WARN,
            "Level Zero could not be checked on the target",
            r.evidence or (r.cause or "",),
            fix=r.fix or "",
        )
        return
    evidence = r.evidence + no_gpu_note(obs)
    if obs.env.nixos and obs.env.opengl_driver_libs and not obs.env.has_ze_gpu_driver:
        evidence += ("/run/opengl-driver/lib has the compute runtime but no libze_intel_gpu.so",)
    yield Finding(
        "level-zero-no-driver",
        Severity.FAIL,
        "Level Zero loader finds no Intel GPU driver",
        evidence,
        fix="install the compute runtime's Level Zero driver (libze_intel_gpu.so); a stopgap some use is "
        "LD_LIBRARY_PATH=/run/opengl-driver/lib",
        settings=(DRIVER_SETTING,),
        nixos="(or hardware.intel-xpu.enable = true, which detects the drivers output)",
        refs=("nixpkgs PR 560627",),
    )


@rule
def level_zero_gpu_not_in_sysfs(obs: Observations) -> Iterable[Finding]:  # also a loader debug switch
    """A GPU Level Zero reports that no Intel GPU in the PCI scan accounts for."""
    shown = {g.device_id for g in obs.driven_gpus}
    facts = obs.facts("level-zero", LevelZeroFacts)
    if facts is None:
        return
    unseen = [
        dev
        for driver in facts.drivers
        for dev in driver.devices
        if dev.type == "gpu" and not (dev.vendor_id == INTEL_VENDOR and dev.device_id in shown)
    ]
    if not unseen:
        return
    evidence = tuple(f"Level Zero GPU {dev.name!r} [{dev.vendor_id:04x}:{dev.device_id:04x}]" for dev in unseen)
    evidence += (f"sysfs: {', '.join(g.label() for g in obs.driven_gpus) or 'no Intel GPU driven by i915 or xe'}",)
    override = loader_override(facts)
    if override:
        yield Finding(
            "level-zero-gpu-not-in-sysfs",
            Severity.FAIL,
            f"Level Zero reports a GPU that is not hardware ({override.variable} is set)",
            (*evidence, override.evidence),
            fix=f"unset {override.variable}: it is a loader debug switch, and the GPU it brings is no device of "
            "this machine (programs that pick it compute nothing)",
            nixos=f"remove {override.variable} from environment.variables, environment.sessionVariables and "
            "the services' environment (systemd.services.<name>.environment, "
            "services.ollama.environmentVariables)",
        )
        return
    yield Finding(
        "level-zero-gpu-not-in-sysfs",
        Severity.WARN,
        "Level Zero reports a GPU that sysfs does not show",
        evidence,
        fix="run the doctor where that GPU's PCI device is visible: on the host, not in a container without the "
        "host's /sys, and without a --sysroot of another machine",
    )


@rule
def sycl(obs: Observations) -> Iterable[Finding]:
    r = obs.results.get("sycl")
    if r is None or r.status is Status.OK:
        return
    if r.status is Status.ABSENT:
        yield Finding(
            "sycl-not-checked",
            Severity.INFO,
            "No SYCL runtime to ask (no sycl-ls, no dpctl)",
            r.evidence,
            fix=r.fix or "",
            settings=(XPU_ENABLE, NixosSetting("hardware.intel-xpu.syclTools", "true")),
            nixos="(sycl-ls from MordragT's SYCL LLVM, through this flake's overlay)",
        )
        return
    severity = Severity.WARN if r.status is Status.WARN else Severity.FAIL
    yield Finding(
        "sycl-no-gpu" if severity is Severity.FAIL else "sycl-opencl-only",
        severity,
        r.summary,
        r.evidence + no_gpu_note(obs),
        fix=r.fix or "",
        settings=(XPU_ENABLE,),
    )


@rule
def opencl(obs: Observations) -> Iterable[Finding]:
    r = obs.results.get("opencl")
    if r is None or r.status is Status.OK:
        return
    if r.status is Status.ABSENT:
        yield Finding(
            "opencl-not-checked",
            Severity.INFO,
            "clinfo not installed: OpenCL not checked",
            r.evidence or (r.cause or "",),
            fix=r.fix or "",
        )
        return
    yield Finding(
        "opencl-no-gpu",
        Severity.FAIL,
        r.summary,
        r.evidence + no_gpu_note(obs),
        fix=r.fix or "",
        settings=(NixosSetting("hardware.graphics.extraPackages", "[ pkgs.intel-compute-runtime ]"),),
    )


@rule
def torch_xpu(obs: Observations) -> Iterable[Finding]:
    r = obs.results.get("torch")
    if r is None or r.status is not Status.FAIL:
        return
    facts = r.facts_as(TorchFacts)
    if facts is None:
        return
    if not facts.xpu_build:
        yield Finding(
            "torch-no-xpu",
            Severity.FAIL,
            r.summary,
            (*r.evidence, r.cause or ""),
            fix=r.fix or "",
            settings=(NixosSetting("services.comfyui.intel.enable", "true"),),
            nixos="(services.comfyui.package becomes this flake's ComfyUI on XPU PyTorch)",
        )
    else:
        yield Finding("torch-xpu-no-device", Severity.FAIL, r.summary, r.evidence + no_gpu_note(obs), fix=r.fix or "")
    ipex = facts.ipex_version
    if ipex:
        yield Finding(
            "ipex-discontinued",
            Severity.INFO,
            f"intel_extension_for_pytorch {ipex} is installed",
            ("IPEX is discontinued after 2.8; ComfyUI uses upstream torch.xpu",),
            fix="drop IPEX and use torch.xpu (PyTorch 2.7+)",
        )


@rule
def nixos_driver_split(obs: Observations) -> Iterable[Finding]:
    r = obs.results.get("environment")
    if r is not None and r.status is Status.FAIL and obs.status("level-zero") is Status.OK:
        yield Finding(
            "nixos-drivers-output",
            Severity.WARN,
            r.summary,
            r.evidence,
            fix=r.fix or "",
            settings=(NixosSetting("hardware.graphics.extraPackages", "[ pkgs.intel-compute-runtime.drivers ]"),),
        )
