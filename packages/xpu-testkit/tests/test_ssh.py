"""An SSH target against a real sshd (Debian's openssh-server, the ``sshd`` fixture in conftest.py)."""

from __future__ import annotations

import pytest

from xpu_testkit.process import free_port
from xpu_tool.doctor import run_doctor
from xpu_tool.model import Status
from xpu_tool.probes.context import ProbeContext
from xpu_tool.probes.pci import PciGpu
from xpu_tool.target import TargetError, open_target


def test_commands_run_through_sshd(sshd: str) -> None:
    """The verbs themselves are test_target_contract.py's; here: the commands really went through sshd."""
    assert open_target(sshd).run("echo $SSH_CONNECTION").stdout.startswith("127.0.0.1 ")


def test_probes_over_ssh(sshd: str, this_machines_intel_gpus: tuple[PciGpu, ...]) -> None:
    """The same probes, run through sshd: the Level Zero collector goes to the target's python3, and
    the scan sees through ssh the GPUs it sees here."""
    report = run_doctor(ProbeContext(open_target(sshd), timeout=60))
    seen = [g["address"] for g in report.probe("pci").data["gpus"]]
    assert seen == [g.address for g in this_machines_intel_gpus]
    ze = report.probe("level-zero")
    assert ze.data["ran"] is True and ze.data["via"] in ("python3", "xpu")
    assert (report.finding("no-intel-gpu") is None) is bool(this_machines_intel_gpus)
    if this_machines_intel_gpus:
        return
    assert report.probe("pci").status is Status.ABSENT
    if ze.status is not Status.ABSENT:  # Debian's libze1 on the target
        assert ze.data["init_result_name"] == "ZE_RESULT_ERROR_UNINITIALIZED"


def test_unreachable_ssh_target_is_a_clear_error() -> None:
    target = open_target(f"ssh://root@127.0.0.1:{free_port()}?ssh_config=/dev/null")
    with pytest.raises(TargetError, match=r"cannot reach ssh://.*Connection refused"):
        target.run("true", timeout=10)
