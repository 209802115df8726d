"""The Ollama client and `xpu check ollama`'s check against Ollamas that misbehave on loopback:
each call ends by its deadline plus xpu_tool.http.MARGIN with an OllamaError naming what
happened; an answer of the wrong shape is named, never a traceback."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from xpu_testkit.process import free_port
from xpu_tool.http import MARGIN
from xpu_tool.services.ollama import OllamaClient, OllamaError, check_ollama

from .misbehaving import (
    Behaviour,
    MisbehavingServer,
    answer,
    bad_gzip,
    endless_chunks,
    redirect_loop,
    routes,
    silent,
    trickle,
)

VERSION = answer({"version": "0.9.0"})
GOOD_FINAL = {
    "response": "",
    "done": True,
    "eval_count": 8,
    "eval_duration": 10**8,
    "prompt_eval_count": 4,
    "load_duration": 1,
    "total_duration": 2,
}


def _ollama(generate: Behaviour, **more: Behaviour) -> MisbehavingServer:
    """An Ollama that creates models (blob upload, /api/create) and answers generate with ``generate``."""
    return MisbehavingServer(
        routes(
            {
                "/api/version": VERSION,
                "/api/blobs/": answer(b""),
                "/api/create": answer({"status": "success"}),
                "/api/generate": generate,
                "/api/ps": answer({"models": []}),
                "/api/delete": answer(b""),
                **more,
            }
        )
    )


@pytest.mark.parametrize(
    "behaviour", [endless_chunks(), trickle(0.05), silent], ids=["endless-body", "slow-body", "silent"]
)
@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_generate_ends_by_its_timeout(behaviour: Behaviour, stream: bool) -> None:
    with _ollama(behaviour) as peer:
        started = time.monotonic()
        with pytest.raises(OllamaError) as caught:
            OllamaClient(peer.url, read_timeout=1).generate("m", "hi", stream=stream)
        assert time.monotonic() - started < 1 + MARGIN
    assert caught.value.kind == "timeout"
    assert ("not done after 1 s" if stream else "did not answer POST /api/generate within 1 s") in str(caught.value)


def test_the_whole_check_is_bounded_and_names_the_failure(tmp_path: Path) -> None:
    with _ollama(endless_chunks()) as peer:
        started = time.monotonic()
        result = check_ollama(peer.url, timeout=1)
        elapsed = time.monotonic() - started
    assert elapsed < 3 * (1 + MARGIN)  # version, create and generate each bounded by 1 s; only generate hangs
    assert not result.ok and [f.id for f in result.findings] == ["ollama-generate-failed"]
    assert "did not answer POST /api/generate within 1 s" in result.findings[0].evidence[0]


@pytest.mark.parametrize(
    "final, named",
    [
        ({**GOOD_FINAL, "eval_count": "8"}, "eval_count is '\"8\"', not a count"),
        ({**GOOD_FINAL, "eval_duration": -1}, "eval_duration is '-1', not a count"),
        ({**GOOD_FINAL, "total_duration": 1.5}, "total_duration is '1.5', not a count"),
        ({k: v for k, v in GOOD_FINAL.items() if k != "eval_count"}, "lacks eval_count"),
    ],
    ids=["string-counter", "negative", "float", "missing"],
)
def test_counters_of_the_wrong_type_are_named(final: dict, named: str) -> None:
    with _ollama(answer(final)) as peer, pytest.raises(OllamaError, match="generate response") as caught:
        OllamaClient(peer.url, read_timeout=5).generate("m", "hi")
    assert named in str(caught.value) and caught.value.kind == "bad-body"


@pytest.mark.parametrize(
    "path, reply, call",
    [
        ("/api/version", [1, 2], lambda c: c.version()),
        ("/api/version", {"version": ["0.9"]}, lambda c: c.version()),
        ("/api/tags", {"models": {"a": 1}}, lambda c: c.tags()),
        ("/api/ps", {"models": ["m"]}, lambda c: c.ps()),
        ("/api/ps", {"models": [{"name": "m", "size": "big", "size_vram": 0}]}, lambda c: c.ps()),
    ],
    ids=["version-list", "version-not-string", "tags-dict", "ps-strings", "ps-size-string"],
)
def test_answers_of_the_wrong_shape_are_named(path: str, reply: object, call: Callable[[OllamaClient], object]) -> None:
    with MisbehavingServer(routes({path: answer(reply)})) as peer, pytest.raises(OllamaError) as caught:
        call(OllamaClient(peer.url, read_timeout=5))
    assert caught.value.kind == "bad-body", str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    "behaviour, kind, text",
    [
        (answer(b"E" * 10_000_000, status=500), "status", "HTTP 500"),
        (answer({"error": "x" * 100_000}, status=500), "status", "HTTP 500"),
        (redirect_loop, "redirects", "more than 5 redirects"),
        (bad_gzip, "bad-body", "bad gzip body"),
        (answer(b"\xff\xfe not json"), "bad-body", "not JSON"),
    ],
    ids=["10-MB-error-page", "10-kB-error-field", "redirect-loop", "bad-gzip", "binary"],
)
def test_a_broken_answer_is_one_short_line(behaviour: Behaviour, kind: str, text: str) -> None:
    with MisbehavingServer(behaviour) as peer, pytest.raises(OllamaError) as caught:
        OllamaClient(peer.url, read_timeout=5).version()
    message = str(caught.value)
    assert caught.value.kind == kind and text in message
    assert "\n" not in message and len(message) < 500, message


@pytest.mark.parametrize(
    "behaviour, finding, says",
    [
        (redirect_loop, "ollama-api-error", "answers, but not as its API should (redirects)"),
        (bad_gzip, "ollama-api-error", "answers, but not as its API should (bad-body)"),
        (routes({"/api/version": answer([1, 2])}), "ollama-api-error", "answers, but not as its API should (bad-body)"),
        (answer(b"E" * 10_000_000, status=500), "ollama-http-error", "answers /api/version with HTTP 500"),
        (silent, "ollama-timeout", "does not answer in time"),
    ],
    ids=["redirect-loop", "bad-gzip", "list-for-object", "10-MB-500", "silent"],
)
def test_a_server_that_answers_badly_is_not_called_down(behaviour: Behaviour, finding: str, says: str) -> None:
    with MisbehavingServer(behaviour) as peer:
        result = check_ollama(peer.url, timeout=2)
    assert not result.ok and [f.id for f in result.findings] == [finding]
    assert result.findings[0].title.endswith(says), result.findings[0].title
    assert "start the service" not in result.findings[0].fix


def test_a_closed_port_is_unreachable() -> None:
    result = check_ollama(f"http://127.0.0.1:{free_port()}", timeout=2)
    assert [f.id for f in result.findings] == ["ollama-unreachable"]
    assert "does not answer" in result.findings[0].title and "start the service" in result.findings[0].fix
