"""Known Intel GPU PCI device ids, grouped by family.

The table is ``data/gpu-families.json``, which the NixOS module ``hardware.intel-xpu`` reads too
(modules/lib/gpu-families.nix): the doctor and the module know the same generations, kernel floors
and drivers. Its ``fields`` entry says what each field means and where it comes from:

Ids: Linux ``include/drm/intel/pciids.h`` (torvalds/linux, read 2026-11), families Gen9 onwards.
Marketing names: Intel's "Graphics hardware table" (dgpu-docs.intel.com) as quoted in public
issue threads; an id without a known marketing name gets its family name.
Drivers: ``i915_pci.c`` and ``xe_pci.c``: xe drives Tiger Lake and newer (behind force_probe until
Lunar Lake), i915 everything up to Meteor/Arrow Lake; Lunar Lake, Battlemage and newer are driven
by ``xe`` only. Kernel floor (``min_kernel``): the first release whose default driver binds the
family without force_probe.
Compute runtime: intel/compute-runtime supports Gen12 (Xe) and newer; Gen8-Gen11 moved to the
``legacy1`` branch, packaged in nixpkgs as ``intel-compute-runtime-legacy1``.
FP64: Gen11, Xe-LP (Gen12 iGPUs, DG1) and Xe-HPG (Arc A-series, Flex) have no native FP64,
which PyTorch/ComfyUI need emulated (``OverrideDefaultFP64Settings=1 IGC_EnableDPEmulation=1``).
Firmware: the GuC/HuC/GSC blobs from linux-firmware the default driver loads for the family.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from importlib import resources
from typing import Any

DATA = "data/gpu-families.json"


class Kind(StrEnum):
    INTEGRATED = "integrated"
    DISCRETE = "discrete"


@dataclass(frozen=True)
class GpuFamily:
    code: str
    name: str
    arch: str
    kind: Kind
    compute_runtime: str  # "default" | "legacy1"
    fp64: bool
    xe_only: bool = False
    min_kernel: tuple[int, int] | None = None  # first kernel that drives it without force_probe
    ids: tuple[int, ...] = ()
    drivers: tuple[str, ...] = ("i915",)  # the kernel drivers that can drive it, default first
    firmware: tuple[str, ...] = ()  # "guc", "huc", "gsc": blobs its default driver loads


@dataclass(frozen=True)
class GpuModel:
    device_id: int
    name: str
    family: GpuFamily

    @property
    def kind(self) -> Kind:
        return self.family.kind


def _version(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    major, minor = text.split(".")
    return int(major), int(minor)


def _family(entry: dict[str, Any]) -> GpuFamily:
    drivers = tuple(entry["drivers"])
    return GpuFamily(
        code=entry["code"],
        name=entry["name"],
        arch=entry["arch"],
        kind=Kind(entry["kind"]),
        compute_runtime=entry["compute_runtime"],
        fp64=entry["fp64"],
        xe_only=drivers == ("xe",),
        min_kernel=_version(entry["min_kernel"]),
        ids=tuple(int(i, 16) for i in entry["ids"]),
        drivers=drivers,
        firmware=tuple(entry["firmware"]),
    )


def load(text: str | None = None) -> tuple[tuple[GpuFamily, ...], dict[int, str]]:
    """The families and the marketing names by id, from the JSON table (the shipped one by default)."""
    if text is None:
        text = resources.files("xpu_tool").joinpath(DATA).read_text(encoding="utf-8")
    entries = json.loads(text)["families"]
    families = tuple(_family(e) for e in entries)
    names = {int(i, 16): name for e in entries for i, name in e["models"].items()}
    return families, names


FAMILIES, MODEL_NAMES = load()

_BY_ID: dict[int, GpuFamily] = {i: fam for fam in FAMILIES for i in fam.ids}


def lookup(device_id: int) -> GpuModel | None:
    """The model for an Intel PCI device id, or None when the id is not in the table."""
    family = _BY_ID.get(device_id)
    if family is None:
        return None
    return GpuModel(device_id, MODEL_NAMES.get(device_id, family.name), family)
