"""Bad input the way a user gives it (`xpu` in a subprocess): inventories YAML 1.1 reads
surprisingly (017 is octal, 1:30 is 90) or that are empty, huge or nested 100 000 deep; a terminal
that only takes ASCII; a guest cache that cannot be written; a bench --out that cannot take the
reports. Each is one line on stderr and its exit code, no traceback, and nothing left behind."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from xpu_testkit.doubles.ollama import GENERATE_SAMPLE, OllamaDouble
from xpu_tool.atomic import partial_glob
from xpu_tool.cli.exit_codes import Exit
from xpu_tool.services.tiny_gguf import write_tiny_llama

from .faults import fresh_tmpdir
from .test_cli import assert_one_line_error
from .xpu_command import run_xpu

UNREACHABLE = "http://127.0.0.1:9"  # the discard port: nothing answers; a bench that started would say so


def xpu(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None, full_disk: bool = False
) -> subprocess.CompletedProcess[str]:
    """``run_xpu``; ``full_disk``: no file it writes may grow past 1 KiB (`ulimit -f 1`), as on a full disk."""
    return run_xpu(*args, env=env, cwd=cwd, preexec_fn=_files_up_to(1024) if full_disk else None)


def _files_up_to(limit: int) -> Callable[[], None]:
    """In the child: a write past ``limit`` bytes fails with EFBIG (SIGXFSZ ignored), as on a disk that fills."""

    def limited() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return limited


TARGET = "targets:\n  a:\n    url: local://\n    expect:\n"
NOT_DECIMAL = "lab.yaml:5: targets.a.expect.min_gpus: expected a non-negative decimal integer"
DEEP = "[" * 100_000 + "]" * 100_000


@pytest.mark.parametrize(
    "text, message",
    [
        (TARGET + "      min_gpus: 017\n", f"{NOT_DECIMAL} like 2, not '017'"),
        (TARGET + "      min_gpus: 1:30\n", f"{NOT_DECIMAL} like 2, not '1:30'"),
        ("targets: {}\n", "lab.yaml:1: targets: no targets"),
        (DEEP + "\n", "lab.yaml:1: YAML nested deeper than 32 levels"),
        (TARGET + "      runtimes: " + DEEP + "\n", "lab.yaml:5: YAML nested deeper than 32 levels"),
        ("# " + "x" * 2_000_000 + "\n", "lab.yaml: larger than 1024 KiB"),
    ],
    ids=["octal", "sexagesimal", "no-targets", "nested", "nested-in-a-target", "huge"],
)
def test_an_inventory_yaml_reads_surprisingly_is_one_line(text: str, message: str, tmp_path: Path) -> None:
    env, tmp = fresh_tmpdir(tmp_path)
    (tmp_path / "lab.yaml").write_text(text)
    run = xpu("doctor", "--inventory", "lab.yaml", env=env, cwd=tmp_path)
    assert_one_line_error(run, message)
    assert list(tmp.iterdir()) == []


@pytest.mark.parametrize("json_flag", [[], ["--json"]], ids=["text", "json"])
def test_an_ascii_terminal_gets_escapes_not_a_crash(json_flag: list[str]) -> None:
    """A user name that is not ASCII is no user name (POSIX/systemd): the one-line refusal names it,
    escaped, on a terminal that only takes ASCII."""
    env = {**os.environ, "PYTHONIOENCODING": "ascii"}
    run = xpu("doctor", *json_flag, "--user", "jörg", env=env)
    assert_one_line_error(run, "argument --user: 'j\\xf6rg' is not a valid user name")


@pytest.mark.parametrize(
    "place, shown",
    [
        ({"HOME": "/proc"}, "/proc/.cache/xpu-testkit/guests"),  # a HOME nothing can be created in, even by root
        ({"XDG_CACHE_HOME": "/dev/null"}, "/dev/null/xpu-testkit/guests"),
    ],
    ids=["read-only-home", "cache-is-dev-null"],
)
def test_an_unwritable_guest_cache_is_named_with_its_way_out(place: dict[str, str], shown: str, tmp_path: Path) -> None:
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
@pytest.mark.parametrize(
    "out, message",
    [
        ("/proc", "--out /proc: cannot write there"),  # a directory nothing can be written to, even by root
        ("/proc/xpu-bench/results", "--out /proc/xpu-bench/results: cannot write there"),
        ("/dev/full", "--out /dev/full: not a directory"),
        ("a-file", "--out a-file: not a directory"),
    ],
    ids=["read-only", "uncreatable", "dev-full", "file"],
)
def test_a_bench_out_that_cannot_take_the_reports_is_refused_before_it_runs(
    service: str, out: str, message: str, tmp_path: Path
) -> None:
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
    """The --out check makes the directories it tries and takes them away again; the failure is the servers'
    (nothing listens: unreachable)."""
    env, tmp = fresh_tmpdir(tmp_path)
    run = xpu(*BENCH[service], "--out", "new/results", env=env, cwd=tmp_path)
    assert run.returncode == Exit.UNREACHABLE and "Traceback" not in run.stderr, run.stderr
    assert "127.0.0.1:9" in run.stderr and "--out" not in run.stderr
    assert not (tmp_path / "new").exists() and list(tmp.iterdir()) == []


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["bench", "ollama", "--backend", f"a={UNREACHABLE}", "--backend", "a=http://127.0.0.1:10"],
            "--backend 'a' is given twice",
        ),
        (
            ["bench", "ollama", "--backend", f"a={UNREACHABLE}", "--repetitions", "999999999"],
            "argument --repetitions: 999999999 is not between 3 and 100",
        ),
        (
            ["bench", "ollama", "--backend", f"a={UNREACHABLE}", "--num-predict", "1e14"],
            "argument --num-predict: '1e14' is not a whole number",
        ),
        (
            ["bench", "ollama", "--backend", f"a={UNREACHABLE}", "--num-predict", "4097"],
            "argument --num-predict: 4097 is not between 1 and 4096",
        ),
        (
            ["bench", "ollama", "--backend", f"a={UNREACHABLE}", "--warmup", "-1"],
            "argument --warmup: -1 is not between 0",
        ),
        (BENCH["comfyui"] + ["--steps", "1e11"], "argument --steps: '1e11' is not a whole number"),
        (BENCH["comfyui"] + ["--steps", "100000000000"], "argument --steps: 100000000000 is not between 3 and 10000"),
        (BENCH["comfyui"] + ["--warmup", "11"], "argument --warmup: 11 is not between 0 and 10"),
        (BENCH["comfyui"] + ["--repetitions", "2"], "argument --repetitions: 2 is not between 3 and 100"),
        (
            ["vm", "boot", "--debian-guest", "--forward", "99999"],
            "argument --forward: 99999 is not between 1 and 65535",
        ),
        (["vm", "boot", "--debian-guest", "--forward", "0"], "argument --forward: 0 is not between 1 and 65535"),
        (["doctor", "--user", "nouser;id"], "argument --user: 'nouser;id' is not a valid user name"),
        (["doctor", "--user", "Root"], "argument --user: 'Root' is not a valid user name"),
        (["doctor", "--user", "a" * 33], "is not a valid user name"),
        (["check", "ollama", "http://[::1"], "'http://[::1' is not an http(s) URL (Invalid IPv6 URL)"),
        (
            ["check", "ollama", "http://127.0.0.1:99999"],
            "'http://127.0.0.1:99999' is not an http(s) URL (Port out of range",
        ),
        (["check", "ollama", "http://:11434"], "'http://:11434' is not an http(s) URL"),
        (["check", "comfyui", "http://127.0.0.1:0"], "'http://127.0.0.1:0' is not an http(s) URL (port 0)"),
        (["bench", "ollama", "--backend", "a=http://[::1"], "'http://[::1' is not an http(s) URL"),
        (["export", "--ollama", "http://[::1"], "'http://[::1' is not an http(s) URL"),
    ],
    ids=[
        "duplicate-backend",
        "repetitions",
        "num-predict-float",
        "num-predict",
        "warmup-negative",
        "steps-float",
        "steps",
        "warmup",
        "repetitions-low",
        "forward",
        "forward-zero",
        "user-injection",
        "user-upper",
        "user-long",
        "ipv6-open",
        "port",
        "no-host",
        "port-zero",
        "bench-url",
        "export-url",
    ],
)
def test_out_of_range_input_is_refused_before_anything_starts(args: list[str], message: str, tmp_path: Path) -> None:
    """Nothing answers at the URLs: a command that started would say so; the VM would leave xpu-vm-*."""
    env, tmp = fresh_tmpdir(tmp_path)
    assert_one_line_error(xpu(*args, env=env, cwd=tmp_path), message)
    assert list(tmp.iterdir()) == [] and sorted(p.name for p in tmp_path.iterdir()) == ["tmp"]


@pytest.mark.parametrize("user", ["alice", "svc_ollama-2", "_apt", "machine$", "a" * 32])
def test_a_valid_user_name_is_taken(user: str, machine: Callable[[str], Path]) -> None:
    run = xpu("doctor", "--sysroot", str(machine("arc-a770-i915")), "--user", user)
    assert run.returncode in (Exit.OK, Exit.FAILED) and run.stderr == "", run.stderr
    assert user in run.stdout  # judged: "user X does not exist" or its render-node access


def test_a_full_disk_leaves_no_partial_tiny_model(tmp_path: Path) -> None:
    env, tmp = fresh_tmpdir(tmp_path)
    run = xpu("tiny-model", "model.gguf", env=env, cwd=tmp_path, full_disk=True)
    assert_one_line_error(run, "cannot write model.gguf: File too large")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tmp"] and list(tmp.iterdir()) == []


def test_a_full_disk_keeps_the_model_already_there(tmp_path: Path) -> None:
    env, _ = fresh_tmpdir(tmp_path)
    first = xpu("tiny-model", "model.gguf", env=env, cwd=tmp_path)
    assert first.returncode == Exit.OK, first.stderr
    before = (tmp_path / "model.gguf").read_bytes()
    assert len(before) > 1024 and first.stdout.split()[1] == str(len(before))
    run = xpu("tiny-model", "model.gguf", "--seed", "1", env=env, cwd=tmp_path, full_disk=True)
    assert_one_line_error(run, "cannot write model.gguf: File too large")
    assert (tmp_path / "model.gguf").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.gguf", "tmp"]


def test_a_full_temporary_directory_names_tmpdir(tmp_path: Path) -> None:
    """`bench ollama` writes the tiny model to TMPDIR before it asks a server anything."""
    env, tmp = fresh_tmpdir(tmp_path)
    run = xpu(*BENCH["ollama"], "--out", "results", env=env, cwd=tmp_path, full_disk=True)
    assert_one_line_error(run, f"cannot write the tiny test model to the temporary directory {tmp}: File too large")
    assert "set TMPDIR to a writable directory" in run.stderr
    assert list(tmp.iterdir()) == [] and not (tmp_path / "results").exists()


def test_a_bench_report_that_fails_halfway_is_one_line_and_leaves_no_partial_file(tmp_path: Path) -> None:
    """A disk that fills while the reports are written: the JSON (1.3 kB) and the Markdown fit in
    8 KiB per file, the PNG chart (17 kB) does not. One line naming the chart, exit 2; the chart's
    temporary file is gone and nothing stands under its name."""
    gguf = write_tiny_llama(tmp_path / "m.gguf").path  # written here: TMPDIR is as limited as --out
    eval_duration = GENERATE_SAMPLE["eval_duration"]
    assert isinstance(eval_duration, int)
    cpu = dict(GENERATE_SAMPLE, eval_duration=eval_duration * 3)
    out = tmp_path / "out"
    with OllamaDouble("gpu", cpu_response=cpu) as double:
        run = run_xpu(
            "bench",
            "ollama",
            "--backend",
            f"d={double.url}",
            "--gguf",
            str(gguf),
            "--out",
            str(out),
            preexec_fn=_files_up_to(8 * 1024),
        )
        generated = sum(1 for _, path, _ in double.requests if path == "/api/generate")
    assert generated == 8  # the whole benchmark ran before the reports were written
    assert_one_line_error(run, f"cannot write {out / 'ollama-bench.png'}: File too large")
    assert sorted(p.name for p in out.iterdir()) == ["ollama-bench.json", "ollama-bench.md"]
    assert json.loads((out / "ollama-bench.json").read_text())["passed"] is True  # whole, not cut short
    assert not list(out.glob(partial_glob(out / "ollama-bench.png")))


def test_check_ollama_with_a_full_temporary_directory_names_tmpdir(tmp_path: Path) -> None:
    """`check ollama` writes the tiny model to TMPDIR once the server answered /api/version."""
    env, tmp = fresh_tmpdir(tmp_path)
    with OllamaDouble("gpu") as double:
        run = xpu("check", "ollama", double.url, env=env, cwd=tmp_path, full_disk=True)
        asked = [path for _, path, _ in double.requests]
    assert asked == ["/api/version"]  # answered, then nothing was created on the server
    assert_one_line_error(run, f"cannot write the tiny test model to the temporary directory {tmp}: File too large")
    assert "set TMPDIR to a writable directory" in run.stderr
    assert list(tmp.iterdir()) == []
