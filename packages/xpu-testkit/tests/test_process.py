"""xpu_testkit.process.popen_tied: a child the test kit starts (QEMU, a server) dies with the process
that started it, even when that process is killed and can run no cleanup."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

PARENT = """
import subprocess, sys, time
from xpu_testkit.process import popen_tied
start = popen_tied if sys.argv[1] == "tied" else subprocess.Popen
child = start(["sleep", "60"])
print(child.pid, flush=True)
time.sleep(60)
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"  # a zombie has died
    except FileNotFoundError:
        return False


def _child_after_parent_killed(how: str) -> tuple[int, bool]:
    """Start a parent that starts `sleep 60` (``how``: tied or plain), SIGKILL the parent, and say
    whether the child is still alive a second later."""
    parent = subprocess.Popen([sys.executable, "-c", PARENT, how], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    pid = int(parent.stdout.readline())
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 1.0
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return pid, _alive(pid)


def test_a_tied_child_dies_when_its_parent_is_killed() -> None:
    pid, alive = _child_after_parent_killed("tied")
    if alive:
        os.kill(pid, signal.SIGKILL)
    assert not alive, "the child outlived the process that started it"


def test_a_plain_child_would_outlive_it() -> None:
    """The control: without popen_tied the same child survives (so the test above can fail)."""
    pid, alive = _child_after_parent_killed("plain")
    if alive:
        os.kill(pid, signal.SIGKILL)
    if not alive:
        pytest.fail("a plain child died with its parent here: the test above proves nothing on this machine")
