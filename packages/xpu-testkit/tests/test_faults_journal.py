"""`--journal UNIT` of `xpu check ollama` and `xpu bench ollama` never lets a shell see the value:
a value that is no systemd unit name is refused before anything runs (exit 2, one line), and a
valid one that holds shell metacharacters (a glob, a backslash) reaches journalctl byte for byte.

Both entry points run as a user runs them (`xpu` in a subprocess). The unit's journal is read
after a failed generate, so the server is the Ollama double answering HTTP 500; `journalctl` is
a script on PATH that records the arguments it was given (this machine has no such unit)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from xpu_testkit.doubles.ollama import OllamaDouble
from xpu_tool.services.journal import journal_command

from .xpu_command import run_xpu

ENTRY_POINTS = {
    "check": lambda url: ["check", "ollama", url],
    "bench": lambda url: ["bench", "ollama", "--backend", f"double={url}", "--out", "bench-out"],
}


@pytest.fixture
def recording_journalctl(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """(environment with a journalctl on PATH that writes its argv, one per line, to a file; that file)."""
    bin_dir, record = tmp_path / "bin", tmp_path / "journalctl.argv"
    bin_dir.mkdir()
    fake = bin_dir / "journalctl"
    fake.write_text(f"#!/bin/sh\nprintf '%s\\n' \"$@\" > {record}\necho 'llama runner process has terminated'\n")
    fake.chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}, record


@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
@pytest.mark.parametrize(
    "value", ["x; touch {marker}", "$(touch {marker})", "x\ntouch {marker}", "x' ; touch {marker}; '"]
)
def test_a_value_full_of_shell_metacharacters_is_refused(
    entry: str, value: str, tmp_path: Path, recording_journalctl
) -> None:
    env, record = recording_journalctl
    marker = tmp_path / "INJECTED"
    with OllamaDouble("http500") as double:
        run = run_xpu(*ENTRY_POINTS[entry](double.url), "--journal", value.format(marker=marker), env=env, cwd=tmp_path)
    assert run.returncode == 2, run.stderr
    assert len(run.stderr.splitlines()) == 1 and "is not a systemd unit name" in run.stderr
    assert not double.requests, "refused before any request"
    assert not marker.exists() and not record.exists()


@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
@pytest.mark.parametrize("unit", ["ollama*", "ollama@a\\x3bb.service", "ollama-[ab].service"])
def test_a_valid_unit_reaches_journalctl_literally(entry: str, unit: str, tmp_path: Path, recording_journalctl) -> None:
    """A shell would expand the glob against these files (and eat the backslash) if it saw the value unquoted."""
    env, record = recording_journalctl
    for name in ("ollama-a.service", "ollama-b.service", "ollama@ax3bb.service"):
        (tmp_path / name).touch()
    with OllamaDouble("http500") as double:
        run = run_xpu(*ENTRY_POINTS[entry](double.url), "--journal", unit, env=env, cwd=tmp_path)
    assert run.returncode == 1 and "Traceback" not in run.stderr, run.stderr
    assert record.read_text().splitlines() == ["--no-pager", "-o", "cat", "-n", "300", "-u", unit]
    assert "The Ollama model runner died" in run.stdout + run.stderr  # the journal's line was read


def test_the_command_quotes_what_it_is_given() -> None:
    assert journal_command("ollama*").endswith("-u 'ollama*'")
    assert journal_command("ollama.service") == "journalctl --no-pager -o cat -n 300 -u ollama.service"
