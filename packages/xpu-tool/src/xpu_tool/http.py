"""HTTP on requests with whole-exchange deadlines: every call ends by its deadline, whatever the peer does.

requests' ``timeout`` bounds each socket operation, not the response: a peer that sends one byte
a second, or a chunked body that never ends, holds it forever. Here one ``Deadline`` covers the
name lookup, the connection, the request, the headers and the whole body, across redirects and
across the calls that share it:

- the request, up to the response's headers, runs under ``deadline.call_by`` (a name lookup cannot
  be interrupted; the caller stops waiting for it at the deadline);
- every socket the call opens is handed to a ``Watchdog`` (``watched_session.py``), which shuts it
  down when the deadline passes, waking any read blocked on it: the body is streamed and read
  under the same deadline, and the connection is closed once it has passed.

A call returns at most ``MARGIN`` seconds after its deadline. Bodies are read up to a byte limit;
gzip/deflate bodies are inflated up to the same limit. Every failure is an ``HttpError`` with a
``kind`` and a one-line message quoting at most ``QUOTE`` characters of what was received.
"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import urllib.parse
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import requests
import urllib3.exceptions

from .deadline import Deadline, call_by
from .urls import check_url, redact
from .watched_session import deadline_session, watchdog_of

MARGIN = 0.5  # seconds a call may take past its deadline, to unwind and close
MAX_BYTES = 16 * 1024 * 1024  # default body limit
MAX_REDIRECTS = 5
QUOTE = 200  # characters of a peer's answer a message may quote


class HttpError(Exception):
    """An exchange that did not give a complete, well-formed answer in time.

    ``kind``: ``bad-url``, ``unreachable`` (name lookup or connection failed), ``tls`` (the TLS
    handshake failed: an untrusted certificate, a plain-HTTP port), ``timeout``,
    ``too-large``, ``redirects``, ``protocol`` (broken HTTP), ``bad-body`` (bad gzip, not JSON, a
    JSON value of the wrong shape) or ``status`` (an HTTP error status; ``status`` and ``body``
    hold it). ``reason`` is the message without the address, for a caller that names the service
    itself ("cannot connect to Ollama at URL: Connection refused").
    """

    def __init__(
        self, kind: str, message: str, *, status: int | None = None, body: bytes = b"", reason: str = ""
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.status = status
        self.body = body
        self.reason = reason or message


def quote(data: bytes | str, limit: int = QUOTE) -> str:
    """At most ``limit`` characters of ``data``, on one line, saying how much more there was."""
    text = data.decode("utf-8", errors="replace") if isinstance(data, bytes) else data
    text = " ".join(text.split())
    shown = repr(text[:limit])
    if len(shown) <= limit + 2 and len(text) <= limit:
        return shown
    return shown[: limit + 1] + f"'... ({len(data)} {'bytes' if isinstance(data, bytes) else 'characters'})"


@dataclass(frozen=True)
class Response:
    """A complete answer: status, headers (lower-case names), the (inflated) body."""

    url: str
    status: int
    headers: Mapping[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except (ValueError, RecursionError):
            raise HttpError(
                "bad-body", f"{self.url}: not JSON: {quote(self.body)}", status=self.status, body=self.body
            ) from None

    def json_object(self) -> dict[str, Any]:
        """The body as a JSON object; a list, a string or a number where an object belongs is an error."""
        value = self.json()
        if not isinstance(value, dict):
            raise HttpError(
                "bad-body",
                f"{self.url}: expected a JSON object, got {type(value).__name__}: {quote(self.body)}",
                status=self.status,
                body=self.body,
            )
        return value

    def raise_for_status(self) -> Response:
        if self.status >= 400:
            raise HttpError(
                "status", f"{self.url}: HTTP {self.status}: {quote(self.body)}", status=self.status, body=self.body
            )
        return self


def _whole_length(value: str) -> bool:
    """A Content-Length that is one non-negative whole number (repeated alike, as RFC 9110 allows)."""
    values = {part.strip() for part in value.split(",")}
    return len(values) == 1 and values.pop().isdigit()


class Exchange:
    """One request and its response, the body read incrementally under the deadline (``open_exchange``)."""

    def __init__(self, url: str, response: requests.Response, session: requests.Session, max_bytes: int) -> None:
        self.url = url  # as messages show it: no password
        self.status = response.status_code
        self.headers = {k.lower(): v for k, v in response.headers.items()}
        self._response = response
        self._session = session
        self._watchdog = watchdog_of(session)
        self._max_bytes = max_bytes
        self._received = 0
        length = self.headers.get("content-length")
        if length is not None and not _whole_length(length):
            self.close()
            raise HttpError("protocol", f"{url}: a bad Content-Length {quote(length)}", status=self.status)
        encoding = self.headers.get("content-encoding", "identity").strip().lower()
        self._raw_deflate_possible = encoding == "deflate"  # some servers send deflate without its zlib header
        if encoding in ("gzip", "x-gzip", "deflate"):
            self._inflate: Any = zlib.decompressobj(47)  # gzip or zlib header, detected
        elif encoding in ("identity", ""):
            self._inflate = None
        else:
            self.close()
            raise HttpError("bad-body", f"{url}: unsupported Content-Encoding {quote(encoding)}")

    def __enter__(self) -> Exchange:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._watchdog.stop()
        self._response.close()
        self._session.close()

    def chunks(self) -> Iterator[bytes]:
        """The body as it arrives (inflated), until it ends, the byte limit or the deadline."""
        while True:
            try:
                raw = self._response.raw.read1(65536, decode_content=False)
            except (OSError, urllib3.exceptions.HTTPError, http.client.HTTPException, ValueError) as exc:
                raise self._failure(exc) from None
            if self._watchdog.fired:
                raise self._timeout()
            if not raw:
                if self._inflate is not None and not self._inflate.eof:
                    raise HttpError("bad-body", f"{self.url}: the compressed body is cut short")
                return
            data = self._inflated(raw)
            self._received += len(data)
            if self._received > self._max_bytes:
                raise HttpError(
                    "too-large",
                    f"{self.url}: the answer is larger than {self._max_bytes} bytes (it starts {quote(data)})",
                    status=self.status,
                )
            if data:
                yield data

    def _inflated(self, raw: bytes) -> bytes:
        if self._inflate is None:
            return raw
        if self._raw_deflate_possible:  # decided on the first bytes: a zlib header, or raw deflate
            self._raw_deflate_possible = False
            if len(raw) >= 2 and not (raw[0] & 0x0F == 8 and (raw[0] << 8 | raw[1]) % 31 == 0):
                self._inflate = zlib.decompressobj(-15)
        try:
            data: bytes = self._inflate.decompress(raw, self._max_bytes + 1 - self._received)
        except zlib.error as exc:
            raise HttpError(
                "bad-body",
                f"{self.url}: bad {self.headers.get('content-encoding')} body ({exc}): {quote(raw)}",
                status=self.status,
            ) from None
        return data

    def read(self) -> bytes:
        return b"".join(self.chunks())

    def lines(self, max_line: int = 1024 * 1024) -> Iterator[bytes]:
        """The body's lines (newline-delimited JSON streams), each at most ``max_line`` bytes."""
        pending = b""
        for data in self.chunks():
            pending += data
            *complete, pending = pending.split(b"\n")
            yield from complete
            if len(pending) > max_line:
                raise HttpError("too-large", f"{self.url}: a line longer than {max_line} bytes: {quote(pending)}")
        if pending:
            yield pending

    def _timeout(self) -> HttpError:
        return HttpError(
            "timeout",
            f"{self.url}: no complete answer within {self._watchdog.deadline.seconds:g} s "
            f"({self._received} bytes of body received)",
            status=self.status,
        )

    def _failure(self, exc: BaseException) -> HttpError:
        if self._watchdog.fired or _cause(exc, TimeoutError, urllib3.exceptions.TimeoutError):
            return self._timeout()
        if short := _cause(exc, urllib3.exceptions.IncompleteRead):
            return HttpError(
                "protocol", f"{self.url}: the answer broke off before its Content-Length ({short})", status=self.status
            )
        return HttpError("protocol", f"{self.url}: the answer broke off: {_describe(exc)}", status=self.status)


def _cause(exc: BaseException | None, *types: type[BaseException]) -> BaseException | None:
    """The first exception of ``types`` in ``exc``'s chain (causes, contexts, urllib3's reasons)."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, types):
            return exc
        reason = getattr(exc, "reason", None)
        inner = exc.args[0] if exc.args and isinstance(exc.args[0], BaseException) else None
        exc = reason if isinstance(reason, BaseException) else inner or exc.__cause__ or exc.__context__
    return None


def _describe(exc: BaseException) -> str:
    """The innermost useful error of a chain, named: what http.client or the socket said, not the
    requests and urllib3 wrappers around it."""
    inner: BaseException = exc
    for kind in (http.client.HTTPException, OSError):
        found = _cause(exc, kind)
        while isinstance(found, (requests.RequestException, urllib3.exceptions.HTTPError)):
            found = _cause(found.__cause__ or found.__context__ or _first_arg(found), kind)
        if found is not None:
            inner = found
            break
    text = inner.strerror if isinstance(inner, OSError) and inner.strerror else str(inner)
    return f"{type(inner).__name__}: {quote(text)}" if text else type(inner).__name__


def _first_arg(exc: BaseException) -> BaseException | None:
    """What a requests or urllib3 error wraps, when it holds it as its first argument or reason."""
    reason = getattr(exc, "reason", None)
    if isinstance(reason, BaseException):
        return reason
    return next((a for a in exc.args if isinstance(a, BaseException)), None)


TLS_HINTS = {
    "CERTIFICATE_VERIFY_FAILED": "its certificate is not trusted: add its CA to the system's trust store "
    "or point SSL_CERT_FILE at it",
    "WRONG_VERSION_NUMBER": "it does not speak TLS there: use http://",
}


def _send_failure(exc: BaseException, url: str, deadline: Deadline, session: requests.Session) -> HttpError:
    """What a failure before the response's headers says, as one HttpError. A failure of where a
    redirect led is the answer's fault (``protocol``), not the service's being unreachable."""
    shown = redact(url)
    if isinstance(exc, requests.TooManyRedirects):
        return HttpError("redirects", f"{shown}: more than {session.max_redirects} redirects")
    timeout = HttpError("timeout", f"{shown}: no answer within {deadline.seconds:g} s")
    if watchdog_of(session).fired:
        return timeout
    failing = str(getattr(getattr(exc, "request", None), "url", None) or url)
    parts = urllib.parse.urlsplit(failing)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    kind, reason = "unreachable", ""
    if lookup := _cause(exc, socket.gaierror):
        reason = f"cannot resolve {parts.hostname}: {lookup}"
    elif refused := _cause(exc, urllib3.exceptions.NewConnectionError):  # urllib3 counts it a timeout: it is not
        failure = _cause(refused.__cause__ or refused.__context__, OSError)
        if isinstance(failure, TimeoutError):
            return timeout
        reason = (failure.strerror if isinstance(failure, OSError) else None) or str(refused)
    elif isinstance(exc, requests.Timeout) or _cause(exc, TimeoutError, urllib3.exceptions.TimeoutError):
        return timeout
    elif tls := _cause(exc, ssl.SSLError):
        said = getattr(tls, "reason", None) or str(tls)
        hint = next((h for code, h in TLS_HINTS.items() if code in str(tls)), "")
        kind, reason = "tls", f"TLS failed ({said})" + (f": {hint}" if hint else "")
    else:
        return HttpError("protocol", f"{shown}: no valid HTTP answer: {_describe(exc)}")
    original = urllib.parse.urlsplit(url)
    if (parts.scheme, parts.hostname, parts.port) != (original.scheme, original.hostname, original.port):
        return HttpError("protocol", f"{shown}: redirected to {quote(redact(failing), 80)}, where: {reason}")
    where = reason if reason.startswith("cannot resolve") else f"cannot connect to {parts.hostname}:{port}: {reason}"
    return HttpError(kind, where, reason=reason)


def open_exchange(
    method: str,
    url: str,
    *,
    deadline: Deadline,
    json_body: Any = None,
    data: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    max_bytes: int = MAX_BYTES,
    max_redirects: int = MAX_REDIRECTS,
) -> Exchange:
    """Send the request (following redirects) and return the response with its body unread.

    The caller reads it through the Exchange (a context manager) and closes it.
    """
    try:
        check_url(url)
    except ValueError as exc:
        raise HttpError("bad-url", f"{quote(redact(url), 60)} is not an http(s) URL ({exc})") from None
    if deadline.passed():
        raise HttpError("timeout", f"{redact(url)}: no time left of {deadline.seconds:g} s")
    session = deadline_session(deadline, max_redirects)
    watchdog = watchdog_of(session)
    prepared = session.prepare_request(
        requests.Request(
            method,
            url,
            json=json_body,
            data=data,
            headers={"Accept-Encoding": "identity", "User-Agent": "xpu-tool", **(headers or {})},
        )
    )

    def send() -> requests.Response:
        per_operation = max(0.001, deadline.left())
        return session.send(prepared, stream=True, timeout=(per_operation, per_operation), allow_redirects=True)

    try:
        response = call_by(send, deadline, name=f"http {method} {url[:80]}")
    except (TimeoutError, requests.RequestException, urllib3.exceptions.HTTPError, OSError, ValueError) as exc:
        failure = _send_failure(exc, url, deadline, session)
        watchdog.fire()  # a request still going on in call_by's thread: its connection is closed now
        watchdog.stop()
        session.close()
        raise failure from None
    return Exchange(redact(response.url or url), response, session, max_bytes)


def request(
    method: str,
    url: str,
    *,
    deadline: Deadline,
    json_body: Any = None,
    data: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    max_bytes: int = MAX_BYTES,
    max_redirects: int = MAX_REDIRECTS,
) -> Response:
    """One complete exchange: the whole body read, within ``deadline`` (plus ``MARGIN``)."""
    with open_exchange(
        method,
        url,
        deadline=deadline,
        json_body=json_body,
        data=data,
        headers=headers,
        max_bytes=max_bytes,
        max_redirects=max_redirects,
    ) as exchange:
        body = b"" if method == "HEAD" else exchange.read()
        return Response(exchange.url, exchange.status, exchange.headers, body)


def get_json(
    url: str, *, deadline: Deadline, headers: Mapping[str, str] | None = None, max_bytes: int = MAX_BYTES
) -> dict[str, Any]:
    """GET a JSON object; an error status, non-JSON or another JSON type is an HttpError."""
    return request("GET", url, deadline=deadline, headers=headers, max_bytes=max_bytes).raise_for_status().json_object()
