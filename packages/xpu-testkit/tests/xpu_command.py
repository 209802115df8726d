"""Running the CLI as a user would, shared by the tests that judge `xpu` by what it prints and its exit code."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path


def run_xpu(
    *args: str,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 120,
    preexec_fn: Callable[[], None] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run `python -m xpu_tool ARGS` as a user would: this interpreter, output captured as text,
    ``env`` (default: this process's environment), ``cwd``, bounded by ``timeout`` seconds, and
    ``preexec_fn`` run in the child before it starts. The exit code is what the tests judge, hence
    check=False."""
    return subprocess.run(
        [sys.executable, "-m", "xpu_tool", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=cwd,
        preexec_fn=preexec_fn,
        check=False,
    )


def timed_run_xpu(
    *args: str,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 120,
) -> tuple[subprocess.CompletedProcess[str], float]:
    """``run_xpu(ARGS)`` and the seconds it took, starting Python included."""
    started = time.monotonic()
    run = run_xpu(*args, env=env, cwd=cwd, timeout=timeout)
    return run, time.monotonic() - started


def on_a_terminal(*args: str, timeout: float = 120) -> tuple[int, str, str]:
    """`xpu ARGS` with stderr on a pseudo-terminal (stdout a pipe): (exit code, stdout, the terminal's text)."""
    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "xpu_tool", *args], stdout=subprocess.PIPE, stderr=slave, stdin=subprocess.DEVNULL
        )
    finally:
        os.close(slave)
    seen = b""
    try:
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            seen += chunk
    finally:
        os.close(master)
    out, _ = proc.communicate(timeout=timeout)
    return proc.returncode, out.decode(), seen.decode(errors="replace")
