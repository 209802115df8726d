"""pytest plugin: run the suite against Intel GPU targets.

Options: ``--hardware`` (run tests marked ``xpu_hardware``: they need a real Intel GPU and fail with
the doctor's diagnosis where there is none), ``--xpu-target URL`` (repeatable), ``--xpu-inventory FILE``,
``--xpu-strict-skips`` (CI: a skipped test fails, except hardware tests without --hardware).
Markers, all named ``xpu_*`` so that a suite's own ``hardware`` or ``slow`` means what it did:
``xpu_hardware``, ``xpu_boots_vm``, ``xpu_nix``, ``xpu_slow``, ``xpu_allowed_skip``. Fixtures, all named ``xpu_*``
so that none replaces another plugin's (pytest-testinfra's ``host`` stays testinfra's): ``xpu_host``
(a Target, parametrized over the targets), ``xpu_target_spec`` (its inventory entry), ``xpu_report``
(the doctor's report for it), ``xpu_vm`` (boots the test guest), ``xpu_comfyui_server``,
``xpu_ipex_ollama`` and ``xpu_llama_server`` (the real ComfyUI, IPEX-LLM Ollama and llama.cpp's
llama-server, started for the session). Disable the
plugin with ``-p no:xpu_testkit``.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest
from pluggy import Result

from xpu_tool.doctor import render_text
from xpu_tool.errors import XpuError
from xpu_tool.inventory import Inventory, InventoryTarget, load_inventory
from xpu_tool.target import open_target
from xpu_tool.target_resolution import resolve_targets

from . import pytest_fixtures
from .pytest_session import XPU_SESSION, XPU_VMS, XpuSession

MARKERS = {
    "xpu_hardware": "needs a real Intel GPU on the target; runs only with --hardware",
    "xpu_boots_vm": "boots a virtual machine",
    "xpu_nix": "needs Nix (and nixpkgs) to build something",
    "xpu_slow": "takes more than a few seconds",
}
HARDWARE_SKIP = "needs an Intel GPU: run with --hardware on a machine (or --xpu-target) that has one"
STRICT_SKIP_ALLOWED = "xpu_allowed_skip"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("xpu", "Intel GPU (xpu-testkit)")
    group.addoption("--hardware", action="store_true", help="run tests that need a real Intel GPU")
    group.addoption(
        "--xpu-target",
        action="append",
        default=[],
        dest="xpu_targets",
        metavar="URL|NAME",
        help="target to test: local:// (default), ssh://[user@]host[:port], or an inventory name",
    )
    group.addoption("--xpu-inventory", dest="xpu_inventory", metavar="FILE", help="YAML inventory of targets")
    group.addoption(
        "--xpu-strict-skips",
        action="store_true",
        dest="xpu_strict_skips",
        help="fail skipped tests (for CI, where every component is installed)",
    )


def _specs(config: pytest.Config, inventory: Inventory | None) -> tuple[InventoryTarget, ...]:
    specs = resolve_targets(config.getoption("xpu_targets"), inventory, option="--xpu-target")
    for spec in specs:
        open_target(spec.url)  # reject malformed URLs before any test runs
    return specs


def pytest_configure(config: pytest.Config) -> None:
    for name, text in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {text}")
    config.addinivalue_line("markers", f"{STRICT_SKIP_ALLOWED}(reason): this test may skip under --xpu-strict-skips")
    path = config.getoption("xpu_inventory")
    try:
        inventory = load_inventory(path) if path else None
        specs = _specs(config, inventory)
    except XpuError as exc:  # a bad option or inventory, or a console target that does not answer
        raise pytest.UsageError(str(exc)) from None
    config.stash[XPU_SESSION] = XpuSession(
        hardware=config.getoption("hardware"),
        specs=specs,
        inventory=inventory,
        strict_skips=config.getoption("xpu_strict_skips"),
    )
    # every fixture is named xpu_*: none replaces another plugin's (pytest-testinfra's ``host`` stays its own)
    if not config.pluginmanager.is_registered(pytest_fixtures):
        config.pluginmanager.register(pytest_fixtures, "xpu_tool.fixtures")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "xpu_target_spec" in metafunc.fixturenames:
        specs = metafunc.config.stash[XPU_SESSION].specs
        metafunc.parametrize("xpu_target_spec", specs, ids=[s.name for s in specs], indirect=True, scope="session")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.stash[XPU_SESSION].hardware:
        return
    for item in items:
        if item.get_closest_marker("xpu_hardware"):
            item.add_marker(pytest.mark.skip(reason=HARDWARE_SKIP))


@pytest.hookimpl(hookwrapper=True)  # the old-style wrapper: pytest 8.0 (the floor) has no wrapper=True
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, Result[pytest.TestReport], None]:
    outcome = yield
    report = outcome.get_result()
    session = item.config.stash.get(XPU_SESSION, None)
    if session is None:
        return
    funcargs: dict[str, Any] = getattr(item, "funcargs", {})  # a pytest.Function's; other items have none
    if report.failed and "xpu_report" in funcargs:
        report.sections.append(("xpu doctor", render_text(funcargs["xpu_report"])))
    comfyui = funcargs.get("xpu_comfyui_server")
    if report.failed and comfyui is not None:
        report.sections.append(
            (f"ComfyUI log ({comfyui.log}), last 60 lines", "\n".join(comfyui.log_text().splitlines()[-60:]))
        )
    if report.failed:
        for vm in item.stash.get(XPU_VMS, []):
            report.sections.append((f"console log of VM {vm.spec.name} ({vm.console_log})", vm.console_tail(200)))
    if report.skipped and session.strict_skips and not item.get_closest_marker(STRICT_SKIP_ALLOWED):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        if not (item.get_closest_marker("xpu_hardware") and not session.hardware):
            report.outcome = "failed"
            report.longrepr = f"skipped under --xpu-strict-skips (CI installs every component): {reason}"
