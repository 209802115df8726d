"""The doctor when the target cannot run commands (exit 127: no sshpass for a password URL, no
`timeout` on PATH), and credentials in target URLs: run as a user runs it (`xpu` in a subprocess).
A target that answers 127 to everything is its own finding, never "No Intel GPU"; a password is
never printed (doctor header, JSON target, errors)."""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from xpu_testkit.process import free_port
from xpu_tool.cli.exit_codes import Exit
from xpu_tool.target import Target, open_target
from xpu_tool.urls import redact

from .xpu_command import run_xpu

SECRET = "s3cret-Pw"


def test_an_empty_path_on_a_recorded_arc_machine_is_not_no_intel_gpu(machine: Callable[[str], Path]) -> None:
    run = run_xpu("doctor", "--json", "--sysroot", str(machine("arc-a770-i915")), env={**os.environ, "PATH": ""})
    assert run.returncode == 1 and "Traceback" not in run.stderr, run.stderr
    [report] = json.loads(run.stdout)["reports"]
    assert [f["id"] for f in report["findings"]] == ["target-command-not-found"]
    assert "timeout: not found" in report["findings"][0]["evidence"][0]
    assert "No Intel GPU" not in run.stdout


def test_the_same_machine_with_its_path_is_diagnosed(machine: Callable[[str], Path]) -> None:
    """The control: the recorded Arc machine is seen as one when commands can run."""
    run = run_xpu("doctor", "--json", "--sysroot", str(machine("arc-a770-i915")))
    [report] = json.loads(run.stdout)["reports"]
    assert "target-command-not-found" not in {f["id"] for f in report["findings"]}
    assert report["probes"][0]["probe"] == "pci" and report["probes"][0]["data"]["gpus"]


@pytest.fixture
def path_without_sshpass(tmp_path: Path) -> dict[str, str]:
    """An environment whose PATH has ssh but no sshpass (whether or not this machine has one)."""
    ssh = shutil.which("ssh")
    if ssh is None:
        pytest.skip("no ssh client (apt-get install openssh-client)")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "ssh").symlink_to(ssh)
    return {**os.environ, "PATH": str(bin_dir)}


@pytest.mark.parametrize("json_out", [False, True], ids=["text", "json"])
def test_a_password_url_without_sshpass_is_named_and_the_password_never_shown(
    json_out: bool, path_without_sshpass: dict[str, str]
) -> None:
    url = f"ssh://root:{SECRET}@127.0.0.1:{free_port()}"
    run = run_xpu("doctor", "--target", url, *(["--json"] if json_out else []), env=path_without_sshpass)
    assert run.returncode == 1 and "Traceback" not in run.stderr, run.stderr
    assert SECRET not in run.stdout + run.stderr
    shown = "ssh://root:***@127.0.0.1:"
    if json_out:
        [report] = json.loads(run.stdout)["reports"]
        assert report["target"].startswith(shown)
        [finding] = report["findings"]
        assert finding["id"] == "target-command-not-found" and "sshpass" in finding["fix"]
    else:
        assert run.stdout.startswith(f"xpu doctor: {shown}")
        assert "sshpass: not found" in run.stdout and "No Intel GPU" not in run.stdout


@pytest.mark.parametrize(
    "url", [f"ssh://root:{SECRET}@[::1", f"ssh://root:{SECRET}@host:99999", f"ftp://root:{SECRET}@host/"]
)
def test_a_bad_url_with_a_password_is_one_line_without_it(url: str) -> None:
    run = run_xpu("doctor", "--target", url)
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert SECRET not in run.stderr and len(run.stderr.strip().splitlines()) == 1, run.stderr


@pytest.mark.parametrize(
    "url, shown",
    [
        ("ssh://root:pw@box:22", "ssh://root:***@box:22"),
        ("ssh://root@box", "ssh://root@box"),
        ("ssh://a:b:c@box/x?y=1", "ssh://a:***@box/x?y=1"),
        (
            "serial:///run/s.sock?user=root&password=pw&timeout=3",
            "serial:///run/s.sock?user=root&password=***&timeout=3",
        ),
        ("local://", "local://"),
    ],
)
def test_redact(url: str, shown: str) -> None:
    assert redact(url) == shown


def test_a_target_url_keeps_no_password_where_it_can_be_printed() -> None:
    target = open_target(f"ssh://root:{SECRET}@box.invalid:2222")
    assert target.url == "ssh://root:***@box.invalid:2222" and SECRET not in repr(target)
    assert target.scrub(f"sshpass -p {SECRET} ssh box") == "sshpass -p *** ssh box"


@pytest.mark.parametrize("concurrent", [True, False])
def test_a_console_like_target_runs_one_command_at_a_time(local: Target, concurrent: bool) -> None:
    """Probes run in threads; a target marked non-concurrent (a console: one shell, one socket)
    serializes them, the others let them overlap."""
    target = Target("local://", local.host, local=True, concurrent=concurrent)
    started = time.monotonic()
    threads = [threading.Thread(target=target.run, args=("sleep 0.4",)) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    elapsed = time.monotonic() - started
    assert (elapsed >= 1.2) if not concurrent else (elapsed < 1.0), f"{elapsed:.2f} s"


def test_a_silent_ssh_peer_is_bounded_by_the_timeout() -> None:
    """An ssh:// target that accepts and says nothing: ssh's ConnectTimeout follows --timeout (it
    was testinfra's 10 s whatever --timeout said); one line, exit 4 (unreachable)."""
    from .misbehaving import MisbehavingServer, silent

    with MisbehavingServer(silent) as peer:
        started = time.monotonic()
        run = run_xpu("doctor", "--target", f"ssh://root@127.0.0.1:{peer.port}", "--timeout", "2")
        elapsed = time.monotonic() - started
    assert elapsed < 2 + 2.5, f"{elapsed:.1f} s"  # + starting Python and ssh
    assert run.returncode == Exit.UNREACHABLE and len(run.stderr.strip().splitlines()) == 1, run.stderr
    assert "timed out" in run.stderr
