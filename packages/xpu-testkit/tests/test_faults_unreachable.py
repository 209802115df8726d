"""What cannot be reached is exit 4 (cli.exit_codes), what answers wrongly stays a failed check (1):
`xpu check` and `xpu bench` against a closed port and a host that does not resolve, against a
server of our own on loopback that answers HTTP 500, run the way a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from xpu_testkit.process import free_port
from xpu_tool.cli.exit_codes import Exit

from .misbehaving import MisbehavingServer, answer
from .test_cli import assert_one_line_error
from .xpu_command import run_xpu

NO_SUCH_HOST = "http://xpu-no-such-host.invalid:11434"  # .invalid never resolves (RFC 2606)


def closed_port() -> str:
    return f"http://127.0.0.1:{free_port()}"


def _commands(url: str) -> dict[str, list[str]]:
    return {
        "check-ollama": ["check", "ollama", url, "--timeout", "20"],
        "check-comfyui": ["check", "comfyui", url, "--timeout", "20"],
        "bench-ollama": ["bench", "ollama", "--backend", f"a={url}", "--out", "out"],
        "bench-comfyui": ["bench", "comfyui", "--xpu", url, "--cpu", url, "--out", "out"],
    }


@pytest.mark.parametrize("command", sorted(_commands("")))
@pytest.mark.parametrize("where", ["closed-port", "no-such-host"])
def test_a_service_that_cannot_be_reached_is_exit_4_naming_it(command: str, where: str, tmp_path: Path) -> None:
    url = closed_port() if where == "closed-port" else NO_SUCH_HOST
    run = run_xpu(*_commands(url)[command], cwd=tmp_path)
    assert run.returncode == Exit.UNREACHABLE, run.stdout + run.stderr
    [line] = run.stderr.splitlines()
    service = "Ollama" if "ollama" in command else "ComfyUI"
    # worded alike by every command (check adds the fix after " -> "), the address named once
    reason = "Connection refused" if where == "closed-port" else "cannot resolve xpu-no-such-host.invalid: "
    assert line.startswith(f"xpu: error: cannot connect to {service} at {url}: {reason}"), line
    assert "Traceback" not in run.stderr and run.stdout == ""
    assert list(tmp_path.iterdir()) == []  # no --out from a bench that could not start


@pytest.mark.parametrize("service", ["ollama", "comfyui"])
def test_the_json_of_an_unreachable_service_is_printed_and_exit_4(service: str) -> None:
    url = closed_port()
    run = run_xpu("check", service, url, "--json")
    assert run.returncode == Exit.UNREACHABLE and run.stderr == "", run.stderr
    report = json.loads(run.stdout)
    assert [f["id"] for f in report["findings"]] == [f"{service}-unreachable"] and report["ok"] is False


@pytest.mark.parametrize("command", sorted(_commands("")))
def test_a_service_that_answers_wrongly_stays_a_failed_check(command: str, tmp_path: Path) -> None:
    with MisbehavingServer(answer({"error": "broken"}, status=500)) as peer:
        run = run_xpu(*_commands(peer.url)[command], cwd=tmp_path)
    assert run.returncode == Exit.FAILED, run.stdout + run.stderr
    assert "HTTP 500" in run.stdout + run.stderr and "Traceback" not in run.stderr
    assert peer.requests  # it was asked


@pytest.mark.parametrize(
    "args",
    [
        ["check", "ollama", "{url}", "--timeout", "10"],
        ["check", "llama-cpp", "{url}", "--timeout", "10"],
        ["check", "comfyui", "{url}", "--timeout", "10"],
        ["check", "ollama", "{url}", "--json"],
        ["export", "--ollama", "{url}", "--llama-cpp", "{url}", "--comfyui", "{url}", "--timeout", "10"],
    ],
    ids=["check-ollama", "check-llama-cpp", "check-comfyui", "check-ollama-json", "export"],
)
@pytest.mark.parametrize("answering", [False, True], ids=["refused", "http-500"])
def test_a_password_in_a_service_url_is_never_printed(args: list[str], answering: bool) -> None:
    """Messages, findings, JSON and metric labels show the URL as user:***@ (a proxy or a
    reverse proxy with basic auth in front of the service)."""
    with MisbehavingServer(answer({"error": "broken"}, status=500)) as peer:
        where = peer.url if answering else closed_port()
        url = where.replace("://", "://user:s3cret@")
        run = run_xpu(*(a.replace("{url}", url) for a in args))
    out = run.stdout + run.stderr
    assert "s3cret" not in out and "Traceback" not in run.stderr, out
    assert "user:" not in out.replace("user:***@", ""), out  # where the URL is shown, it is redacted


SSH_OPTION_URLS = [
    "ssh://-oProxyCommand=touch%20{marker}@host",
    "ssh://-oProxyCommand=touch {marker}@host",
    "ssh://root@-oProxyCommand=touch%20{marker}",
    "ssh://%2DoProxyCommand=touch%20{marker}@host",
    "paramiko://-oProxyCommand=x@host",
]


@pytest.fixture
def recording_ssh(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """An environment whose first `ssh` and `sshpass` on PATH only record that they were started."""
    import os

    record = tmp_path / "ssh-started"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("ssh", "sshpass"):
        (bin_dir / name).write_text(f'#!/bin/sh\necho "$0 $*" >> {record}\nexit 255\n')
        (bin_dir / name).chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}, record


@pytest.mark.parametrize("url", SSH_OPTION_URLS)
def test_an_ssh_user_or_host_that_starts_with_a_dash_is_bad_usage(
    url: str, tmp_path: Path, recording_ssh: tuple[dict[str, str], Path]
) -> None:
    """ssh would read `-o...` as an option; the URL is refused where it is parsed, before any ssh runs."""
    env, record = recording_ssh
    marker = tmp_path / "injected"
    run = run_xpu("doctor", "--target", url.format(marker=marker), env=env, timeout=60)
    assert_one_line_error(run, "begins with '-'")
    assert not marker.exists() and not record.exists()  # nothing ran: no ssh, no ProxyCommand


def test_the_recording_ssh_records_a_valid_url(tmp_path: Path, recording_ssh: tuple[dict[str, str], Path]) -> None:
    """The control: with a valid URL the same PATH's ssh is started (and fails: exit 4)."""
    env, record = recording_ssh
    run = run_xpu("doctor", "--target", "ssh://root@host", env=env, timeout=60)
    assert run.returncode == Exit.UNREACHABLE and record.exists(), run.stderr
