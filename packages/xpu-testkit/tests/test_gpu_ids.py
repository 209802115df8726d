"""The GPU family table (xpu_tool/data/gpu-families.json) and gpu_ids, which reads it: one table
for the doctor and the NixOS module (pytests/test_gpu_families.py checks the module's side)."""

from __future__ import annotations

import json
import re
import tomllib
from importlib import resources
from pathlib import Path

import pytest

from xpu_tool import gpu_ids
from xpu_tool.gpu_ids import GpuFamily, Kind, lookup

TOOL_PACKAGE = Path(__file__).resolve().parents[2] / "xpu-tool"  # packages/xpu-tool
TABLE = json.loads(resources.files("xpu_tool").joinpath(gpu_ids.DATA).read_text(encoding="utf-8"))
ENTRIES = TABLE["families"]


def test_the_table_is_the_one_file_gpu_ids_reads() -> None:
    assert [f.code for f in gpu_ids.FAMILIES] == [e["code"] for e in ENTRIES]
    for family, entry in zip(gpu_ids.FAMILIES, ENTRIES, strict=True):
        assert (family.name, family.arch, family.kind.value) == (entry["name"], entry["arch"], entry["kind"])
        assert family.drivers == tuple(entry["drivers"]) and family.firmware == tuple(entry["firmware"])
        assert (family.compute_runtime, family.fp64) == (entry["compute_runtime"], entry["fp64"])
        assert family.ids == tuple(int(i, 16) for i in entry["ids"])
        assert family.min_kernel == (
            None if entry["min_kernel"] is None else tuple(int(p) for p in entry["min_kernel"].split("."))
        )
        assert family.xe_only == (entry["drivers"] == ["xe"])
    assert {int(i, 16): n for e in ENTRIES for i, n in e["models"].items()} == gpu_ids.MODEL_NAMES


def test_every_entry_is_well_formed() -> None:
    """What the Nix module relies on too: ids as forceProbe takes them (four lower-case hex digits),
    each in one family; codes unique; known drivers, runtimes and firmware; versions major.minor."""
    ids = [i for e in ENTRIES for i in e["ids"]]
    assert all(re.fullmatch("[0-9a-f]{4}", i) for i in ids)
    assert len(ids) == len(set(ids))
    assert len({e["code"] for e in ENTRIES}) == len(ENTRIES)
    for e in ENTRIES:
        assert e["kind"] in {k.value for k in Kind}
        assert e["drivers"] and set(e["drivers"]) <= {"i915", "xe"} and len(set(e["drivers"])) == len(e["drivers"])
        assert e["compute_runtime"] in {"default", "legacy1"}
        assert set(e["firmware"]) <= {"guc", "huc", "gsc"}
        assert e["min_kernel"] is None or re.fullmatch(r"\d+\.\d+", e["min_kernel"])
        assert set(e["models"]) <= set(e["ids"]), e["code"]
        # xe drives Tiger Lake (Gen12) and newer only: a legacy-runtime family is i915's alone
        if e["compute_runtime"] == "legacy1":
            assert e["drivers"] == ["i915"], e["code"]
    assert set(TABLE["fields"]) >= {"code", "drivers", "min_kernel", "compute_runtime", "fp64", "firmware", "ids"}


@pytest.mark.parametrize(
    ("device_id", "code", "name", "floor", "kind"),
    [
        (0xE20B, "BMG", "Arc B580", (6, 12), Kind.DISCRETE),
        (0x64A0, "LNL", "Arc 130V/140V (Lunar Lake)", (6, 11), Kind.INTEGRATED),
        (0x56A0, "DG2", "Arc A770", (6, 2), Kind.DISCRETE),
        (0x7D45, "MTL", "Graphics (Meteor Lake-U)", (6, 7), Kind.INTEGRATED),
        (0x3E92, "CFL", "UHD Graphics 630", None, Kind.INTEGRATED),
        (0x9A40, "TGL", "Tiger Lake Iris Xe Graphics", None, Kind.INTEGRATED),  # no marketing name: the family's
    ],
)
def test_lookup(device_id: int, code: str, name: str, floor: tuple[int, int] | None, kind: Kind) -> None:
    model = lookup(device_id)
    assert model is not None
    assert (model.family.code, model.name, model.family.min_kernel, model.kind) == (code, name, floor, kind)


def family_of(device_id: int) -> GpuFamily:
    model = lookup(device_id)
    assert model is not None, hex(device_id)
    return model.family


def test_the_drivers_of_the_machines_in_the_issue() -> None:
    """Battlemage and Lunar Lake: xe only, with firmware; Arc A-series: i915 by default, xe too."""
    for device_id in (0xE20B, 0x64A0):
        family = family_of(device_id)
        assert family.xe_only and family.drivers == ("xe",) and "guc" in family.firmware
    a770 = family_of(0x56A0)
    assert not a770.xe_only and a770.drivers == ("i915", "xe") and not a770.fp64
    coffee_lake = family_of(0x3E92)
    assert coffee_lake.drivers == ("i915",) and coffee_lake.compute_runtime == "legacy1"


def test_an_unknown_id() -> None:
    assert lookup(0x1234) is None


def test_load_reads_a_table_given_to_it() -> None:
    entry = {
        "code": "XYZ",
        "name": "Test GPU",
        "arch": "Xe9",
        "kind": "discrete",
        "drivers": ["xe"],
        "min_kernel": "7.1",
        "compute_runtime": "default",
        "fp64": True,
        "firmware": ["guc"],
        "ids": ["abcd", "00ef"],
        "models": {"00ef": "Test 1"},
    }
    families, names = gpu_ids.load(json.dumps({"families": [entry]}))
    [family] = families
    assert (family.ids, family.min_kernel, family.xe_only, family.kind) == ((0xABCD, 0xEF), (7, 1), True, Kind.DISCRETE)
    assert names == {0xEF: "Test 1"}


def test_the_table_ships_with_the_package() -> None:
    """setuptools' package data (the wheel) and package.nix's source fileset both hold it."""
    pyproject = tomllib.loads((TOOL_PACKAGE / "pyproject.toml").read_text())
    assert "data/*.json" in pyproject["tool"]["setuptools"]["package-data"]["xpu_tool"]
    assert (TOOL_PACKAGE / "src/xpu_tool" / gpu_ids.DATA).read_text() == resources.files("xpu_tool").joinpath(
        gpu_ids.DATA
    ).read_text()
    assert re.search(r"fileset = lib\.fileset\.unions \[[^]]*\./src\n", (TOOL_PACKAGE / "package.nix").read_text())
