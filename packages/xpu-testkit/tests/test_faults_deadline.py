"""Deadlines the user waits for, run the way a user runs `xpu`: the doctor whose probe hangs past
its --timeout (a command on the target that never lets go of its output), and `xpu bench` against
a server of our own on loopback that answers slowly. Each ends by its --timeout plus the margin
README promises (and the interpreter's start), with one named line or report, and the exit code of
cli.exit_codes; nothing hung is waited for at exit."""

from __future__ import annotations

import contextlib
import json
import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from xpu_tool.cli.exit_codes import Exit
from xpu_tool.http import MARGIN

from .faults import fresh_tmpdir
from .misbehaving import Behaviour, MisbehavingServer, answer, routes, silent, trickle
from .xpu_command import timed_run_xpu

TIMEOUT = 2.0
DOCTOR_MARGIN = 1.0  # `xpu doctor --help`: +1 s to unwind
STARTUP = 3.0  # the interpreter's start and imports before the deadline begins, on a busy machine


@pytest.fixture
def hanging_command(tmp_path: Path) -> Iterator[Callable[[str], dict[str, str]]]:
    """hang(NAME): an environment whose NAME on PATH starts a `sleep 60` in a session of its own that
    keeps the command's output open (timeout(1) kills the command, not it: its caller waits for the
    output to close). The sleeps are killed afterwards."""
    bin_dir = tmp_path / "hanging-bin"
    bin_dir.mkdir()
    pids = tmp_path / "hanging-pids"

    def hang(name: str) -> dict[str, str]:
        (bin_dir / name).write_text(f"#!/bin/sh\nsetsid sleep 60 &\necho $! >> {pids}\nwait\n")
        (bin_dir / name).chmod(0o755)
        return {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}

    yield hang
    for pid in pids.read_text().split() if pids.exists() else ():
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pid), signal.SIGKILL)


def test_a_probe_that_hangs_ends_the_doctor_by_its_timeout(hanging_command: Callable[[str], dict[str, str]]) -> None:
    """clinfo never lets go: the doctor reports the opencl probe unfinished, diagnoses the rest, exits 1."""
    env = hanging_command("clinfo")
    run, elapsed = timed_run_xpu("doctor", "--json", "--timeout", str(TIMEOUT), env=env)
    assert elapsed < TIMEOUT + DOCTOR_MARGIN + STARTUP, f"{elapsed:.1f} s"
    assert run.returncode == Exit.FAILED and run.stderr == "", run.stderr
    [report] = json.loads(run.stdout)["reports"]
    probes = {p["probe"]: p for p in report["probes"]}
    assert (
        probes["opencl"]["status"] == "warn" and probes["opencl"]["summary"] == f"did not finish within {TIMEOUT:g} s"
    )
    assert probes["pci"]["status"] != "warn" and probes["environment"]["status"] == "ok"  # the rest was diagnosed
    late = report["findings"][0]
    assert late["id"] == "doctor-deadline" and late["title"].endswith("did not finish within 2 s: opencl")


def test_a_pci_scan_that_hangs_says_nothing_about_gpus(
    hanging_command: Callable[[str], dict[str, str]], machine: Callable[[str], Path]
) -> None:
    """The recorded Arc machine's scan reads its driver link with readlink, which never lets go: an
    unfinished scan is no evidence of a missing GPU."""
    env = hanging_command("readlink")
    run, elapsed = timed_run_xpu(
        "doctor", "--sysroot", str(machine("arc-a770-i915")), "--timeout", str(TIMEOUT), env=env
    )
    assert elapsed < TIMEOUT + DOCTOR_MARGIN + STARTUP, f"{elapsed:.1f} s"
    assert run.returncode == Exit.FAILED and "Traceback" not in run.stderr, run.stderr
    assert "[doctor-deadline]" in run.stdout and "pci, render-nodes" in run.stdout
    assert "No Intel GPU" not in run.stdout and "no-intel-gpu" not in run.stdout


def _ollama(generate: Behaviour) -> MisbehavingServer:
    return MisbehavingServer(
        routes(
            {
                "/api/version": answer({"version": "0.9.0"}),
                "/api/blobs/": answer(b""),
                "/api/create": answer({"status": "success"}),
                "/api/generate": generate,
                "/api/delete": answer(b""),
            }
        )
    )


@pytest.mark.parametrize("behaviour", [silent, trickle(0.1)], ids=["silent", "slow-body"])
def test_bench_ollama_ends_by_its_timeout(behaviour: Behaviour, tmp_path: Path) -> None:
    env, tmp = fresh_tmpdir(tmp_path)
    with _ollama(behaviour) as peer:
        url = peer.url
        run, elapsed = timed_run_xpu(
            "bench",
            "ollama",
            "--backend",
            f"slow={url}",
            "--out",
            "out",
            "--timeout",
            str(TIMEOUT),
            env=env,
            cwd=tmp_path,
        )
    assert elapsed < TIMEOUT + MARGIN + STARTUP, f"{elapsed:.1f} s"
    assert run.returncode == Exit.FAILED and run.stdout == "", run.stderr
    [line] = run.stderr.splitlines()
    assert line.startswith(f"xpu: Ollama at {url} did not answer POST /api/generate within 2 s"), line
    assert not (tmp_path / "out").exists() and list(tmp.iterdir()) == []


STATS = {"system": {"comfyui_version": "0.8.0"}, "devices": [{"type": "cpu", "name": "cpu"}]}


@pytest.mark.parametrize("slow_side", ["xpu", "cpu"])
def test_bench_comfyui_ends_by_its_timeout(slow_side: str, tmp_path: Path) -> None:
    """The --timeout covers both servers: the second is asked with what the first left."""
    with MisbehavingServer(answer(STATS)) as quick, MisbehavingServer(trickle(0.1)) as slow:
        url = slow.url
        sides = {"xpu": quick.url, "cpu": quick.url, slow_side: url}
        run, elapsed = timed_run_xpu(
            "bench",
            "comfyui",
            "--xpu",
            sides["xpu"],
            "--cpu",
            sides["cpu"],
            "--harness",
            "--out",
            "out",
            "--timeout",
            str(TIMEOUT),
            cwd=tmp_path,
        )
    assert elapsed < TIMEOUT + MARGIN + STARTUP, f"{elapsed:.1f} s"
    assert run.returncode == Exit.FAILED and run.stdout == "", run.stderr
    [line] = run.stderr.splitlines()
    assert line.startswith(f"xpu: ComfyUI at {url} did not answer GET /system_stats within 2 s"), line
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf"])
def test_bench_timeout_is_finite_and_positive(value: str) -> None:
    run, _ = timed_run_xpu("bench", "ollama", "--backend", "a=http://127.0.0.1:9", "--timeout", value)
    assert run.returncode == Exit.USAGE and run.stderr.splitlines() == [
        f"xpu: error: --timeout {float(value)}: must be a positive number of seconds"
    ]
