"""The flake's Nix files: every one parses, and the overlay exposes the package set.

Nix 2.8 (Debian's nix-bin) parses and evaluates plain Nix; nixpkgs itself cannot be had here, so
whole-flake evaluation runs in `nix flake check` on a machine with Nix and nixpkgs.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
NIX_FILES = sorted(p for p in REPO.rglob("*.nix") if ".venv" not in p.parts and ".git" not in p.parts)

pytestmark = pytest.mark.nix


@pytest.fixture(scope="module")
def nix_instantiate() -> str:
    path = shutil.which("nix-instantiate")
    if path is None:
        pytest.skip("nix-instantiate is not installed (apt-get install nix-bin)")
    return path


def test_there_are_nix_files() -> None:
    assert REPO / "flake.nix" in NIX_FILES


@pytest.mark.parametrize("path", NIX_FILES, ids=[str(p.relative_to(REPO)) for p in NIX_FILES])
def test_parses(path: Path, nix_instantiate: str) -> None:
    run = subprocess.run([nix_instantiate, "--parse", str(path)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr


def test_overlay_adds_the_package_set(nix_instantiate: str) -> None:
    """Apply the overlay to a stand-in `final` whose callPackage records what it was given."""
    expr = f"""
      let
        overlay = import {REPO}/overlays/intel-xpu.nix;
        final = {{ callPackage = path: args: {{ inherit path; }}; }};
      in builtins.mapAttrs (_: v: toString v.path) (overlay final {{ }}).intel-xpu
    """
    run = subprocess.run([nix_instantiate, "--eval", "--strict", "--json", "-E", expr],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == f'{{"xpu-testkit":"{REPO}/packages/xpu-testkit/package.nix"}}'
