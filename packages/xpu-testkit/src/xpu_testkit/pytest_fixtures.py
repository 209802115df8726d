"""Fixtures of the xpu-testkit pytest plugin (registered by pytest_plugin in pytest_configure)."""

from __future__ import annotations

import pytest

from .inventory import InventoryTarget
from .model import Report
from .pytest_plugin import XPU_SESSION, XpuSession
from .target import Target


@pytest.fixture(scope="session")
def xpu_session(request: pytest.FixtureRequest) -> XpuSession:
    return request.config.stash[XPU_SESSION]


@pytest.fixture(scope="session")
def xpu_target_spec(request: pytest.FixtureRequest) -> InventoryTarget:
    """The target under test (parametrized over --target / the inventory)."""
    return request.param


@pytest.fixture(scope="session")
def host(xpu_session: XpuSession, xpu_target_spec: InventoryTarget) -> Target:
    """The target as a Target: run/read_text/which/environment plus testinfra's modules."""
    return xpu_session.target(xpu_target_spec)


@pytest.fixture(scope="session")
def xpu_report(xpu_session: XpuSession, xpu_target_spec: InventoryTarget) -> Report:
    """The doctor's report on the target, computed once per session."""
    return xpu_session.report(xpu_target_spec)
