"""Run a self-contained probe script on a target and get its JSON back.

Some facts (Level Zero through ctypes, dpctl, torch) can only be gathered by code running on the
target itself, never on the controller. In order of preference the target runs it through
``xpu collect NAME`` (the command the flake installs), else the script is sent to the target's
``python3``. A target with neither (a minimal NixOS has no Python) yields a "could not run" result,
not an exception.
"""

from __future__ import annotations

import base64
import json
import shlex
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from ..target import Target

SCRIPTS = {"level-zero": "ze_probe.py", "dpctl": "dpctl_probe.py", "torch": "torch_probe.py"}


@dataclass(frozen=True)
class ScriptRun:
    """The JSON a collector printed, or why it could not run."""

    name: str
    data: dict[str, Any] | None
    via: str | None
    error: str | None = None
    attempts: tuple[str, ...] = field(default=())
    # the attempts whose interpreter started and then died: killed by a signal (exit 128+N) or timed out
    crashes: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return self.data is not None


def whole_number(value: object) -> int:
    """A whole number a collector reported, or 0 where it reported something else (null, a string)."""
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def script_source(name: str) -> str:
    return resources.files("xpu_tool.collectors").joinpath(SCRIPTS[name]).read_text()


def python_command(python: str, source: str, filename: str) -> str:
    payload = base64.b64encode(source.encode()).decode()
    code = f"import base64;exec(compile(base64.b64decode('{payload}'),'{filename}','exec'))"
    return f"{shlex.quote(python)} -c {shlex.quote(code)}"


def _parse(stdout: str) -> dict[str, Any] | None:
    for raw in reversed(stdout.strip().splitlines()):
        line = raw.strip()
        if line.startswith("{"):
            try:
                value = json.loads(line)
            except json.JSONDecodeError:
                return None
            return value if isinstance(value, dict) else None
    return None


def collect(target: Target, name: str, timeout: float = 60.0) -> ScriptRun:
    """Run collector ``name`` on ``target`` by the best available route, each attempt within ``timeout``."""
    source = script_source(name)
    routes: list[tuple[str, str]] = []
    if not target.local and target.which("xpu"):
        routes.append(("xpu", f"xpu collect {shlex.quote(name)}"))
    for python in target.python_interpreters():
        if target.local or target.which(python):
            routes.append((python, python_command(python, source, SCRIPTS[name])))
    attempts: list[str] = []
    crashes: list[str] = []
    for via, command in routes:
        out = target.run(command, timeout=timeout)
        data = _parse(out.stdout)
        if data is not None:
            return ScriptRun(name, data, via, attempts=tuple(attempts))
        reason = "timed out" if out.timed_out else f"exit {out.rc}"
        tail = (out.stderr.strip().splitlines() or [""])[-1][:200]
        attempts.append(f"{via}: {reason}{': ' + tail if tail else ''}")
        if out.timed_out or out.rc > 128:
            crashes.append(attempts[-1])
    if not routes:
        return ScriptRun(name, None, None, "could not run: the target has no xpu command and no python3")
    return ScriptRun(name, None, None, "could not run: " + "; ".join(attempts), tuple(attempts), tuple(crashes))
