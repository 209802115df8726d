"""Running the CLI as a user would, shared by the tests that judge `xpu` by what it prints and its exit code."""

from __future__ import annotations

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
