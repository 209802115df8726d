"""Fixtures of the xpu-testkit pytest plugin (registered by pytest_plugin in pytest_configure), every
one named xpu_* so that none replaces a fixture of another plugin or of the suite."""

from __future__ import annotations

import secrets
import shutil
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from xpu_tool.inventory import InventoryTarget
from xpu_tool.model import Report
from xpu_tool.services.tiny_gguf import write_tiny_llama
from xpu_tool.target import Target

from .pytest_session import XPU_SESSION, XPU_VMS, XpuSession
from .services.comfyui_server import ComfyServer, install_from_environment
from .services.ipex_ollama import IpexOllamaServer, default_venv, find_binary
from .services.llama_server import BUILDS, LlamaServer, binary_for
from .services.sd15_checkpoint import NAME as CHECKPOINT_NAME
from .services.sd15_checkpoint import write_checkpoint
from .vm.guest import GuestBuildError, GuestImage, build_guest, default_cache_dir
from .vm.qemu import QemuVM, VmError, VmSpec, detect_accel, qemu_binary


@pytest.fixture(scope="session")
def xpu_session(request: pytest.FixtureRequest) -> XpuSession:
    return request.config.stash[XPU_SESSION]


@pytest.fixture(scope="session")
def xpu_target_spec(request: pytest.FixtureRequest) -> InventoryTarget:
    """The target under test (parametrized over --xpu-target / the inventory)."""
    spec: InventoryTarget = request.param
    return spec


@pytest.fixture(scope="session")
def xpu_host(xpu_session: XpuSession, xpu_target_spec: InventoryTarget) -> Target:
    """The target as a Target: run/read_text/which/environment plus testinfra's modules."""
    return xpu_session.target(xpu_target_spec)


@pytest.fixture(scope="session")
def xpu_report(xpu_session: XpuSession, xpu_target_spec: InventoryTarget) -> Report:
    """The doctor's report on the target, computed once per session."""
    return xpu_session.report(xpu_target_spec)


@pytest.fixture(scope="session")
def xpu_guest() -> GuestImage:
    """The busybox test guest built from Debian's packages (cached in ~/.cache/xpu-testkit)."""
    try:
        qemu_binary()
        return build_guest(default_cache_dir())
    except (GuestBuildError, VmError) as exc:
        pytest.skip(f"cannot build the test guest: {exc}")


@pytest.fixture(scope="session")
def xpu_accel(xpu_guest: GuestImage) -> str:
    """'kvm' where a KVM guest really starts, else 'tcg' (decided once per session by trying)."""
    return detect_accel(xpu_guest.kernel)


@pytest.fixture
def xpu_vm(request: pytest.FixtureRequest, xpu_guest: GuestImage, xpu_accel: str) -> Iterator[Callable[..., QemuVM]]:
    """start(**VmSpec fields) -> a booted QemuVM of the test guest; every VM is stopped afterwards
    and its console log is attached to the report if the test fails."""
    vms: list[QemuVM] = []
    request.node.stash[XPU_VMS] = vms

    def start(**overrides: object) -> QemuVM:
        append = f"{xpu_guest.append} {overrides.pop('extra_append', '')}".strip()
        fields: dict[str, Any] = {  # VmSpec's fields, any of them the test's to override
            "name": f"xpu-test-{secrets.token_hex(4)}",
            "kernel": xpu_guest.kernel,
            "initrd": xpu_guest.initrd,
            "append": append,
            "accel": xpu_accel,
        }
        fields.update(overrides)
        vm = QemuVM(VmSpec(**fields))
        vms.append(vm)
        return vm.start()

    yield start
    for vm in vms:
        vm.stop()
        shutil.rmtree(vm.workdir, ignore_errors=True)  # failing tests already got the console log


@pytest.fixture(scope="session")
def xpu_comfyui_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ComfyServer]:
    """The real ComfyUI (XPU_COMFYUI_SRC run by XPU_COMFYUI_VENV's Python) on the CPU, on a free
    loopback port, with the one-step-sd15 checkpoint (random weights, seed 0) written into its
    models while it starts. Stopped after the session; if a test failed, its log is kept as
    comfyui.log in pytest's base temporary directory (the failing tests' reports show its tail).
    Its home (with the ~465 MB checkpoint) is in that directory too, so pytest's rotation of old
    base directories removes what a killed session could not."""
    install = install_from_environment()
    if isinstance(install, str):
        pytest.skip(install)
    server = ComfyServer(install, home=tmp_path_factory.mktemp("comfyui-home"))
    server.checkpoints.mkdir(parents=True)
    writer = threading.Thread(target=write_checkpoint, args=(server.checkpoints / CHECKPOINT_NAME, 0))
    failed_before = request.session.testsfailed
    ok = False
    try:
        writer.start()
        server.start()
        writer.join()
        if not (server.checkpoints / CHECKPOINT_NAME).exists():
            pytest.fail(f"the test checkpoint was not written to {server.checkpoints}")
        ok = True
        yield server
    finally:
        writer.join()
        server.stop()
        if (not ok or request.session.testsfailed > failed_before) and server.log.exists():
            kept = tmp_path_factory.getbasetemp() / "comfyui.log"
            shutil.copyfile(server.log, kept)
        server.remove()


@pytest.fixture(scope="session")
def xpu_ipex_ollama() -> Iterator[IpexOllamaServer]:
    """Intel's real IPEX-LLM Ollama (XPU_IPEX_OLLAMA_VENV, default .venv-ipex-ollama) on a free
    loopback port for the session; its home (serve.log) stays if the session ends with an error."""
    venv = default_venv()
    if find_binary(venv) is None:
        pytest.skip(f"IPEX-LLM Ollama is not installed in {venv} (./bootstrap.sh test installs it)")
    with IpexOllamaServer(venv) as server:
        yield server


@pytest.fixture(scope="session")
def xpu_llama_server(xpu_session: XpuSession, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    """The real llama.cpp llama-server on the tiny model (``write_tiny_llama``, no download) on a free
    loopback port for the session, at ``-ngl 99 -lv 4`` (its log names the device it used): the CPU
    build (XPU_LLAMA_SERVER_CPU), or with --hardware the Vulkan build (XPU_LLAMA_SERVER_VULKAN), which
    finds an Intel GPU through Mesa's ANV. Its home (llama-server.log) stays if the session ends with
    an error."""
    build = "vulkan" if xpu_session.hardware and binary_for("vulkan") is not None else "cpu"
    binary = binary_for(build)
    if binary is None:
        pytest.skip(f"{BUILDS[build]} is unset: no llama-server to run (./bootstrap.sh test builds it)")
    model = write_tiny_llama(tmp_path_factory.mktemp("llama-model") / "xpu-tiny.gguf").path
    with LlamaServer(binary, model) as server:
        yield server
