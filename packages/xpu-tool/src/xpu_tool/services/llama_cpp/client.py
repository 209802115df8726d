"""A client of llama-server's HTTP API (llama.cpp ``tools/server``) for end-to-end checks.

``GET /health`` (503 while the model loads: waited for within the deadline), ``GET /props``
(``build_info``, ``model_path``, ``total_slots``), ``GET /v1/models`` and ``POST /completion`` with a
fixed seed, temperature 0 and no prompt cache, whose answer carries the server's own counters
(``tokens_predicted``, ``tokens_evaluated``) and ``timings``. Every call goes through the services'
ApiClient (``services/api.py``: the bounded HTTP client, one wording of failures) under one deadline
for the client; an answer of the wrong shape (a list for an object, a count as a string) is a
LlamaCppError naming the field.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, ClassVar

from ... import http
from ...deadline import Deadline, retry
from ..api import ApiClient, ServiceError

API_TIMEOUT = 30.0  # health, props, models: each at most this, within the client's deadline
COMPLETION_TIMEOUT = 600.0  # a completion, for a client without a deadline of its own
HEALTH_POLL = 0.5  # seconds between /health calls while the model loads


class LlamaCppError(ServiceError):
    """llama-server did not answer as its API says it should (``kind``: see ServiceError; also
    ``loading``: still loading its model when the time was up)."""


@dataclass(frozen=True)
class Props:
    """What /props says about the server (no device: that is only in its log)."""

    build_info: str
    model_path: str
    total_slots: int | None


@dataclass(frozen=True)
class Timings:
    """The server's own timings of one completion (milliseconds, tokens per second)."""

    prompt_n: int
    prompt_ms: float
    prompt_per_second: float
    predicted_n: int
    predicted_ms: float
    predicted_per_second: float


@dataclass(frozen=True)
class Completion:
    """One finished POST /completion."""

    content: str
    tokens_predicted: int
    tokens_evaluated: int
    timings: Timings | None
    stop_type: str | None = None

    @property
    def worked(self) -> bool:
        """The server says it generated: tokens counted, and timed."""
        t = self.timings
        return self.tokens_predicted > 0 and t is not None and t.predicted_n > 0 and t.predicted_ms > 0


def _wrong(where: str, key: str, value: Any, what: str, answer: Any) -> LlamaCppError:
    return LlamaCppError(
        f"{where}: {key} is {http.quote(json.dumps(value), 60)}, not {what}",
        kind="bad-body",
        body=json.dumps(answer)[:2000],
    )


def _count(answer: dict[str, Any], key: str, where: str) -> int:
    value = answer.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _wrong(where, key, value, "a count", answer)
    return value


def _number(answer: dict[str, Any], key: str, where: str, *, nullable: bool = False) -> float:
    """A finite non-negative number; llama.cpp writes an infinite rate (0 ms) as null."""
    value = answer.get(key)
    if value is None and nullable and key in answer:
        return 0.0
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise _wrong(where, key, value, "a number", answer)
    return float(value)


def _text(answer: dict[str, Any], key: str, where: str, default: str | None = None) -> str:
    value = answer.get(key, default)
    if not isinstance(value, str):
        raise _wrong(where, key, value, "a string", answer)
    return value


def parse_timings(value: Any, where: str) -> Timings | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _wrong(where, "timings", value, "an object", value)
    w = f"{where} timings"
    return Timings(
        _count(value, "prompt_n", w),
        _number(value, "prompt_ms", w),
        _number(value, "prompt_per_second", w, nullable=True),
        _count(value, "predicted_n", w),
        _number(value, "predicted_ms", w),
        _number(value, "predicted_per_second", w, nullable=True),
    )


def parse_completion(answer: dict[str, Any]) -> Completion:
    where = "POST /completion"
    stop_type = answer.get("stop_type")
    return Completion(
        _text(answer, "content", where),
        _count(answer, "tokens_predicted", where),
        _count(answer, "tokens_evaluated", where),
        parse_timings(answer.get("timings"), where),
        stop_type if isinstance(stop_type, str) else None,
    )


@dataclass
class LlamaCppClient(ApiClient):
    """``deadline``: one bound over every call of this client (the check's ``--timeout``)."""

    base_url: str
    deadline: Deadline | None = None

    service: ClassVar[str] = "llama-server"
    error: ClassVar[type[ServiceError]] = LlamaCppError

    def _json(self, method: str, path: str, *, timeout: float | None = None, **kwargs: Any) -> dict[str, Any]:
        deadline = self.call_deadline(timeout or COMPLETION_TIMEOUT)
        return self.json_object(method, path, deadline=deadline, **kwargs)

    def health(self) -> str:
        """The status /health reports ("ok"); a 503 (loading) is a LlamaCppError with status 503."""
        answer = self._json("GET", "/health", timeout=API_TIMEOUT)
        return _text(answer, "status", "GET /health", "")

    def wait_until_ready(self) -> str:
        """/health until it is not 503 (the model is loading), within the client's deadline (without
        one: a 503 is the answer)."""

        def attempt() -> tuple[bool, str]:  # (ready, the status or why not)
            try:
                return True, self.health()
            except LlamaCppError as exc:
                if exc.status != 503:
                    raise
                return False, str(exc)

        if self.deadline is None:
            ready, said = attempt()
        else:
            ready, said = retry(attempt, self.deadline, interval=HEALTH_POLL)
        if ready:
            return said
        seconds = f" after {self.deadline.seconds:g} s" if self.deadline else ""
        raise LlamaCppError(
            f"{self.service} at {self.shown_url} was still loading its model{seconds} ({said})",
            kind="loading",
            status=503,
        )

    def props(self) -> Props:
        where = "GET /props"
        answer = self._json("GET", "/props", timeout=API_TIMEOUT)
        slots = answer.get("total_slots")
        return Props(
            _text(answer, "build_info", where, ""),
            _text(answer, "model_path", where, ""),
            slots if isinstance(slots, int) and not isinstance(slots, bool) else None,
        )

    def models(self) -> tuple[str, ...]:
        """The model ids of /v1/models (OpenAI's list shape)."""
        where = "GET /v1/models"
        answer = self._json("GET", "/v1/models", timeout=API_TIMEOUT)
        data = answer.get("data")
        if not isinstance(data, list) or not all(isinstance(m, dict) for m in data):
            raise _wrong(where, "data", data, "a list of objects", answer)
        return tuple(_text(m, "id", where) for m in data)

    def complete(self, prompt: str, *, n_predict: int = 16, seed: int = 42) -> Completion:
        """A deterministic completion (temperature 0, fixed seed, no prompt cache), not streamed."""
        body = {"prompt": prompt, "n_predict": n_predict, "temperature": 0, "seed": seed, "cache_prompt": False}
        return parse_completion(self._json("POST", "/completion", json_body=body))
