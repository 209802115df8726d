"""xpu_tool.deadline: the one retry under every polling wait, and call_by for calls that cannot be
interrupted."""

from __future__ import annotations

import threading
import time

import pytest

from xpu_tool.deadline import Deadline, call_by, retry


def test_retry_returns_the_first_done_attempt_and_its_value() -> None:
    calls: list[int] = []

    def attempt() -> tuple[bool, int]:
        calls.append(len(calls))
        return len(calls) == 3, len(calls)

    assert retry(attempt, Deadline.after(5), interval=0.01) == (True, 3)
    assert len(calls) == 3


def test_retry_stops_before_an_attempt_would_start_past_the_deadline() -> None:
    started = time.monotonic()
    calls: list[float] = []

    def attempt() -> tuple[bool, str]:
        calls.append(time.monotonic() - started)
        return False, f"attempt {len(calls)}"

    done, last = retry(attempt, Deadline.after(0.5), interval=0.1)
    assert not done and last == f"attempt {len(calls)}"  # the caller's error names what it saw last
    assert 3 <= len(calls) <= 6 and calls[-1] < 0.5


def test_retry_lets_an_attempt_end_the_wait_with_its_own_error() -> None:
    def attempt() -> tuple[bool, None]:
        raise RuntimeError("unit reached state failed")

    started = time.monotonic()
    with pytest.raises(RuntimeError, match="state failed"):
        retry(attempt, Deadline.after(30))
    assert time.monotonic() - started < 1


def test_call_by_returns_the_result_or_the_calls_own_error() -> None:
    assert call_by(lambda: 42, Deadline.after(1), name="answer") == 42

    def broken() -> None:
        raise PermissionError("write error: Permission denied")

    with pytest.raises(PermissionError, match="Permission denied"):
        call_by(broken, Deadline.after(1), name="broken")


def test_call_by_gives_up_a_hanging_call_at_the_deadline() -> None:
    release = threading.Event()
    started = time.monotonic()
    with pytest.raises(TimeoutError, match=r"no answer within 0\.3 s"):
        call_by(release.wait, Deadline.after(0.3), name="hangs")
    assert 0.3 <= time.monotonic() - started < 0.5
    release.set()


def test_call_by_follows_a_deadline_that_comes_sooner() -> None:
    """A callable deadline is asked again as the wait goes on (the passthrough's give-back after a
    signal shrinks its bound this way)."""
    release = threading.Event()
    own, hurry = Deadline.after(30), Deadline.after(0.3)
    asked: list[Deadline] = []

    def bound() -> Deadline:
        asked.append(hurry if len(asked) > 1 else own)
        return asked[-1]

    started = time.monotonic()
    with pytest.raises(TimeoutError):
        call_by(release.wait, bound, name="hangs")
    assert time.monotonic() - started < 0.5
    release.set()


def test_call_by_ends_at_once_when_interrupted() -> None:
    release = threading.Event()
    signalled = threading.Timer(0.2, lambda: None)
    signalled.start()
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        call_by(release.wait, Deadline.after(30), name="hangs", interrupted=lambda: not signalled.is_alive())
    assert time.monotonic() - started < 0.4
    release.set()
