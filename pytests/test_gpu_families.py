"""One table of Intel GPU generations for the doctor and the NixOS module: hardware.intel-xpu
reads the same gpu-families.json that xpu_tool.gpu_ids reads (modules/lib/gpu-families.nix), and
refuses, at evaluation, a kernel older than the floor the doctor knows for a generation."""

from __future__ import annotations

import subprocess

import pytest

from xpu_tool import gpu_ids

from . import test_flake
from .test_flake import REPO, _with_upstream, eval_nix_attrs

pytestmark = pytest.mark.xpu_nix

# test_flake's fixtures: nix-instantiate, and the upstream checkouts the harness loads
nix_instantiate = test_flake.nix_instantiate
upstream = test_flake.upstream


def _python_table() -> dict[str, dict]:
    return {
        f.code: {
            "ids": [f"{i:04x}" for i in f.ids],
            "drivers": list(f.drivers),
            "xeOnly": f.xe_only,
            "integrated": f.kind is gpu_ids.Kind.INTEGRATED,
            "min_kernel": ".".join(map(str, f.min_kernel)) if f.min_kernel else None,
            "computeRuntime": {"default": "default", "legacy1": "legacy"}[f.compute_runtime],
            "fp64": f.fp64,
            "firmware": list(f.firmware),
        }
        for f in gpu_ids.FAMILIES
    }


def test_the_module_reads_the_doctors_table(nix_instantiate: str, upstream: dict) -> None:
    got = eval_nix_attrs(
        nix_instantiate,
        _with_upstream(
            upstream,
            f"""
      let
        gpu = import {REPO}/modules/lib/gpu-families.nix {{ inherit lib; }};
        keys = [ "ids" "drivers" "xeOnly" "integrated" "min_kernel" "computeRuntime" "fp64" "firmware" ];
      in {{
        families = builtins.mapAttrs (_: f: lib.getAttrs keys f) gpu.families;
        inherit (gpu) codes;
        byId = builtins.mapAttrs (_: f: f.code) gpu.byId;
        # the codes hardware.intel-xpu.generation accepts
        generation = (lib.evalModules {{ modules = [
          {REPO}/modules/nixos/intel-gpu.nix {{ _module.check = false; _module.args.pkgs = {{ }}; }}
        ]; }}).options.hardware.intel-xpu.generation.type.nestedTypes.elemType.functor.payload.values;
      }}""",
        ),
    )
    python = _python_table()
    assert got["families"] == python
    assert got["codes"] == [f.code for f in gpu_ids.FAMILIES] == got["generation"]
    assert got["byId"] == {f"{i:04x}": f.code for f in gpu_ids.FAMILIES for i in f.ids}


def _below(floor: str) -> str:
    major, minor = map(int, floor.split("."))
    return f"{major}.{minor - 1}.99"


def test_every_generation_with_a_floor_is_refused_below_it(nix_instantiate: str, upstream: dict) -> None:
    """For each family the doctor knows a kernel floor for, named by its first id in forceProbe:
    the release before the floor is refused naming the floor, the floor itself is accepted; and
    a family only xe drives gets xe."""
    floors = {
        f.code: (f"{f.ids[0]:04x}", ".".join(map(str, f.min_kernel)), f.xe_only)
        for f in gpu_ids.FAMILIES
        if f.min_kernel
    }
    assert {"DG2", "MTL", "LNL", "BMG"} <= set(floors)
    cases = " ".join(
        f"""
        "{code}" = {{
          below = run "{_below(floor)}" "{device}";
          at = run "{floor}.0" "{device}";
        }};"""
        for code, (device, floor, _) in floors.items()
    )
    got = eval_nix_attrs(
        nix_instantiate,
        _with_upstream(
            upstream,
            f"""
      let
        run = kernelVersion: id: let r = harness {{
          inherit kernelVersion;
          modules = [
            {REPO}/modules/nixos/intel-gpu.nix {{ hardware.intel-xpu = {{ enable = true; forceProbe = [ id ]; }}; }}
          ];
        }}; in {{ inherit (r) failedAssertions xpuDriver; }};
      in {{ {cases} }}""",
        ),
    )
    for code, (device, floor, xe_only) in floors.items():
        below, at = got[code]["below"], got[code]["at"]
        refusals = [m for m in below["failedAssertions"] if m.startswith("Linux too old for")]
        assert len(refusals) == 1, (code, below)
        assert f'({code}; hardware.intel-xpu.forceProbe = [ "{device}" ])' in refusals[0]
        assert f"needs Linux {floor} or newer, but this system boots {_below(floor)}" in refusals[0]
        assert at["failedAssertions"] == [], (code, at)
        assert at["xpuDriver"] == ("xe" if xe_only else "i915")


def test_a_driver_set_on_both_sides_must_agree(nix_instantiate: str, upstream: dict) -> None:
    """With nixos-hardware's common/gpu/intel imported, hardware.intel-xpu.driver is its
    hardware.intelgpu.driver: two different values set on the two options are one option set twice,
    which the module system refuses naming both."""
    run = subprocess.run(
        [
            nix_instantiate,
            "--eval",
            "--strict",
            "-E",
            _with_upstream(
                upstream,
                f"""
      (harness {{ modules = [
        {REPO}/modules/nixos/intel-gpu.nix
        upstream.nixosHardware.intelGpu
        {{ hardware.intel-xpu = {{ enable = true; driver = "xe"; }}; }}
        {{ hardware.intelgpu.driver = "i915"; }}
      ]; }}).failedAssertions""",
            ),
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode != 0
    assert "The option `hardware.intelgpu.driver' has conflicting definition values" in run.stderr, run.stderr
    assert '"i915"' in run.stderr and '"xe"' in run.stderr
