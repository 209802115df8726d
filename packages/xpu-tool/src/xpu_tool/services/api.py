"""What every service's API client shares: one error type and one way to call, over the bounded HTTP
client (xpu_tool.http: a whole-call deadline, a cap on the answer's size).

A client names its service and its error class, holds ``base_url`` and an optional ``deadline``
over all its calls, and calls ``request`` / ``json_object``; a failure is its error class worded the
same way for every service: ``cannot connect to NAME at URL: REASON`` (exit 4 in the CLI),
``NAME at URL did not answer METHOD PATH within S s``, ``METHOD PATH: HTTP N: MESSAGE``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, ClassVar

from .. import http
from ..deadline import Deadline
from ..errors import XpuError
from ..http import HttpError
from ..model import Finding, Severity
from ..urls import redact

MAX_ANSWER = 16 * 1024 * 1024


class ServiceError(XpuError):
    """A service did not answer as its API says it should.

    ``kind`` is the bounded HTTP client's (``timeout``, ``unreachable``, ``tls``, ``status``, ``bad-body``,
    ``protocol``, ...) or ``answer`` for a well-formed reply that says something is wrong; ``body``
    what the server sent with it, when that helps to name the cause.
    """

    def __init__(self, message: str, *, body: Any = "", status: int | None = None, kind: str = "answer") -> None:
        super().__init__(message)
        self.body = body
        self.status = status
        self.kind = kind


def error_message(body: bytes) -> str:
    """The message of a JSON error body (``{"error": "..."}`` as Ollama sends it, ``{"error":
    {"message": "..."}}`` as llama-server does), else the body itself, quoted."""
    try:
        error = json.loads(body).get("error")
    except (ValueError, AttributeError, RecursionError):
        error = None
    if isinstance(error, dict):
        error = error.get("message")
    return http.quote(error if isinstance(error, str) and error else body)


class ApiClient:
    """The calls of one service's API client; subclasses are dataclasses with ``base_url`` and
    ``deadline`` fields and set ``service`` (its name in messages) and ``error`` (what it raises)."""

    service: ClassVar[str]
    error: ClassVar[type[ServiceError]]
    base_url: str
    deadline: Deadline | None

    def url(self, path: str) -> str:
        return self.base_url.rstrip("/") + path

    @property
    def shown_url(self) -> str:
        """``base_url`` as messages show it: a password in it as ``***``."""
        return redact(self.base_url)

    def call_deadline(self, seconds: float) -> Deadline:
        """``seconds`` for one call, never past the client's own deadline."""
        return self.deadline.sooner(seconds) if self.deadline else Deadline.after(seconds)

    def failure(self, method: str, path: str, exc: HttpError, deadline: Deadline) -> ServiceError:
        """The client's error for a failed call, worded the same for every service."""
        if exc.kind in ("unreachable", "tls"):
            return self.error(f"cannot connect to {self.service} at {self.shown_url}: {exc.reason}", kind=exc.kind)
        if exc.kind == "timeout":
            return self.error(
                f"{self.service} at {self.shown_url} did not answer {method} {path} within "
                f"{deadline.seconds:g} s ({exc})",
                kind=exc.kind,
            )
        body = exc.body[:2000].decode("utf-8", errors="replace")
        if exc.kind == "status":
            return self.error(
                f"{method} {path}: HTTP {exc.status}: {error_message(exc.body)}",
                body=body,
                status=exc.status,
                kind=exc.kind,
            )
        return self.error(f"{method} {exc}", body=body, status=exc.status, kind=exc.kind)

    def request(
        self,
        method: str,
        path: str,
        *,
        deadline: Deadline,
        max_bytes: int = MAX_ANSWER,
        check_status: bool = True,
        **kwargs: Any,
    ) -> http.Response:
        """One call within ``deadline``; an HTTP error status is a failure unless ``check_status`` is off."""
        try:
            response = http.request(method, self.url(path), deadline=deadline, max_bytes=max_bytes, **kwargs)
            return response.raise_for_status() if check_status else response
        except HttpError as exc:
            raise self.failure(method, path, exc, deadline) from None

    def json_object(
        self, method: str, path: str, *, deadline: Deadline, max_bytes: int = MAX_ANSWER, **kwargs: Any
    ) -> dict[str, Any]:
        """One call whose answer must be a JSON object."""
        response = self.request(method, path, deadline=deadline, max_bytes=max_bytes, **kwargs)
        try:
            return response.json_object()
        except HttpError as exc:
            raise self.error(
                f"{method} {path}: {exc}", body=response.text[:2000], status=response.status, kind=exc.kind
            ) from None


# the finding id's suffix for each failure kind of a check's first call; any other kind is "api-error"
NO_ANSWER_IDS = {
    "unreachable": "unreachable",
    "tls": "tls",
    "timeout": "timeout",
    "status": "http-error",
    "loading": "loading",
}
# a TLS failure reads the same for every service: the server answers, but not with TLS we trust
TLS_FAILED = (
    "{url} fails the TLS handshake",
    "trust the server's certificate (its CA in the system's trust store, or SSL_CERT_FILE), "
    "or use http:// for a server that speaks plain HTTP",
)


def no_answer(prefix: str, url: str, exc: ServiceError, texts: Mapping[str, tuple[str, str]]) -> Finding:
    """What a check's failed first call says about the server, as one finding: ``texts`` maps a
    failure kind (``other`` for the rest) to its title and fix, with ``{url}``, ``{status}`` and
    ``{kind}`` filled in; the id is ``PREFIX-`` and the kind's suffix (NO_ANSWER_IDS)."""
    texts = {"tls": TLS_FAILED, **texts}
    kind = exc.kind if exc.kind in texts else "other"
    title, fix = texts[kind]
    return Finding(
        f"{prefix}-{NO_ANSWER_IDS.get(kind, 'api-error')}",
        Severity.FAIL,
        title.format(url=url, status=exc.status, kind=exc.kind),
        (str(exc),),
        fix=fix,
    )
