"""`xpu check llama-cpp` against llama-servers that misbehave on loopback (silent, slow, endless,
lying: tests/misbehaving.py) and with bad --log files: each ends by its timeout plus
xpu_tool.http.MARGIN with one finding naming what happened, or, through the CLI, one line on
stderr and the documented exit code (cli/exit_codes.py), never a traceback."""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from xpu_testkit.doubles.llama_cpp import COMPLETION, HEALTH, MODELS, PROPS
from xpu_testkit.process import free_port
from xpu_tool.cli.exit_codes import Exit
from xpu_tool.deadline import Deadline
from xpu_tool.http import MARGIN
from xpu_tool.services.llama_cpp import LlamaCppClient, LlamaCppError, check_llama_cpp, check_llama_cpp_quickly

from .misbehaving import (
    Behaviour,
    MisbehavingServer,
    answer,
    endless_chunks,
    redirect_loop,
    routes,
    silent,
    trickle,
)
from .xpu_command import on_a_terminal, run_xpu, timed_run_xpu

TIMEOUT = 1.0
STARTUP = 3.0  # the CLI's interpreter start and imports, before its deadline begins, on a busy machine
LOG_LINE = b"load_tensors: offloaded 3/3 layers to GPU\n"


def llama(**overrides: Behaviour) -> MisbehavingServer:
    """A llama-server that answers like the real one, but for the paths in ``overrides``."""
    table = {
        "/health": answer(HEALTH),
        "/props": answer(PROPS),
        "/v1/models": answer(MODELS),
        "/completion": answer(COMPLETION),
    }
    return MisbehavingServer(routes({**table, **overrides}))


def assert_one_line(run: subprocess.CompletedProcess[str], code: int, text: str) -> None:
    assert run.returncode == code, (run.returncode, run.stdout, run.stderr)
    assert "Traceback" not in run.stderr and len(run.stderr.strip().splitlines()) == 1, run.stderr
    assert text in run.stderr, run.stderr


@pytest.mark.parametrize(
    "path, behaviour, finding, says",
    [
        ("/health", silent, "llama-cpp-timeout", "did not answer GET /health within 1 s"),
        ("/health", trickle(0.05), "llama-cpp-timeout", "did not answer GET /health within 1 s"),
        ("/health", endless_chunks(), "llama-cpp-timeout", "did not answer GET /health within 1 s"),
        (
            "/health",
            answer({"error": {"code": 503, "message": "Loading model", "type": "unavailable_error"}}, 503),
            "llama-cpp-loading",
            "was still loading its model after 1 s",
        ),
        ("/completion", silent, "llama-cpp-generate-failed", "did not answer POST /completion within"),
        ("/completion", trickle(0.05), "llama-cpp-generate-failed", "did not answer POST /completion within"),
        (
            "/completion",
            endless_chunks(b'{"content":"x","stop":false}\n'),
            "llama-cpp-generate-failed",
            "did not answer POST /completion within",
        ),
    ],
    ids=["silent", "slow", "endless", "loading-forever", "silent-completion", "slow-completion", "endless-completion"],
)
def test_the_check_ends_by_its_timeout_and_names_what_happened(
    path: str, behaviour: Behaviour, finding: str, says: str
) -> None:
    with llama(**{path: behaviour}) as peer:
        started = time.monotonic()
        result = check_llama_cpp(peer.url, timeout=TIMEOUT)
        elapsed = time.monotonic() - started
    assert elapsed < TIMEOUT + MARGIN, elapsed
    assert not result.ok and [f.id for f in result.findings] == [finding]
    assert says in result.findings[0].evidence[0], result.findings[0].evidence


@pytest.mark.parametrize(
    "path, reply, named",
    [
        ("/completion", dict(COMPLETION, tokens_predicted="16"), "tokens_predicted is '\"16\"', not a count"),
        ("/completion", dict(COMPLETION, tokens_evaluated=-1), "tokens_evaluated is '-1', not a count"),
        ("/completion", dict(COMPLETION, content=["x"]), "content is '[\"x\"]', not a string"),
        (
            "/completion",
            dict(COMPLETION, timings={**COMPLETION["timings"], "predicted_ms": "fast"}),
            "timings: predicted_ms is '\"fast\"', not a number",
        ),
        ("/completion", dict(COMPLETION, timings=[1]), "timings is '[1]', not an object"),
        ("/completion", [COMPLETION], "expected a JSON object, got list"),
        ("/completion", b"\xff\xfe not json", "not JSON"),
    ],
    ids=["count-as-string", "negative-count", "content-list", "ms-as-string", "timings-list", "list", "binary"],
)
def test_a_lying_completion_is_named(path: str, reply: object, named: str) -> None:
    with llama(**{path: answer(reply)}) as peer:
        result = check_llama_cpp(peer.url, timeout=5)
    assert [f.id for f in result.findings] == ["llama-cpp-generate-failed"]
    evidence = result.findings[0].evidence[0]
    assert named in evidence and "\n" not in evidence and len(evidence) < 500, evidence


@pytest.mark.parametrize(
    "reply",
    [
        dict(COMPLETION, tokens_predicted=0, timings=dict(COMPLETION["timings"], predicted_n=0, predicted_ms=0.0)),
        {k: v for k, v in COMPLETION.items() if k != "timings"},
    ],
    ids=["no-tokens", "no-timings"],
)
def test_a_server_that_did_no_work_fails(reply: dict) -> None:
    with llama(**{"/completion": answer(reply)}) as peer:
        result = check_llama_cpp(peer.url, timeout=5)
    assert not result.ok and "llama-cpp-no-tokens" in [f.id for f in result.findings]


@pytest.mark.parametrize(
    "overrides, finding, says",
    [
        ({"/health": answer([1, 2])}, "llama-cpp-api-error", "answers, but not as its API should (bad-body)"),
        ({"/health": redirect_loop}, "llama-cpp-api-error", "answers, but not as its API should (redirects)"),
        ({"/health": answer(b"E" * 10_000_000, 500)}, "llama-cpp-http-error", "answers /health with HTTP 500"),
        ({"/health": answer({"error": "not found"}, 404)}, "llama-cpp-http-error", "answers /health with HTTP 404"),
        ({"/props": answer(["b1"])}, "llama-cpp-api-error", "answers, but not as its API should (bad-body)"),
        (
            {"/v1/models": answer({"data": {"id": "m"}})},
            "llama-cpp-api-error",
            "answers, but not as its API should (bad-body)",
        ),
    ],
    ids=["health-list", "redirect-loop", "10-MB-500", "not-llama-server", "props-list", "models-not-a-list"],
)
def test_a_server_that_answers_badly_is_not_called_down(
    overrides: dict[str, Behaviour], finding: str, says: str
) -> None:
    with llama(**overrides) as peer:
        result = check_llama_cpp(peer.url, timeout=5)
    assert not result.ok and not result.unreachable and [f.id for f in result.findings] == [finding]
    assert result.findings[0].title.endswith(says), result.findings[0].title
    assert all(len(line) < 500 and "\n" not in line for line in result.findings[0].evidence)


def test_a_closed_port_is_unreachable_exit_4_in_one_line() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = check_llama_cpp(url, timeout=2)
    assert result.unreachable and [f.id for f in result.findings] == ["llama-cpp-unreachable"]
    run = run_xpu("check", "llama-cpp", url, "--timeout", "5")
    assert_one_line(run, Exit.UNREACHABLE, f"cannot connect to llama-server at {url}: Connection refused")
    assert "start the service" in run.stderr and run.stdout == ""


@pytest.mark.parametrize("behaviour", [silent, trickle(0.05), endless_chunks()], ids=["silent", "slow", "endless"])
def test_the_cli_against_a_misbehaving_server_is_bounded(behaviour: Behaviour) -> None:
    with llama(**{"/completion": behaviour}) as peer:
        run, elapsed = timed_run_xpu("check", "llama-cpp", peer.url, "--timeout", str(TIMEOUT))
    assert run.returncode == Exit.FAILED and "Traceback" not in run.stderr, run.stderr
    assert elapsed < TIMEOUT + MARGIN + STARTUP, elapsed
    assert "FAIL: llama-server could not generate" in run.stdout, run.stdout


def test_the_quick_check_is_bounded_and_says_why() -> None:
    with llama(**{"/health": silent}) as peer:
        started = time.monotonic()
        state = check_llama_cpp_quickly(peer.url, timeout=TIMEOUT)
        assert time.monotonic() - started < TIMEOUT + MARGIN
    assert not state.up and state.error == "timeout"
    with llama() as peer:
        state = check_llama_cpp_quickly(peer.url, timeout=5)
    assert state.up and state.service == "llama-cpp" and state.version == PROPS["build_info"]
    assert check_llama_cpp_quickly(f"http://127.0.0.1:{free_port()}", timeout=2).error == "unreachable"


def test_the_client_waits_for_the_model_to_load() -> None:
    """/health is 503 while the model loads: the client asks again until it is not, within its deadline."""
    calls: list[float] = []

    def loading_then_ok(conn: socket.socket, request: bytes, stop: threading.Event) -> None:
        calls.append(time.monotonic())
        if len(calls) < 3:
            return answer({"error": {"code": 503, "message": "Loading model"}}, 503)(conn, request, stop)
        return answer(HEALTH)(conn, request, stop)

    with llama(**{"/health": loading_then_ok}) as peer:
        assert LlamaCppClient(peer.url, Deadline.after(10)).wait_until_ready() == "ok"
    assert len(calls) == 3
    loading = answer({"error": {"code": 503, "message": "Loading model"}}, 503)
    with llama(**{"/health": loading}) as peer, pytest.raises(LlamaCppError, match="still loading its model") as caught:
        LlamaCppClient(peer.url, Deadline.after(1)).wait_until_ready()
    assert caught.value.kind == "loading"


# -- --log FILE -------------------------------------------------------------------------------------


def _unreadable(tmp_path: Path) -> Path:
    """A regular file the CLI cannot read: mode 000 for a user; root reads that, but not a write-only
    sysctl (procfs refuses it to root too)."""
    if os.geteuid() == 0:
        return Path("/proc/sys/vm/drop_caches")
    log = tmp_path / "secret.log"
    log.write_bytes(LOG_LINE)
    log.chmod(0)
    return log


def _fifo(tmp: Path) -> Path:
    os.mkfifo(tmp / "fifo")  # opening it would wait for a writer forever
    return tmp / "fifo"


def _file(name: str, data: bytes) -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        (tmp / name).write_bytes(data)
        return tmp / name

    return make


@pytest.mark.parametrize(
    "make, says",
    [
        (lambda tmp: tmp / "missing.log", "no such file"),
        (lambda tmp: tmp, "is a directory"),
        (lambda tmp: Path("/dev/zero"), "not a regular file"),
        (_fifo, "not a regular file"),
        (_file("bin.log", os.urandom(1 << 20)), "not a text log"),
        (_file("zeros.log", b"\0" * 4096 + LOG_LINE), "not a text log"),
    ],
    ids=["missing", "directory", "device", "fifo", "binary", "nul-bytes"],
)
def test_a_bad_log_file_is_one_line_exit_2(make: Callable[[Path], Path], says: str, tmp_path: Path) -> None:
    path = make(tmp_path)
    run, elapsed = timed_run_xpu("check", "llama-cpp", f"http://127.0.0.1:{free_port()}", "--log", str(path))
    assert elapsed < 10 + STARTUP
    assert_one_line(run, Exit.USAGE, f"--log {path}: {says}")


def test_an_unreadable_log_file_is_one_line_exit_2(tmp_path: Path) -> None:
    path = _unreadable(tmp_path)
    run = run_xpu("check", "llama-cpp", f"http://127.0.0.1:{free_port()}", "--log", str(path))
    assert_one_line(run, Exit.USAGE, f"--log {path}: cannot read it: Permission denied")


def test_a_huge_log_is_read_from_its_end_in_bounded_time(tmp_path: Path) -> None:
    """A 100 MB log: only its last 4 MiB are read, where the last run's lines are (the file is
    removed after: pytest keeps the last runs' temporary directories)."""
    log = tmp_path / "huge.log"
    with open(log, "wb") as f:
        f.write(b"load_tensors: offloaded 0/3 layers to GPU\n")
        f.write(b"srv  log_server_r: request: GET /health 200\n" * 2_300_000)
        f.write(
            b"llama_prepare_model_devices: using device SYCL0 (Intel(R) Arc(TM) A770 Graphics) (unknown id) - "
            b"15473 MiB free\n" + LOG_LINE
        )
    assert log.stat().st_size > 100_000_000
    with llama() as peer:
        run, elapsed = timed_run_xpu("check", "llama-cpp", peer.url, "--log", str(log), "--expect-gpu")
    assert run.returncode == Exit.OK, (run.stdout, run.stderr)
    assert elapsed < 10 + STARTUP, elapsed
    log.unlink()
    assert "device SYCL0 (Intel(R) Arc(TM) A770 Graphics), offloaded 3/3 layers" in run.stdout, run.stdout


@pytest.mark.parametrize("journal_says", ["", "-- No entries --\n"], ids=["nothing", "no-entries"])
def test_an_empty_journal_is_named_not_blamed_on_the_verbosity(journal_says: str, tmp_path: Path) -> None:
    """journalctl -u for a unit that does not exist (or a journal this user may not read) prints no
    lines: the finding names the unit and its likely causes, not llama-server's verbosity."""
    fake = tmp_path / "bin" / "journalctl"
    fake.parent.mkdir()
    fake.write_text(f"#!/bin/sh\nprintf '%s' '{journal_says}'\n")
    fake.chmod(0o755)
    env = {**os.environ, "PATH": f"{fake.parent}:{os.environ['PATH']}"}
    with llama() as peer:
        run = run_xpu("check", "llama-cpp", peer.url, "--journal", "no-such-unit", "--expect-gpu", env=env)
    assert run.returncode == Exit.FAILED, (run.stdout, run.stderr)
    assert "the journal of no-such-unit is empty (wrong unit name? no permission to read the journal?)" in run.stdout
    assert "systemctl list-units" in run.stdout and "systemd-journal" in run.stdout
    assert "verbosity" not in run.stdout and "-lv 4" not in run.stdout


def test_an_empty_log_file_is_named(tmp_path: Path) -> None:
    empty = tmp_path / "empty.log"
    empty.write_text("\n")
    with llama() as peer:
        run = run_xpu("check", "llama-cpp", peer.url, "--log", str(empty))
    assert run.returncode == Exit.OK, (run.stdout, run.stderr)
    assert f"WARN: Where llama-server ran is unknown: the log {empty} is empty" in run.stdout
    assert "verbosity" not in run.stdout and "-lv 4" not in run.stdout


def test_journal_and_log_together_are_refused() -> None:
    run = run_xpu("check", "llama-cpp", "http://127.0.0.1:1", "--journal", "llama-cpp.service", "--log", "/dev/null")
    assert_one_line(run, Exit.USAGE, "give --journal UNIT or --log FILE, not both")


def test_log_is_refused_for_the_other_services() -> None:
    run = run_xpu("check", "ollama", "http://127.0.0.1:1", "--log", "/dev/null")
    assert_one_line(run, Exit.USAGE, "unrecognized arguments: --log /dev/null (see `xpu check ollama --help`)")


def test_progress_shows_on_a_terminal_and_never_in_a_pipe() -> None:
    """A server that says nothing for the whole --timeout: on a terminal stderr shows what is being
    waited for and for how long, then clears it; a pipe gets exactly the one exit-4-style line."""
    with llama(**{"/health": silent}) as peer:
        url = peer.url
        code, out, terminal = on_a_terminal("check", "llama-cpp", url, "--timeout", "2.5")
        piped = run_xpu("check", "llama-cpp", url, "--timeout", "2.5")
    assert code == piped.returncode == Exit.FAILED, (terminal, piped.stderr)
    assert f"xpu: checking llama-cpp at {url} ... 0 s (timeout 2.5 s)" in terminal
    assert "... 2 s (timeout 2.5 s)" in terminal  # updated in place (\r), once a second
    last = terminal.rsplit("\r", 1)[-1]
    assert "checking" not in last and out == piped.stdout  # cleared before the result
    assert "checking" not in piped.stderr and "\r" not in piped.stderr and "\r" not in piped.stdout
