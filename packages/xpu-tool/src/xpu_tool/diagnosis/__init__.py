"""Turn probe results into findings: what is wrong, the evidence, the fix (a NixOS option if any).

Each rule covers one problem users of Intel GPUs on Linux and NixOS report (the kernel driver, the
Level Zero driver split, render-node access, an Intel GPU missing from Vulkan, dropped iGPUs,
free-VRAM queries, device selection, JIT-breaking hardening, service ordering, the SYCL cache,
Resizable BAR, FP64 emulation, a torch without XPU), with its fix. Rules read typed observations,
never raw command output.

``registry`` holds ``Observations``, ``@rule`` and ``diagnose``; the rules live by concern in
``kernel`` (the way in, the GPU, its kernel driver, PCI), ``runtimes`` (Level Zero, SYCL, OpenCL,
torch), ``vulkan``, ``services`` (render access, hardening, ordering) and ``environment`` (the
selector, sysman, device selection, the SYCL cache, FP64). Importing the package imports them all,
so ``diagnose`` runs every rule.
"""

from __future__ import annotations

from ..probes.units import INTEL_SERVICES
from .environment import XE2_OR_NEWER, device_selection, fp64_emulation, selector_hides_gpu, sycl_cache, sysman
from .kernel import commands_not_found, kernel_driver, no_intel_gpu, resizable_bar
from .registry import ORDER, RULES, XPU_ENABLE, Observations, Rule, diagnose, rule
from .runtimes import level_zero, level_zero_gpu_not_in_sysfs, nixos_driver_split, opencl, sycl, torch_xpu
from .services import RENDER_GROUPS, jit_hardening, render_access, service_ordering
from .vulkan import VULKAN_ICD_NIXOS, VULKAN_ICD_SETTINGS, igpu_dropped, vulkan

__all__ = [
    "INTEL_SERVICES",
    "ORDER",
    "RENDER_GROUPS",
    "RULES",
    "VULKAN_ICD_NIXOS",
    "VULKAN_ICD_SETTINGS",
    "XE2_OR_NEWER",
    "XPU_ENABLE",
    "Observations",
    "Rule",
    "commands_not_found",
    "device_selection",
    "diagnose",
    "fp64_emulation",
    "igpu_dropped",
    "jit_hardening",
    "kernel_driver",
    "level_zero",
    "level_zero_gpu_not_in_sysfs",
    "nixos_driver_split",
    "no_intel_gpu",
    "opencl",
    "render_access",
    "resizable_bar",
    "rule",
    "selector_hides_gpu",
    "service_ordering",
    "sycl",
    "sycl_cache",
    "sysman",
    "torch_xpu",
    "vulkan",
]
