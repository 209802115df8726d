"""Environment facts that change how the Intel GPU stack behaves."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import Any

from ..model import Facts, ProbeResult, Status
from .context import ProbeContext
from .registry import Collected, probe

# Variables that change the GPU stack's behaviour, and why.
BEHAVIOUR_VARIABLES = {
    "ONEAPI_DEVICE_SELECTOR": "which SYCL devices a program sees (level_zero:0, level_zero:gpu, opencl:*)",
    "GGML_SYCL_DEVICE": "which SYCL device llama.cpp uses",
    "ZES_ENABLE_SYSMAN": "free-VRAM queries (ext_intel_free_memory) need 1",
    "SYCL_CACHE_PERSISTENT": "persistent kernel cache: faster restarts, crashes reported on Xe2/Xe3",
    "OLLAMA_IGPU_ENABLE": "Ollama drops integrated GPUs unless 1",
    "OLLAMA_VULKAN": "Ollama's Vulkan backend: on by default since Ollama 0.30 (0 or false turns it off)",
    "GGML_VK_VISIBLE_DEVICES": "which Vulkan devices llama.cpp (and Ollama) use; CPU-type ones only when listed",
    "VK_DRIVER_FILES": "the only Vulkan drivers (ICD .json files) the loader loads",
    "VK_ICD_FILENAMES": "the only Vulkan drivers the loader loads (older name of VK_DRIVER_FILES)",
    "OverrideDefaultFP64Settings": "FP64 emulation on GPUs without FP64 (with IGC_EnableDPEmulation)",
    "IGC_EnableDPEmulation": "FP64 emulation on GPUs without FP64",
    "OCL_ICD_VENDORS": "where the OpenCL ICD loader looks for .icd files instead of /etc/OpenCL/vendors",
    "OCL_ICD_FILENAMES": "OpenCL runtimes the Khronos ICD loader loads besides the .icd files",
    "ZE_ENABLE_NULL_DRIVER": "1 makes the Level Zero loader add its null driver, a GPU with no hardware",
    "ZE_ENABLE_ALT_DRIVERS": "Level Zero driver libraries loaded instead of the installed ones",
    "LD_LIBRARY_PATH": "a common workaround for the Level Zero driver split (/run/opengl-driver/lib)",
}
OPENGL_DRIVER_LIB = "/run/opengl-driver/lib"


@dataclass(frozen=True)
class EnvFacts(Facts):
    """The target's environment as the GPU stack sees it: the environment probe's facts."""

    variables: dict[str, str]
    nixos: bool
    opengl_driver_libs: tuple[str, ...]  # file names in /run/opengl-driver/lib matching libze*/libigdrcl*
    icd_files: tuple[str, ...] = field(default=())

    def get(self, name: str) -> str | None:
        return self.variables.get(name)

    @property
    def has_ze_gpu_driver(self) -> bool:
        return any(n.startswith("libze_intel_gpu") for n in self.opengl_driver_libs)

    def to_dict(self) -> dict[str, Any]:
        return {
            "variables": self.variables,
            "nixos": self.nixos,
            "opengl_driver_libs": list(self.opengl_driver_libs),
            "icd_files": list(self.icd_files),
            "ze_gpu_driver_linked": self.has_ze_gpu_driver,
        }


def collect_env(ctx: ProbeContext) -> EnvFacts:
    env = ctx.target.environment()
    root = shlex.quote(ctx.sysroot)
    out = ctx.target.run(
        f'R={root}; [ -e "$R/etc/NIXOS" ] && echo @nixos; '
        f'for f in "$R{OPENGL_DRIVER_LIB}"/libze* "$R{OPENGL_DRIVER_LIB}"/libigdrcl*; '
        'do [ -e "$f" ] && echo "@lib ${f##*/}"; done; '
        'for f in "$R"/etc/OpenCL/vendors/*.icd; do [ -e "$f" ] && echo "@icd ${f##*/}"; done; true',
        timeout=ctx.timeout,
    )
    lines = out.stdout.splitlines()
    return EnvFacts(
        variables={k: v for k, v in env.items() if k in BEHAVIOUR_VARIABLES},
        nixos="@nixos" in lines,
        opengl_driver_libs=tuple(line[5:] for line in lines if line.startswith("@lib ")),
        icd_files=tuple(line[5:] for line in lines if line.startswith("@icd ")),
    )


def judge_env(facts: EnvFacts) -> ProbeResult:
    evidence = [f"{k}={v}" for k, v in sorted(facts.variables.items())]
    evidence.append("NixOS" if facts.nixos else "not NixOS")
    if facts.opengl_driver_libs:
        evidence.append(f"{OPENGL_DRIVER_LIB}: {', '.join(facts.opengl_driver_libs)}")
    if facts.icd_files:
        evidence.append(f"/etc/OpenCL/vendors: {', '.join(facts.icd_files)}")
    if facts.nixos and facts.opengl_driver_libs and not facts.has_ze_gpu_driver:
        return ProbeResult(
            "environment",
            Status.FAIL,
            f"{OPENGL_DRIVER_LIB} has no libze_intel_gpu",
            tuple(evidence),
            cause="the compute runtime is linked but its Level Zero driver is in the separate `drivers` output",
            fix="add intel-compute-runtime.drivers to hardware.graphics.extraPackages",
            facts=facts,
        )
    return ProbeResult(
        "environment", Status.OK, f"{len(facts.variables)} behaviour variable(s) set", tuple(evidence), facts=facts
    )


@probe("environment", order=80)
def run(collected: Collected) -> ProbeResult:
    facts: EnvFacts = collected.env.result()
    return judge_env(facts)
