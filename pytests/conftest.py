"""The system suite. The xpu-testkit pytest plugin (installed with the package) provides the
options (--hardware, --target, --inventory, --strict-skips), the markers and the fixtures
(host, xpu_target_spec, xpu_report)."""

from __future__ import annotations

from pathlib import Path

import pytest

from xpu_testkit.inventory import RUNTIMES
from xpu_testkit.pytest_plugin import XPU_SESSION


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--bench-out", default="bench-results", help="where test_benchmarks.py writes its reports")


@pytest.fixture
def bench_out(request: pytest.FixtureRequest) -> Path:
    return Path(request.config.getoption("--bench-out"))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "runtime" in metafunc.fixturenames:
        metafunc.parametrize("runtime", RUNTIMES)
    if "passthrough_target" in metafunc.fixturenames:
        specs = [s for s in metafunc.config.stash[XPU_SESSION].specs if s.passthrough]
        params = [pytest.param(s, id=s.name) for s in specs] or [
            pytest.param(None, id="none", marks=pytest.mark.skip(reason="no inventory target has a passthrough section"))]
        metafunc.parametrize("passthrough_target", params)
    for service in ("ollama", "comfyui"):
        if f"{service}_target" in metafunc.fixturenames:
            specs = [s for s in metafunc.config.stash[XPU_SESSION].specs if service in s.services]
            params = [pytest.param(s, id=s.name) for s in specs] or [pytest.param(
                None, id="none", marks=pytest.mark.skip(reason=f"no inventory target has services.{service}"))]
            metafunc.parametrize(f"{service}_target", params)
