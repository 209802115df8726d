"""Fixtures for xpu-testkit's own tests."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from xpu_testkit.process import free_port
from xpu_tool.probes.context import ProbeContext
from xpu_tool.probes.pci import PciGpu, scan_system
from xpu_tool.target import Target, open_target

from . import machines

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def local() -> Target:
    return open_target("local://")


NO_GPU_PATH = (
    "shows how a real runtime behaves without an Intel GPU: only a machine without one can "
    "(the hardware runner covers the GPU path with --hardware)"
)


THIS_MACHINE = "this_machine"
MACHINE_FIXTURES = ("no_intel_gpu_here", "this_machines_intel_gpus")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{THIS_MACHINE}: the verdict depends on this machine's GPUs (its /sys, "
        "/dev/dri): tests/recorded_view.py also runs it as a recorded Arc machine",
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that need a machine without an Intel GPU may skip under --xpu-strict-skips: on the hardware
    runner they cannot run, and the GPU path is what its --hardware tests are for. Tests that look
    at this machine's GPUs through the fixtures below are marked ``this_machine``."""
    for item in items:
        fixtures = getattr(item, "fixturenames", ())
        if "no_intel_gpu_here" in fixtures:
            item.add_marker(pytest.mark.xpu_allowed_skip(NO_GPU_PATH))
        if any(name in fixtures for name in MACHINE_FIXTURES):
            item.add_marker(THIS_MACHINE)


@pytest.fixture(scope="session")
def this_machines_intel_gpus(local: Target) -> tuple[PciGpu, ...]:
    """The Intel GPUs on this machine's PCI bus, as the doctor's scan sees them."""
    return scan_system(ProbeContext(local)).gpus


@pytest.fixture(scope="session")
def no_intel_gpu_here(this_machines_intel_gpus: tuple[PciGpu, ...]) -> None:
    """For a test of a real runtime's no-GPU behaviour (the loader without a driver, the IPEX-LLM
    runner aborting): skips, with the reason, on a machine that has an Intel GPU."""
    if this_machines_intel_gpus:
        names = ", ".join(g.label() for g in this_machines_intel_gpus)
        pytest.skip(f"this machine has an Intel GPU ({names}): the test {NO_GPU_PATH}")


@pytest.fixture
def machine(tmp_path: Path) -> Callable[[str], Path]:
    """machine(name) -> sysroot Path with that recorded layout."""

    made: dict[str, Path] = {}

    def make(name: str) -> Path:
        if name not in made:
            made[name] = machines.materialize(name, tmp_path / name)
        return made[name]

    return make


@pytest.fixture
def ctx_for(local: Target, machine: Callable[[str], Path]) -> Callable[..., ProbeContext]:
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


@contextlib.contextmanager
def running_sshd(workdir: Path) -> Iterator[str]:
    """sshd on 127.0.0.1:<free port> with throwaway keys in ``workdir``; yields the ssh:// target URL.
    Skips where openssh is not installed or the tests do not run as root."""
    sshd_bin, keygen = shutil.which("sshd") or "/usr/sbin/sshd", shutil.which("ssh-keygen")
    if not os.path.exists(sshd_bin) or keygen is None or shutil.which("ssh") is None:
        pytest.skip("openssh-server and openssh-client are not installed")
    if os.geteuid() != 0:
        pytest.skip("sshd needs root to switch to the logged-in user")
    for name in ("host_key", "client_key"):
        subprocess.run([keygen, "-q", "-t", "ed25519", "-N", "", "-f", str(workdir / name)], check=True)
    (workdir / "authorized_keys").write_text((workdir / "client_key.pub").read_text())
    port = free_port()
    config = workdir / "sshd_config"
    config.write_text(f"""Port {port}
ListenAddress 127.0.0.1
HostKey {workdir}/host_key
PidFile {workdir}/sshd.pid
AuthorizedKeysFile {workdir}/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
""")
    client_config = workdir / "ssh_config"
    client_config.write_text("Host *\n  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n  LogLevel ERROR\n")
    Path("/run/sshd").mkdir(exist_ok=True)  # Debian's sshd wants its privilege separation directory
    log = workdir / "sshd.log"
    with open(log, "wb") as stderr:
        proc = subprocess.Popen([sshd_bin, "-D", "-e", "-f", str(config)], stderr=stderr)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and "Server listening" not in log.read_text():
            assert proc.poll() is None, log.read_text()
            time.sleep(0.05)
        yield f"ssh://root@127.0.0.1:{port}?ssh_identity_file={workdir}/client_key&ssh_config={client_config}"
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture
def sshd(tmp_path: Path) -> Iterator[str]:
    """A real sshd for one test; its ssh:// URL."""
    with running_sshd(tmp_path) as url:
        yield url
