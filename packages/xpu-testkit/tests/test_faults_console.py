"""Console targets (backdoor://, serial://) under bad input and misbehaving peers: one-line errors
that name the console without its password and never quote the command sent, within the time
given. The peers are real Unix sockets served by the test: one silent, one that hangs up."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from xpu_tool.errors import ConfigError
from xpu_tool.transport.console import BackdoorShell, ConsoleError, SerialShell, open_console, parse_console_url

from .xpu_command import run_xpu, timed_run_xpu


def serve(path: Path, on_connect) -> Iterator[Path]:
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(4)
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            held.append(conn)
            on_connect(conn)

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield path
    finally:
        server.close()
        for conn in held:
            conn.close()


@pytest.fixture
def silent_console(tmp_path: Path) -> Iterator[Path]:
    """A console socket that accepts and never says anything (a VM whose shell is not there)."""
    yield from serve(tmp_path / "silent.sock", lambda conn: None)


@pytest.fixture
def hanging_up_console(tmp_path: Path) -> Iterator[Path]:
    """A console socket that reads what it is sent, then hangs up (a VM that dies meanwhile)."""

    def read_then_close(conn: socket.socket) -> None:
        conn.recv(65536)
        conn.close()

    yield from serve(tmp_path / "hangup.sock", read_then_close)


@pytest.mark.parametrize("value", ["abc", "nan", "inf", "-1", "0", "1e9", ""])
def test_a_timeout_that_is_no_number_of_seconds(value: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_console_url(f"serial:///run/serial.sock?user=root&password=s3cret&timeout={value}")
    message = str(err.value)
    assert message.startswith("target serial:///run/serial.sock: timeout=") and "\n" not in message
    assert "s3cret" not in message


@pytest.mark.parametrize(
    "url, message",
    [
        ("backdoor://host/shell.sock", "names no socket"),
        ("backdoor:///shell.sock?user=root", "unknown option 'user'"),
        ("serial:///serial.sock?timeout=1&timeout", "malformed query"),
    ],
)
def test_malformed_console_urls(url: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_console_url(url)


def test_a_silent_backdoor_is_one_line_within_its_timeout(silent_console: Path) -> None:
    started = time.monotonic()
    with pytest.raises(ConsoleError) as err:
        open_console(f"backdoor://{silent_console}?timeout=1")
    assert time.monotonic() - started < 5
    assert str(err.value) == f"target backdoor://{silent_console}: no answer from a backdoor shell within 1 s"


def test_a_silent_serial_console_never_shows_the_password(silent_console: Path) -> None:
    with pytest.raises(ConsoleError) as err:
        open_console(f"serial://{silent_console}?password=s3cret&timeout=1")
    assert str(err.value) == (
        f"target serial://{silent_console}: no login prompt or shell on the serial console within 1 s"
    )


def test_a_console_that_hangs_up_mid_command_never_quotes_the_command(hanging_up_console: Path) -> None:
    script = "python3 - <<'EOF'\nimport ctypes\nprint('a probe script')\nEOF"
    for shell in (BackdoorShell, SerialShell):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(str(hanging_up_console))
        with pytest.raises(ConsoleError) as err:
            shell(sock).run(script, timeout=2)
        assert "\n" not in str(err.value) and "probe" not in str(err.value) and "python3" not in str(err.value)
        assert str(err.value).startswith("console closed while")


def test_doctor_on_a_serial_console_with_a_nan_timeout(silent_console: Path) -> None:
    run = run_xpu("doctor", "--target", f"serial://{silent_console}?timeout=nan", timeout=60)
    assert run.returncode == 2 and len(run.stderr.splitlines()) == 1 and "Traceback" not in run.stderr, run.stderr
    assert "timeout" in run.stderr and "nan" in run.stderr


def test_a_console_url_without_timeout_takes_the_given_default() -> None:
    assert parse_console_url("backdoor:///run/shell.sock").timeout == 30
    assert parse_console_url("backdoor:///run/shell.sock", 3).timeout == 3
    assert parse_console_url("backdoor:///run/shell.sock?timeout=7", 3).timeout == 7  # the URL's own wins


def test_doctors_timeout_bounds_opening_a_silent_console(silent_console: Path) -> None:
    run, elapsed = timed_run_xpu("doctor", "--target", f"backdoor://{silent_console}", "--timeout", "2", timeout=60)
    assert elapsed < 2 + 4, f"{elapsed:.1f} s"  # + starting Python and importing xpu_testkit
    assert run.returncode == 4 and "Traceback" not in run.stderr, run.stderr
    assert run.stderr.strip().splitlines() == [
        f"xpu: error: target backdoor://{silent_console}: no answer from a backdoor shell within 2 s"
    ]


def test_the_console_urls_own_timeout_wins_over_doctors(silent_console: Path) -> None:
    run, elapsed = timed_run_xpu(
        "doctor", "--target", f"backdoor://{silent_console}?timeout=1", "--timeout", "20", timeout=60
    )
    assert elapsed < 1 + 4, f"{elapsed:.1f} s"
    assert run.returncode == 4 and run.stderr.strip().endswith("no answer from a backdoor shell within 1 s"), run.stderr
