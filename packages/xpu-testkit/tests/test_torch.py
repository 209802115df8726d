"""The PyTorch probe against a real torch: the CPU build from PyPI (2.13.0+cpu), which has no XPU."""

from __future__ import annotations

import pytest

from xpu_testkit.model import Status
from xpu_testkit.probes.context import ProbeContext
from xpu_testkit.probes.torch_xpu import probe_torch
from xpu_testkit.target import Target


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
