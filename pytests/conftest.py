"""The system suite. The xpu-testkit pytest plugin (installed with the package) provides the
options (--hardware, --target, --inventory, --strict-skips), the markers and the fixtures
(host, xpu_target_spec, xpu_report)."""

from __future__ import annotations

import pytest

from xpu_testkit.inventory import RUNTIMES


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "runtime" in metafunc.fixturenames:
        metafunc.parametrize("runtime", RUNTIMES)
