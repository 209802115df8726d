"""The service registry is the one list of services: each service package registers its check, and
`xpu check`, `xpu export` and the inventory read it."""

from __future__ import annotations

from pathlib import Path

import pytest

from xpu_tool.errors import ConfigError
from xpu_tool.inventory import parse_inventory, service_keys
from xpu_tool.probes.units import INTEL_SERVICES
from xpu_tool.services import registry

from .xpu_command import run_xpu

SERVICES_DIR = Path(registry.__file__).parent


def test_every_service_package_registers_one_service() -> None:
    packages = {p.name for p in SERVICES_DIR.iterdir() if (p / "__init__.py").is_file()}
    found = registry.services()
    assert {s.check.__module__.split(".")[2] for s in found} == packages
    assert [s.name for s in found] == sorted(s.name for s in found)  # listed by name
    assert {s.name for s in found} == set(INTEL_SERVICES), (
        "a service's systemd unit is what the doctor's services probe reads: "
        "name it in xpu_tool.probes.units.INTEL_SERVICES"
    )
    for s in found:
        assert s.example_url.startswith("http://127.0.0.1:") and s.summary and s.title
        assert all(o.flag.startswith("--") and o.help for o in s.options)


def test_a_second_service_of_the_same_name_is_refused() -> None:
    def quick(url: str, timeout: float) -> registry.ServiceState:
        raise AssertionError("never called: the registration is refused")

    def check(url: str) -> registry.CheckResult:
        raise AssertionError("never called: the registration is refused")

    with pytest.raises(ValueError, match="two services are named 'ollama'"):
        registry.service("ollama", title="x", example_url="http://x", quick=quick)(check)
    assert registry.by_name("ollama").title == "Ollama"


def test_xpu_check_has_one_subcommand_per_service_with_its_own_options() -> None:
    run = run_xpu("check", "--help")
    assert run.returncode == 0
    for s in registry.services():
        assert s.name in run.stdout
        own = run_xpu("check", s.name, "--help")
        assert own.returncode == 0 and s.example_url in own.stdout and "exit codes:" in own.stdout
        for option in s.options:
            assert option.flag in own.stdout
        others = {o.flag for t in registry.services() if t is not s for o in t.options} - {o.flag for o in s.options}
        for flag in others:
            assert flag not in own.stdout


def test_xpu_export_takes_every_service() -> None:
    run = run_xpu("export", "--help")
    assert run.returncode == 0
    for s in registry.services():
        assert f"--{s.name} URL" in run.stdout


def test_the_inventory_takes_every_service_and_the_cpu_sides() -> None:
    assert set(service_keys()) == {s.dest for s in registry.services()} | {"comfyui_cpu"}
    text = "targets:\n  box:\n    url: local://\n    services:\n" + "".join(
        f"      {key}: http://127.0.0.1:{8000 + i}\n" for i, key in enumerate(service_keys())
    )
    [target] = parse_inventory(text, "lab.yaml").targets
    assert set(target.services) == set(service_keys())
    with pytest.raises(ConfigError, match="redis"):
        parse_inventory("targets:\n  box:\n    url: local://\n    services:\n      redis: http://x\n", "lab.yaml")
