"""An SSH target against a real sshd (Debian's openssh-server) on a free loopback port."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from xpu_testkit.doctor import run_doctor
from xpu_testkit.model import Status
from xpu_testkit.probes.context import ProbeContext
from xpu_testkit.target import TargetError, open_target
from xpu_testkit.process import free_port


@pytest.fixture
def sshd(tmp_path: Path) -> Iterator[str]:
    """Start sshd on 127.0.0.1:<free port> with throwaway keys; yield the ssh:// target URL."""
    sshd_bin, keygen = shutil.which("sshd") or "/usr/sbin/sshd", shutil.which("ssh-keygen")
    if not os.path.exists(sshd_bin) or keygen is None or shutil.which("ssh") is None:
        pytest.skip("openssh-server and openssh-client are not installed")
    if os.geteuid() != 0:
        pytest.skip("sshd needs root to switch to the logged-in user")
    for name in ("host_key", "client_key"):
        subprocess.run([keygen, "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / name)], check=True)
    (tmp_path / "authorized_keys").write_text((tmp_path / "client_key.pub").read_text())
    port = free_port()
    config = tmp_path / "sshd_config"
    config.write_text(f"""Port {port}
ListenAddress 127.0.0.1
HostKey {tmp_path}/host_key
PidFile {tmp_path}/sshd.pid
AuthorizedKeysFile {tmp_path}/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
""")
    client_config = tmp_path / "ssh_config"
    client_config.write_text("Host *\n  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n  LogLevel ERROR\n")
    Path("/run/sshd").mkdir(exist_ok=True)  # Debian's sshd wants its privilege separation directory
    proc = subprocess.Popen([sshd_bin, "-D", "-e", "-f", str(config)], stderr=open(tmp_path / "sshd.log", "wb"))
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and "Server listening" not in (tmp_path / "sshd.log").read_text():
            assert proc.poll() is None, (tmp_path / "sshd.log").read_text()
            time.sleep(0.05)
        yield f"ssh://root@127.0.0.1:{port}?ssh_identity_file={tmp_path}/client_key&ssh_config={client_config}"
    finally:
        proc.terminate()
        proc.wait(10)


def test_commands_over_ssh(sshd: str) -> None:
    target = open_target(sshd)
    assert target.run("echo $SSH_CONNECTION").stdout.startswith("127.0.0.1 ")
    out = target.run("echo out; echo err >&2; exit 3")
    assert (out.rc, out.stdout, out.stderr) == (3, "out\n", "err\n")
    assert target.run("sleep 30", timeout=2).timed_out


def test_probes_over_ssh(sshd: str) -> None:
    """The same probes, run through sshd: the Level Zero collector goes to the target's python3."""
    report = run_doctor(ProbeContext(open_target(sshd), timeout=60))
    assert report.probe("pci").status is Status.ABSENT
    ze = report.probe("level-zero")
    assert ze.data["ran"] is True and ze.data["via"] in ("python3", "xpu")
    if ze.status is not Status.ABSENT:  # Debian's libze1 on the target
        assert ze.data["init_result_name"] == "ZE_RESULT_ERROR_UNINITIALIZED"
    assert report.finding("no-intel-gpu") is not None


def test_unreachable_ssh_target_is_a_clear_error() -> None:
    target = open_target(f"ssh://root@127.0.0.1:{free_port()}?ssh_config=/dev/null")
    with pytest.raises(TargetError, match="cannot reach ssh://.*Connection refused"):
        target.run("true", timeout=10)
