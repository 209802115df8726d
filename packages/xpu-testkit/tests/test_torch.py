"""The PyTorch probe against a real torch: the CPU build from PyPI (2.13.0+cpu), which has no XPU."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

import xpu_tool
from xpu_tool.collectors.run import ScriptRun
from xpu_tool.model import Status
from xpu_tool.probes.context import ProbeContext
from xpu_tool.probes.pci import PciGpu
from xpu_tool.probes.torch_xpu import judge_torch, probe_torch
from xpu_tool.target import Target


def test_cpu_torch_is_diagnosed_as_without_xpu(local: Target) -> None:
    torch = pytest.importorskip("torch", reason="pip install torch==2.13.0 (the CPU build)")
    result = probe_torch(ProbeContext(local))
    assert result.data["version"] == torch.__version__
    assert result.data["xpu_build"] is None
    assert result.data["xpu_available"] is False
    assert result.status is Status.FAIL
    assert result.summary == f"torch {torch.__version__} has no XPU support"
    assert "intel-python" in (result.fix or "")


def test_python_without_torch_is_absent(local: Target, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONNOUSERSITE", "1")
    target = Target("ssh://python-without-torch", local.host)  # the script goes to Debian's python3
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    if target.run("python3 -c 'import torch'").ok:
        pytest.skip("/usr/bin/python3 has torch")
    result = probe_torch(ProbeContext(target))
    assert result.status is Status.ABSENT
    assert "ModuleNotFoundError" in result.evidence[0]


# -- torch's files first: imported only when its answer can matter ------------------------------------

COLLECTOR = Path(xpu_tool.__file__).parent / "collectors" / "torch_probe.py"


def collect_with(python: str, **env: str) -> dict:
    """The collector run by ``python`` as the doctor runs it on a target (a fresh interpreter)."""
    run = subprocess.run(
        [python, str(COLLECTOR)], capture_output=True, text=True, timeout=120, env={**os.environ, **env}, check=False
    )
    assert run.returncode == 0, run.stderr
    collected: dict = json.loads(run.stdout)
    return collected


def comfyui_python() -> str:
    venv = os.environ.get("XPU_COMFYUI_VENV")
    if not venv:
        pytest.skip("set XPU_COMFYUI_VENV to the ComfyUI environment (PyPI's CUDA torch; ./bootstrap.sh test does)")
    return str(Path(venv) / "bin" / "python")


@pytest.mark.parametrize("which", ["cpu", "cuda"])
def test_files_tell_what_the_import_tells_without_importing(which: str) -> None:
    """Contract: on the real CPU build (2.13.0+cpu) and the real CUDA build (2.14.1+cu130) the
    facts read from torch's files equal what `import torch` says."""
    if which == "cpu":
        pytest.importorskip("torch", reason="pip install torch==2.13.0 (the CPU build)")
    python = sys.executable if which == "cpu" else comfyui_python()
    files, imported = collect_with(python), collect_with(python, XPU_TORCH_IMPORT="1")
    assert (files["imported"], imported["imported"]) == (False, True)
    for key in (
        "version",
        "xpu_build",
        "cuda_build",
        "has_xpu_module",
        "xpu_available",
        "device_count",
        "ipex_version",
    ):
        assert files[key] == imported[key], key
    assert files["xpu_build"] is None and (files["cuda_build"] is None) == (which == "cpu")


def test_the_doctor_does_not_import_a_torch_without_xpu(local: Target) -> None:
    torch = pytest.importorskip("torch", reason="pip install torch==2.13.0 (the CPU build)")
    result = probe_torch(ProbeContext(local))
    assert result.data["imported"] is False and result.data["version"] == torch.__version__
    assert "not imported: the files say it has no XPU support" in result.evidence[1]


def fake_xpu_torch(root: Path, marker: Path) -> Path:
    """A torch package laid out as an XPU build's (version.py as the real builds generate it, a
    torch/xpu package) whose import writes ``marker``: no XPU build of torch can be installed here."""
    pkg = root / "torch"
    (pkg / "xpu").mkdir(parents=True)
    (pkg / "__init__.py").write_text(
        f"open({str(marker)!r}, 'w').close()\n__version__ = '2.9.1+xpu'\nfrom . import version, xpu\n"
    )
    (pkg / "xpu" / "__init__.py").write_text(
        "def is_available():\n    return False\n\ndef device_count():\n    return 0\n"
    )
    (pkg / "version.py").write_text(
        "from typing import Optional\n\n__all__ = ['__version__', 'xpu']\n"
        "__version__ = '2.9.1+xpu'\ndebug = False\ncuda: Optional[str] = None\n"
        "xpu: Optional[str] = '20250101'\n"
    )
    return root


def test_an_xpu_build_is_imported_only_with_an_intel_gpu_on_pci(
    tmp_path: Path, this_machines_intel_gpus: tuple[PciGpu, ...]
) -> None:
    gpu = bool(this_machines_intel_gpus)
    marker = tmp_path / "imported"
    site = fake_xpu_torch(tmp_path / "site", marker)
    data = collect_with(sys.executable, PYTHONPATH=str(site))
    assert (data["version"], data["xpu_build"], data["imported"]) == ("2.9.1+xpu", "20250101", gpu)
    assert marker.exists() is gpu
    if not gpu:
        result = judge_torch(ScriptRun("torch", data, "python3"))
        assert result.status is Status.FAIL and result.summary == "torch has XPU support but sees no Intel GPU"
        assert result.cause == "no Intel GPU on the PCI bus for torch.xpu to see"
    marker.unlink(missing_ok=True)
    asked = collect_with(sys.executable, PYTHONPATH=str(site), XPU_TORCH_IMPORT="1")
    assert asked["imported"] is True and marker.exists()


@pytest.mark.parametrize(
    "name, present",
    [("arc-a770-i915", True), ("lunar-lake-xe", True), ("arc-a770-vfio", True), ("no-intel-gpu", False)],
)
def test_the_collector_counts_intel_gpus_as_the_scan_does(
    name: str, present: bool, machine: Callable[[str], Path]
) -> None:
    from xpu_tool.collectors.torch_probe import intel_gpu_on_pci

    assert intel_gpu_on_pci(str(machine(name) / "sys")) is present
