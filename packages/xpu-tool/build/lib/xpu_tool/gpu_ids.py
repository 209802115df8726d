"""Known Intel GPU PCI device ids, grouped by family.

Ids: Linux ``include/drm/intel/pciids.h`` (torvalds/linux, read 2026-11), families Gen9 onwards.
Marketing names: Intel's "Graphics hardware table" (dgpu-docs.intel.com) as quoted in public
issue threads; an id without a known marketing name gets its family name.
Compute runtime: intel/compute-runtime supports Gen12 (Xe) and newer; Gen8-Gen11 moved to the
``legacy1`` branch, packaged in nixpkgs as ``intel-compute-runtime-legacy1``.
FP64: Gen11, Xe-LP (Gen12 iGPUs, DG1) and Xe-HPG (Arc A-series, Flex) have no native FP64,
which PyTorch/ComfyUI need emulated (``OverrideDefaultFP64Settings=1 IGC_EnableDPEmulation=1``).
Kernel driver: i915 until Meteor Lake; Lunar Lake, Battlemage and newer are driven by ``xe`` only.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Kind(str, Enum):
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


@dataclass(frozen=True)
class GpuModel:
    device_id: int
    name: str
    family: GpuFamily

    @property
    def kind(self) -> Kind:
        return self.family.kind


I, D = Kind.INTEGRATED, Kind.DISCRETE

FAMILIES: tuple[GpuFamily, ...] = (
    GpuFamily("SKL", "Skylake HD Graphics", "Gen9", I, "legacy1", True, ids=(
        0x1906, 0x1913, 0x190E, 0x1915, 0x1902, 0x190A, 0x190B, 0x1917, 0x1916, 0x1921, 0x191E,
        0x1912, 0x191A, 0x191B, 0x191D, 0x1923, 0x1926, 0x1927, 0x192A, 0x192B, 0x192D, 0x1932,
        0x193A, 0x193B, 0x193D)),
    GpuFamily("BXT", "Apollo Lake HD Graphics", "Gen9", I, "legacy1", True, ids=(
        0x0A84, 0x1A84, 0x1A85, 0x5A84, 0x5A85)),
    GpuFamily("GLK", "Gemini Lake UHD Graphics", "Gen9.5", I, "legacy1", True, ids=(0x3184, 0x3185)),
    GpuFamily("KBL", "Kaby Lake HD Graphics", "Gen9.5", I, "legacy1", True, ids=(
        0x5906, 0x5913, 0x590E, 0x5915, 0x5902, 0x5908, 0x590A, 0x590B, 0x5916, 0x5921, 0x591E,
        0x5912, 0x5917, 0x591A, 0x591B, 0x591D, 0x5926, 0x5923, 0x5927, 0x593B, 0x591C, 0x87C0)),
    GpuFamily("CFL", "Coffee Lake UHD Graphics", "Gen9.5", I, "legacy1", True, ids=(
        0x3E90, 0x3E93, 0x3E99, 0x3E91, 0x3E92, 0x3E96, 0x3E98, 0x3E9A, 0x3E9C, 0x3E94, 0x3E9B,
        0x3EA9, 0x3EA5, 0x3EA6, 0x3EA7, 0x3EA8, 0x87CA, 0x3EA1, 0x3EA4, 0x3EA0, 0x3EA3, 0x3EA2)),
    GpuFamily("CML", "Comet Lake UHD Graphics", "Gen9.5", I, "legacy1", True, ids=(
        0x9BA2, 0x9BA4, 0x9BA5, 0x9BA8, 0x9B21, 0x9BAA, 0x9BAC, 0x9BC2, 0x9BC4, 0x9BC5, 0x9BC6,
        0x9BC8, 0x9BE6, 0x9BF6, 0x9B41, 0x9BCA, 0x9BCC)),
    GpuFamily("ICL", "Ice Lake Iris Plus Graphics", "Gen11", I, "legacy1", False, ids=(
        0x8A50, 0x8A52, 0x8A53, 0x8A54, 0x8A56, 0x8A57, 0x8A58, 0x8A59, 0x8A5A, 0x8A5B, 0x8A5C,
        0x8A70, 0x8A71, 0x8A51, 0x8A5D)),
    GpuFamily("EHL", "Elkhart Lake UHD Graphics", "Gen11", I, "legacy1", False, ids=(
        0x4541, 0x4551, 0x4555, 0x4557, 0x4570, 0x4571)),
    GpuFamily("JSL", "Jasper Lake UHD Graphics", "Gen11", I, "legacy1", False, ids=(
        0x4E51, 0x4E55, 0x4E57, 0x4E61, 0x4E71)),
    GpuFamily("TGL", "Tiger Lake Iris Xe Graphics", "Xe-LP", I, "default", False, ids=(
        0x9A60, 0x9A68, 0x9A70, 0x9A40, 0x9A49, 0x9A59, 0x9A78, 0x9AC0, 0x9AC9, 0x9AD9, 0x9AF8)),
    GpuFamily("RKL", "Rocket Lake UHD Graphics", "Xe-LP", I, "default", False, ids=(
        0x4C80, 0x4C8A, 0x4C8B, 0x4C8C, 0x4C90, 0x4C9A)),
    GpuFamily("DG1", "Iris Xe MAX (DG1)", "Xe-LP", D, "default", False, ids=(
        0x4905, 0x4906, 0x4907, 0x4908, 0x4909)),
    GpuFamily("ADL-S", "Alder Lake-S UHD Graphics", "Xe-LP", I, "default", False, ids=(
        0x4680, 0x4682, 0x4688, 0x468A, 0x468B, 0x4690, 0x4692, 0x4693)),
    GpuFamily("ADL-P", "Alder Lake-P Iris Xe Graphics", "Xe-LP", I, "default", False, ids=(
        0x46A0, 0x46A1, 0x46A2, 0x46A3, 0x46A6, 0x46A8, 0x46AA, 0x462A, 0x4626, 0x4628, 0x46B0,
        0x46B1, 0x46B2, 0x46B3, 0x46C0, 0x46C1, 0x46C2, 0x46C3)),
    GpuFamily("ADL-N", "Alder Lake-N UHD Graphics", "Xe-LP", I, "default", False, ids=(
        0x46D0, 0x46D1, 0x46D2, 0x46D3, 0x46D4)),
    GpuFamily("RPL-S", "Raptor Lake-S UHD Graphics", "Xe-LP", I, "default", False, ids=(
        0xA780, 0xA781, 0xA782, 0xA783, 0xA788, 0xA789, 0xA78A, 0xA78B)),
    GpuFamily("RPL-P", "Raptor Lake-P/U Iris Xe Graphics", "Xe-LP", I, "default", False, ids=(
        0xA721, 0xA7A1, 0xA7A9, 0xA7AC, 0xA7AD, 0xA720, 0xA7A0, 0xA7A8, 0xA7AA, 0xA7AB)),
    GpuFamily("DG2", "Arc A-series (Alchemist)", "Xe-HPG", D, "default", False, min_kernel=(6, 2), ids=(
        0x56A0, 0x56A1, 0x56A2, 0x56BE, 0x56BF, 0x5690, 0x5691, 0x5692, 0x56A5, 0x56A6, 0x56B0,
        0x56B1, 0x56BA, 0x56BB, 0x56BC, 0x56BD, 0x5693, 0x5694, 0x5695, 0x56A3, 0x56A4, 0x56B2,
        0x56B3, 0x5696, 0x5697)),
    GpuFamily("ATS-M", "Data Center GPU Flex", "Xe-HPG", D, "default", False, ids=(
        0x56C0, 0x56C2, 0x56C1)),
    GpuFamily("MTL", "Meteor Lake Arc Graphics", "Xe-LPG", I, "default", True, min_kernel=(6, 7), ids=(
        0x7D40, 0x7D45, 0x7D55, 0x7D60, 0x7DD5)),
    GpuFamily("ARL", "Arrow Lake Arc Graphics", "Xe-LPG+", I, "default", True, ids=(
        0x7D51, 0x7DD1, 0x7D41, 0x7D67, 0xB640)),
    GpuFamily("PVC", "Data Center GPU Max (Ponte Vecchio)", "Xe-HPC", D, "default", True, ids=(
        0x0B69, 0x0B6E, 0x0BD4, 0x0BD5, 0x0BD6, 0x0BD7, 0x0BD8, 0x0BD9, 0x0BDA, 0x0BDB, 0x0BE0,
        0x0BE1, 0x0BE5)),
    GpuFamily("LNL", "Lunar Lake Arc Graphics", "Xe2", I, "default", True, xe_only=True,
              min_kernel=(6, 11), ids=(0x6420, 0x64A0, 0x64B0)),
    GpuFamily("BMG", "Arc B-series (Battlemage)", "Xe2", D, "default", True, xe_only=True,
              min_kernel=(6, 12), ids=(
        0xE202, 0xE209, 0xE20B, 0xE20C, 0xE20D, 0xE210, 0xE211, 0xE212, 0xE216, 0xE220, 0xE221,
        0xE222, 0xE223)),
    GpuFamily("PTL", "Panther Lake Arc Graphics", "Xe3", I, "default", True, xe_only=True, ids=(
        0xB080, 0xB081, 0xB082, 0xB083, 0xB084, 0xB085, 0xB086, 0xB087, 0xB08F, 0xB090, 0xB0A0,
        0xB0B0)),
    GpuFamily("WCL", "Wildcat Lake Graphics", "Xe3", I, "default", True, xe_only=True, ids=(
        0xFD80, 0xFD81)),
)

# Marketing names for the ids users most often own (Intel's hardware table, via issue threads).
MODEL_NAMES: dict[int, str] = {
    0x56A0: "Arc A770", 0x56A1: "Arc A750", 0x56A2: "Arc A580", 0x56A5: "Arc A380",
    0x56A6: "Arc A310", 0x5690: "Arc A770M", 0x5691: "Arc A730M", 0x5692: "Arc A550M",
    0x5693: "Arc A370M", 0x5694: "Arc A350M", 0x5696: "Arc A570M", 0x5697: "Arc A530M",
    0x56B0: "Arc Pro A30M", 0x56B1: "Arc Pro A40/A50", 0x56B2: "Arc Pro A60M",
    0x56B3: "Arc Pro A60", 0x56C0: "Data Center GPU Flex 170", 0x56C1: "Data Center GPU Flex 140",
    0xE20B: "Arc B580", 0xE20C: "Arc B570", 0xE211: "Arc Pro B60", 0xE212: "Arc Pro B50",
    0x64A0: "Arc 130V/140V (Lunar Lake)", 0x7D55: "Arc Graphics (Meteor Lake-H)",
    0x7DD5: "Arc Graphics (Meteor Lake-H)", 0x7D45: "Graphics (Meteor Lake-U)",
    0x3E92: "UHD Graphics 630", 0x3E98: "UHD Graphics 630", 0x4C8A: "UHD Graphics 750",
    0x9A49: "Iris Xe Graphics (Tiger Lake)", 0xA780: "UHD Graphics 770", 0x4680: "UHD Graphics 770",
    0x46A6: "Iris Xe Graphics (Alder Lake-P)",
}

_BY_ID: dict[int, GpuFamily] = {i: fam for fam in FAMILIES for i in fam.ids}


def lookup(device_id: int) -> GpuModel | None:
    """The model for an Intel PCI device id, or None when the id is not in the table."""
    family = _BY_ID.get(device_id)
    if family is None:
        return None
    return GpuModel(device_id, MODEL_NAMES.get(device_id, family.name), family)
