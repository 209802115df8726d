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
from .watched_session import deadline_session, watchdog_of

MARGIN = 0.5  # seconds a call may take past its deadline, to unwind and close
MAX_BYTES = 16 * 1024 * 1024  # default body limit
MAX_REDIRECTS = 5
QUOTE = 200  # characters of a peer's answer a message may quote


class HttpError(Exception):
    """An exchange that did not give a complete, well-formed answer in time.

    ``kind``: ``bad-url``, ``unreachable`` (name lookup, connection or TLS failed), ``timeout``,
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
    return shown[: limit + 1] + f"'... ({len(data)} bytes)"


def dns_host(hostname: str) -> str:
    """``hostname`` as the resolver, TLS and the Host header take it: ASCII, international names
    IDNA-encoded (as getaddrinfo would encode them); ValueError saying why it cannot be (a label
    empty or over 63 characters, characters IDNA refuses)."""
    try:
        return hostname.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise ValueError(f"its host cannot be encoded for DNS (IDNA): {exc.__cause__ or exc}") from None


def check_url(url: str) -> str:
    """``url`` if it is a whole http(s) URL: a host DNS can take, closed IPv6 brackets, a port
    from 1 to 65535 if any; otherwise ValueError with the reason alone ("no host", "port 0", ...),
    for the caller's "URL is not an http(s) URL (REASON)". The one URL check of the tool: the
    command line, the inventory and every call use it."""
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port  # ValueError when out of range or not a number
    except ValueError as exc:
        raise ValueError(str(exc)) from None
    if parts.scheme not in ("http", "https"):
        raise ValueError("it must start with http:// or https://")
    if not parts.hostname:
        raise ValueError("no host")
    if port == 0:
        raise ValueError("port 0")
    dns_host(parts.hostname)  # ValueError naming why DNS cannot take it
    return url


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


class Exchange:
    """One request and its response, the body read incrementally under the deadline (``open_exchange``)."""

    def __init__(self, url: str, response: requests.Response, session: requests.Session, max_bytes: int) -> None:
        self.url = url
        self.status = response.status_code
        self.headers = {k.lower(): v for k, v in response.headers.items()}
        self._response = response
        self._session = session
        self._watchdog = watchdog_of(session)
        self._max_bytes = max_bytes
        self._received = 0
        encoding = self.headers.get("content-encoding", "identity").strip().lower()
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
    exc = _cause(exc, OSError, http.client.HTTPException) or exc
    text = str(exc) if not isinstance(exc, OSError) else (exc.strerror or str(exc))
    return f"{type(exc).__name__}: {quote(text)}" if text else type(exc).__name__


def _send_failure(exc: BaseException, url: str, deadline: Deadline, session: requests.Session) -> HttpError:
    """What a failure before the response's headers says, as one HttpError."""
    parts = urllib.parse.urlsplit(url)
    where = f"{parts.hostname}:{parts.port or (443 if parts.scheme == 'https' else 80)}"
    if isinstance(exc, requests.TooManyRedirects):
        return HttpError("redirects", f"{url}: more than {session.max_redirects} redirects")
    timeout = HttpError("timeout", f"{url}: no answer within {deadline.seconds:g} s")
    if watchdog_of(session).fired:
        return timeout
    if lookup := _cause(exc, socket.gaierror):
        return HttpError("unreachable", f"cannot resolve {parts.hostname}: {lookup}")
    if refused := _cause(exc, urllib3.exceptions.NewConnectionError):  # urllib3 counts it a timeout: it is not
        failure = _cause(refused.__cause__ or refused.__context__, OSError)
        if isinstance(failure, TimeoutError):
            return timeout
        reason = (failure.strerror if isinstance(failure, OSError) else None) or str(refused)
        return HttpError("unreachable", f"cannot connect to {where}: {reason}", reason=reason)
    if isinstance(exc, requests.Timeout) or _cause(exc, TimeoutError, urllib3.exceptions.TimeoutError):
        return timeout
    if tls := _cause(exc, ssl.SSLError):
        reason = f"TLS: {quote(str(tls))}"
        return HttpError("unreachable", f"cannot connect to {where}: {reason}", reason=reason)
    return HttpError("protocol", f"{url}: no valid HTTP answer: {_describe(exc)}")


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
        raise HttpError("bad-url", f"{quote(url, 60)} is not an http(s) URL ({exc})") from None
    if deadline.passed():
        raise HttpError("timeout", f"{url}: no time left of {deadline.seconds:g} s")
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
        watchdog.stop()
        session.close()
        raise failure from None
    return Exchange(response.url or url, response, session, max_bytes)


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
