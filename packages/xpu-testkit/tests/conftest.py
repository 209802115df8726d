"""Fixtures for xpu-testkit's own tests."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from xpu_testkit.probes.context import ProbeContext
from xpu_testkit.target import Target, open_target

from . import machines

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def local() -> Target:
    return open_target("local://")


@pytest.fixture
def machine(tmp_path: Path):
    """machine(name) -> sysroot Path with that recorded layout."""

    made: dict[str, Path] = {}

    def make(name: str) -> Path:
        if name not in made:
            made[name] = machines.materialize(name, tmp_path / name)
        return made[name]

    return make


@pytest.fixture
def ctx_for(local: Target, machine):
    def make(name: str, user: str | None = None) -> ProbeContext:
        return ProbeContext(local, sysroot=str(machine(name)), user=user, timeout=30)

    return make


def _cpu_runtime_lib() -> Path | None:
    lib = Path(sys.prefix) / "lib" / "libintelocl.so"
    return lib if lib.exists() else None


@pytest.fixture
def cpu_opencl_runtime(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Register the CPU OpenCL runtime of the intel-opencl-rt wheel (installed by .ci/run).

    An .icd file in a directory named by OCL_ICD_VENDORS is honoured by Debian's ocl-icd (which
    clinfo links) and by the Khronos loader dpctl brings; Debian's ocl-icd 2.3.1 ignores
    OCL_ICD_FILENAMES.
    """
    lib = _cpu_runtime_lib()
    if lib is None:
        pytest.skip("intel-opencl-rt is not installed in this Python (pip install intel-opencl-rt dpctl)")
    vendors = tmp_path / "OpenCL-vendors"
    vendors.mkdir()
    (vendors / "intel-cpu.icd").write_text(f"{lib}\n")
    monkeypatch.setenv("OCL_ICD_VENDORS", str(vendors))
    monkeypatch.delenv("OCL_ICD_FILENAMES", raising=False)
    return vendors
