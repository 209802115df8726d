"""The system suite. The xpu-testkit pytest plugin (installed with the package) provides the
options (--hardware, --xpu-target, --xpu-inventory, --xpu-strict-skips), the markers and the fixtures
(xpu_host, xpu_target_spec, xpu_report, xpu_comfyui_server, xpu_ipex_ollama, xpu_llama_server).

Service tests run against the services.ollama / services.comfyui / services.llama_cpp URLs of the
inventory's targets. Where no target names one, the suite starts the service here (the real
ComfyUI of XPU_COMFYUI_SRC/XPU_COMFYUI_VENV on the CPU, Intel's IPEX-LLM Ollama, llama.cpp's
llama-server of XPU_LLAMA_SERVER_CPU on the tiny model), writes an inventory naming it and tests
through that, so the same tests run in CI without an Intel GPU; only the tests
marked ``hardware`` need one.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from xpu_testkit.pytest_session import XPU_SESSION
from xpu_testkit.services.comfyui_server import ComfyServer
from xpu_testkit.services.ipex_ollama import IpexOllamaServer
from xpu_testkit.services.llama_server import LlamaServer
from xpu_tool.inventory import InventoryTarget, load_inventory
from xpu_tool.probes import registry
from xpu_tool.services.journal import journal_reader
from xpu_tool.target import open_target

STARTED_HERE = "started-here"  # the id of a service target the suite started itself
LLAMA_CPP_UNIT = "llama-cpp.service"  # nixpkgs' services.llama-cpp


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--bench-out", default="bench-results", help="where test_benchmarks.py writes its reports")


@pytest.fixture
def bench_out(request: pytest.FixtureRequest) -> Path:
    return Path(request.config.getoption("--bench-out"))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "runtime" in metafunc.fixturenames:
        metafunc.parametrize("runtime", registry.runtimes())
    if "passthrough_target" in metafunc.fixturenames:
        specs = [s for s in metafunc.config.stash[XPU_SESSION].specs if s.passthrough]
        none = pytest.mark.skip(reason="no inventory target has a passthrough section")
        params = [pytest.param(s, id=s.name) for s in specs] or [pytest.param(None, id="none", marks=none)]
        metafunc.parametrize("passthrough_target", params)
    for service in ("ollama", "comfyui", "llama_cpp"):
        if f"{service}_target" in metafunc.fixturenames:
            specs = [s for s in metafunc.config.stash[XPU_SESSION].specs if service in s.services]
            params = [pytest.param(s, id=s.name) for s in specs] or [pytest.param(None, id=STARTED_HERE)]
            metafunc.parametrize(f"{service}_target", params, indirect=True)


def _written_inventory(path: Path, services: dict[str, str]) -> InventoryTarget:
    """Write an inventory with one local target offering ``services``, and read it back."""
    lines = ["targets:", f"  {STARTED_HERE}:", "    url: local://", "    services:"]
    lines += [f"      {name}: {url}" for name, url in services.items()]
    path.write_text("\n".join(lines) + "\n")
    [target] = load_inventory(path).targets
    return target


@pytest.fixture(scope="session")
def comfyui_started_here(xpu_comfyui_server: ComfyServer, tmp_path_factory: pytest.TempPathFactory) -> InventoryTarget:
    """The real ComfyUI as both services.comfyui and services.comfyui_cpu (a harness pair)."""
    return _written_inventory(
        tmp_path_factory.mktemp("inventory") / "comfyui.yaml",
        {"comfyui": xpu_comfyui_server.url, "comfyui_cpu": xpu_comfyui_server.url},
    )


@pytest.fixture(scope="session")
def ollama_started_here(xpu_ipex_ollama: IpexOllamaServer, tmp_path_factory: pytest.TempPathFactory) -> InventoryTarget:
    return _written_inventory(tmp_path_factory.mktemp("inventory") / "ollama.yaml", {"ollama": xpu_ipex_ollama.url})


@pytest.fixture(scope="session")
def llama_cpp_started_here(xpu_llama_server: LlamaServer, tmp_path_factory: pytest.TempPathFactory) -> InventoryTarget:
    return _written_inventory(
        tmp_path_factory.mktemp("inventory") / "llama-cpp.yaml", {"llama_cpp": xpu_llama_server.url}
    )


@pytest.fixture
def comfyui_target(request: pytest.FixtureRequest) -> InventoryTarget:
    target: InventoryTarget = request.param or request.getfixturevalue("comfyui_started_here")
    return target


@pytest.fixture
def ollama_target(request: pytest.FixtureRequest) -> InventoryTarget:
    target: InventoryTarget = request.param or request.getfixturevalue("ollama_started_here")
    return target


@pytest.fixture
def ollama_log(request: pytest.FixtureRequest, ollama_target: InventoryTarget) -> Callable[[], str]:
    """The Ollama server's log: its serve.log where the suite started it, else the unit's journal
    on the target (read through the target)."""
    if request.node.callspec.params.get("ollama_target") is None:  # started here
        server: IpexOllamaServer = request.getfixturevalue("xpu_ipex_ollama")
        return server.log_text
    return journal_reader(open_target(ollama_target.url))


@pytest.fixture
def llama_cpp_target(request: pytest.FixtureRequest) -> InventoryTarget:
    target: InventoryTarget = request.param or request.getfixturevalue("llama_cpp_started_here")
    return target


@pytest.fixture
def llama_cpp_log(request: pytest.FixtureRequest, llama_cpp_target: InventoryTarget) -> Callable[[], str]:
    """llama-server's log: its llama-server.log where the suite started it, else the journal of
    llama-cpp.service on the target (read through the target: over SSH for a remote one)."""
    if request.node.callspec.params.get("llama_cpp_target") is None:  # started here
        llama_server: LlamaServer = request.getfixturevalue("xpu_llama_server")
        return llama_server.log_text
    return journal_reader(open_target(llama_cpp_target.url), LLAMA_CPP_UNIT)
