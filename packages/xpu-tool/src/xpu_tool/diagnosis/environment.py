"""Rules about the variables programs and services see: a device selector that hides every GPU,
sysman for free-VRAM queries, device selection between an iGPU and a discrete GPU, the SYCL cache on
Xe2/Xe3, and FP64 emulation on GPUs without native FP64."""

from __future__ import annotations

from collections.abc import Iterable

from ..gpu_ids import lookup
from ..model import Finding, NixosSetting, Severity, Status
from ..probes.level_zero import LevelZeroFacts
from ..probes.sycl import SyclFacts
from .registry import Observations, rule

XE2_OR_NEWER = ("Xe2", "Xe3")


@rule
def selector_hides_gpu(obs: Observations) -> Iterable[Finding]:
    sycl = obs.facts("sycl", SyclFacts)
    level_zero = obs.facts("level-zero", LevelZeroFacts)
    selector = sycl.selector if sycl else None
    if selector and obs.status("sycl") is Status.FAIL and obs.status("level-zero") is Status.OK:
        yield Finding(
            "selector-hides-gpu",
            Severity.FAIL,
            f"ONEAPI_DEVICE_SELECTOR={selector} hides every Intel GPU",
            (
                f"Level Zero enumerates {len(level_zero.gpus) if level_zero else 0} GPU(s)",
                "SYCL lists none with the selector applied",
            ),
            fix="set ONEAPI_DEVICE_SELECTOR=level_zero:gpu (or level_zero:N) or unset it",
            settings=(NixosSetting("services.ollama.intel.device", '"level_zero:0"'),),
            nixos="(or unset ONEAPI_DEVICE_SELECTOR where it is set)",
        )


@rule
def sysman(obs: Observations) -> Iterable[Finding]:
    if obs.driven_gpus and obs.variable("ZES_ENABLE_SYSMAN") != "1":
        yield Finding(
            "no-free-vram-data",
            Severity.WARN,
            "Free VRAM is unknown to SYCL programs",
            (
                "ZES_ENABLE_SYSMAN is not 1",
                (
                    'SYCL prints "ext_intel_free_memory is not supported '
                    '(export/set ZES_ENABLE_SYSMAN=1)" and assumes all memory is free'
                ),
            ),
            fix="set ZES_ENABLE_SYSMAN=1 for the services that run on SYCL or Level Zero (llama.cpp SYCL, "
            "IPEX-LLM Ollama, PyTorch XPU)",
            settings=(
                NixosSetting("environment.sessionVariables.ZES_ENABLE_SYSMAN", '"1"'),
                NixosSetting("services.ollama.environmentVariables.ZES_ENABLE_SYSMAN", '"1"'),
            ),
            nixos="(hardware.intel-xpu.sysman, on by default, sets it for login sessions; "
            "services.ollama.intel.enable and services.comfyui.intel.enable set it for their services)",
        )


@rule
def device_selection(obs: Observations) -> Iterable[Finding]:
    driven = obs.driven_gpus
    kinds = {g.kind for g in driven}
    if len(driven) > 1 and "integrated" in kinds and "discrete" in kinds and not obs.variable("ONEAPI_DEVICE_SELECTOR"):
        index = None
        level_zero = obs.facts("level-zero", LevelZeroFacts)
        for i, dev in enumerate(level_zero.gpus if level_zero else ()):
            if not dev.integrated:
                index = i
                break
        selector = f"level_zero:{index}" if index is not None else "level_zero:<index of the discrete GPU>"
        yield Finding(
            "device-selection",
            Severity.WARN,
            "Both an iGPU and a discrete GPU: programs may pick the iGPU",
            (*tuple(g.label() for g in driven), "ONEAPI_DEVICE_SELECTOR is not set"),
            fix=f"pin the discrete GPU: ONEAPI_DEVICE_SELECTOR={selector} (llama.cpp: GGML_SYCL_DEVICE)",
            settings=(NixosSetting("services.ollama.intel.device", f'"{selector}"'),),
        )


@rule
def sycl_cache(obs: Observations) -> Iterable[Finding]:
    new = [g for g in obs.driven_gpus if g.arch in XE2_OR_NEWER]
    if new and obs.variable("SYCL_CACHE_PERSISTENT") == "1":
        yield Finding(
            "sycl-cache-xe2",
            Severity.WARN,
            "SYCL_CACHE_PERSISTENT=1 on an Xe2/Xe3 GPU",
            (*tuple(f"{g.label()} ({g.arch})" for g in new), "SYCL_CACHE_PERSISTENT=1"),
            fix="unset SYCL_CACHE_PERSISTENT until the runtime fixes the cache crashes on Xe2/Xe3",
            refs=("ggml-org/llama.cpp#22095", "intel/llvm#22853"),
        )


@rule
def fp64_emulation(obs: Observations) -> Iterable[Finding]:
    for gpu in obs.driven_gpus:
        model = lookup(gpu.device_id)
        if (
            model
            and not model.family.fp64
            and not (
                obs.variable("OverrideDefaultFP64Settings") == "1" and obs.variable("IGC_EnableDPEmulation") == "1"
            )
        ):
            yield Finding(
                "fp64-emulation",
                Severity.WARN,
                f"{gpu.label()} has no native FP64",
                (f"{model.family.name} ({model.family.arch}) lacks FP64; FP64 emulation is not enabled",),
                fix="set OverrideDefaultFP64Settings=1 and IGC_EnableDPEmulation=1 for PyTorch/ComfyUI",
                settings=(NixosSetting("services.comfyui.intel.fp64Emulation", "true"),),
            )
