"""Bad input the way a user gives it (`xpu` in a subprocess): inventories YAML 1.1 reads
surprisingly (017 is octal, 1:30 is 90) or that are empty, huge or nested 100 000 deep; a terminal
that only takes ASCII; a guest cache that cannot be written; a bench --out that cannot take the
reports. Each is one line on stderr and its exit code, no traceback, and nothing left behind."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from xpu_testkit.cli.exit_codes import Exit

from .faults import fresh_tmpdir
from .test_cli import assert_one_line_error

UNREACHABLE = "http://127.0.0.1:9"  # the discard port: nothing answers; a bench that started would say so


def xpu(*args: str, env: dict[str, str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "xpu_testkit", *args], capture_output=True, text=True, timeout=120,
                          env=env, cwd=cwd)


TARGET = "targets:\n  a:\n    url: local://\n    expect:\n"
NOT_DECIMAL = "lab.yaml:5: targets.a.expect.min_gpus: expected a non-negative decimal integer"
DEEP = "[" * 100_000 + "]" * 100_000


@pytest.mark.parametrize("text, message", [
    (TARGET + "      min_gpus: 017\n", f"{NOT_DECIMAL} like 2, not '017'"),
    (TARGET + "      min_gpus: 1:30\n", f"{NOT_DECIMAL} like 2, not '1:30'"),
    ("targets: {}\n", "lab.yaml:1: targets: no targets"),
    (DEEP + "\n", "lab.yaml:1: YAML nested deeper than 32 levels"),
    (TARGET + "      runtimes: " + DEEP + "\n", "lab.yaml:5: YAML nested deeper than 32 levels"),
    ("# " + "x" * 2_000_000 + "\n", "lab.yaml: larger than 1024 KiB"),
], ids=["octal", "sexagesimal", "no-targets", "nested", "nested-in-a-target", "huge"])
def test_an_inventory_yaml_reads_surprisingly_is_one_line(text: str, message: str, tmp_path: Path) -> None:
    env, tmp = fresh_tmpdir(tmp_path)
    (tmp_path / "lab.yaml").write_text(text)
    run = xpu("doctor", "--inventory", "lab.yaml", env=env, cwd=tmp_path)
    assert_one_line_error(run, message)
    assert list(tmp.iterdir()) == []


@pytest.fixture
def non_ascii_machine(machine) -> Path:  # type: ignore[no-untyped-def]
    """A recorded Arc machine whose doctor report names a user that is not ASCII."""
    return machine("arc-a770-i915")


def test_an_ascii_terminal_gets_escapes_not_a_crash(non_ascii_machine: Path) -> None:
    env = {**os.environ, "PYTHONIOENCODING": "ascii"}
    run = xpu("doctor", "--sysroot", str(non_ascii_machine), "--user", "jörg", env=env)
    assert run.returncode in (Exit.OK, Exit.FAILED) and run.stderr == "", run.stderr
    assert "user j\\xf6rg does not exist" in run.stdout  # printed, escaped


def test_an_ascii_terminal_gets_valid_json(non_ascii_machine: Path) -> None:
    env = {**os.environ, "PYTHONIOENCODING": "ascii"}
    run = xpu("doctor", "--json", "--sysroot", str(non_ascii_machine), "--user", "jörg", env=env)
    assert run.returncode in (Exit.OK, Exit.FAILED) and run.stderr == "", run.stderr
    assert "jörg" in json.dumps(json.loads(run.stdout), ensure_ascii=False)


@pytest.mark.parametrize("place, shown", [
    ({"HOME": "/proc"}, "/proc/.cache/xpu-testkit/guests"),  # a HOME nothing can be created in, even by root
    ({"XDG_CACHE_HOME": "/dev/null"}, "/dev/null/xpu-testkit/guests"),
], ids=["read-only-home", "cache-is-dev-null"])
def test_an_unwritable_guest_cache_is_named_with_its_way_out(place: dict[str, str], shown: str,
                                                              tmp_path: Path) -> None:
    env, tmp = fresh_tmpdir(tmp_path)
    env.pop("XDG_CACHE_HOME", None)
    run = xpu("vm", "boot", "--debian-guest", env={**env, **place})
    if "apt knows no" in run.stderr or "apt-cache is not installed" in run.stderr:
        pytest.skip(f"no Debian apt here to name the guest's kernel: {run.stderr.strip()}")
    assert_one_line_error(run, f"cannot write the guest cache {shown}")
    assert "set XDG_CACHE_HOME to a writable directory" in run.stderr
    assert list(tmp.iterdir()) == []


BENCH = {
    "ollama": ["bench", "ollama", "--backend", f"sycl={UNREACHABLE}"],
    "comfyui": ["bench", "comfyui", "--xpu", UNREACHABLE, "--cpu", UNREACHABLE],
}


@pytest.mark.parametrize("service", sorted(BENCH))
@pytest.mark.parametrize("out, message", [
    ("/proc", "--out /proc: cannot write there"),  # a directory nothing can be written to, even by root
    ("/proc/xpu-bench/results", "--out /proc/xpu-bench/results: cannot write there"),
    ("/dev/full", "--out /dev/full: not a directory"),
    ("a-file", "--out a-file: not a directory"),
], ids=["read-only", "uncreatable", "dev-full", "file"])
def test_a_bench_out_that_cannot_take_the_reports_is_refused_before_it_runs(service: str, out: str, message: str,
                                                                           tmp_path: Path) -> None:
    """The servers do not answer: a bench that started would fail on them, so the --out line proves the
    refusal came first."""
    env, tmp = fresh_tmpdir(tmp_path)
    (tmp_path / "a-file").write_text("kept\n")
    run = xpu(*BENCH[service], "--out", out, env=env, cwd=tmp_path)
    assert_one_line_error(run, message)
    assert (tmp_path / "a-file").read_text() == "kept\n" and Path("/dev/full").is_char_device()
    assert list(tmp.iterdir()) == []


@pytest.mark.parametrize("service", sorted(BENCH))
def test_a_bench_that_fails_after_the_out_check_leaves_no_out_directory(service: str, tmp_path: Path) -> None:
    """The --out check makes the directories it tries and takes them away again; the failure is the servers'."""
    env, tmp = fresh_tmpdir(tmp_path)
    run = xpu(*BENCH[service], "--out", "new/results", env=env, cwd=tmp_path)
    assert run.returncode == Exit.FAILED and "Traceback" not in run.stderr, run.stderr
    assert "127.0.0.1:9" in run.stderr and "--out" not in run.stderr
    assert not (tmp_path / "new").exists() and list(tmp.iterdir()) == []
