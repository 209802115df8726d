"""Bounded HTTP: every exchange ends by a wall-clock deadline, whatever the peer does.

requests' ``timeout`` bounds each socket read, not the response: a peer that sends one byte a
second, or a chunked body that never ends, holds it forever. Here one ``Deadline`` covers the
name lookup, the connection, the request, the headers and the whole body, across redirects and
across the calls that share it. A watchdog shuts the socket down when it passes, so a call
returns at most ``MARGIN`` seconds after its deadline (the time to unwind and close). Bodies are
read up to a byte limit; gzip/deflate bodies are inflated up to the same limit.

Every failure is an ``HttpError`` with a ``kind`` and a one-line message quoting at most
``QUOTE`` characters of what was received: never a traceback, never a 10 MB error page.
"""

from __future__ import annotations

import http.client
import json
import math
import socket
import ssl
import threading
import time
import urllib.parse
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

MARGIN = 0.5  # seconds a call may take past its deadline, to unwind and close
MAX_BYTES = 16 * 1024 * 1024  # default body limit
MAX_REDIRECTS = 5
QUOTE = 200  # characters of a peer's answer a message may quote
REDIRECTS = (301, 302, 303, 307, 308)


class HttpError(Exception):
    """An exchange that did not give a complete, well-formed answer in time.

    ``kind``: ``bad-url``, ``unreachable`` (name lookup or connection failed), ``timeout``,
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


@dataclass(frozen=True)
class Deadline:
    """A point in time (monotonic clock) by which an operation must be over."""

    at: float
    seconds: float  # the budget it was made with, for messages

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        if not (math.isfinite(seconds) and seconds > 0):
            raise ValueError(f"a deadline needs a finite positive number of seconds, not {seconds!r}")
        return cls(time.monotonic() + seconds, seconds)

    def left(self) -> float:
        return self.at - time.monotonic()

    def sooner(self, seconds: float) -> Deadline:
        """This deadline or one ``seconds`` from now, whichever comes first."""
        other = Deadline.after(seconds)
        return other if other.at < self.at else self


def quote(data: bytes | str, limit: int = QUOTE) -> str:
    """At most ``limit`` characters of ``data``, on one line, saying how much more there was."""
    text = data.decode("utf-8", errors="replace") if isinstance(data, bytes) else data
    text = " ".join(text.split())
    shown = repr(text[:limit])
    if len(shown) <= limit + 2 and len(text) <= limit:
        return shown
    return shown[: limit + 1] + f"'... ({len(data)} bytes)"


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


@dataclass
class _Watchdog:
    """Shuts a socket down when the deadline passes, waking any read or write blocked on it."""

    deadline: Deadline
    sock: socket.socket | None = None
    fired: bool = False
    _timer: threading.Timer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def arm(self, sock: socket.socket) -> None:
        with self._lock:
            self.sock = sock
        self._timer = threading.Timer(max(0.0, self.deadline.left()), self._fire)
        self._timer.daemon = True
        self._timer.start()

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
            if self.sock is not None:
                try:  # the plain socket's shutdown: an SSLSocket's would drop its state under a reader
                    socket.socket.shutdown(self.sock, socket.SHUT_RDWR)
                except OSError:
                    pass

    def disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        with self._lock:
            self.sock = None


def dns_host(hostname: str) -> str:
    """``hostname`` as the resolver, TLS and the Host header take it: ASCII, international names
    IDNA-encoded (as getaddrinfo would encode them); ValueError saying why it cannot be (a label
    empty or over 63 characters, characters IDNA refuses)."""
    try:
        return hostname.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise ValueError(f"its host cannot be encoded for DNS (IDNA): {exc.__cause__ or exc}") from None


def _split(url: str) -> tuple[str, str, int, str]:
    """(scheme, host, port, path?query) of an http(s) URL, or HttpError bad-url; the host is ASCII (IDNA)."""
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise HttpError("bad-url", f"{quote(url)} is not a valid URL: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise HttpError("bad-url", f"{quote(url)} is not an http(s) URL")
    if not parts.hostname:
        raise HttpError("bad-url", f"{quote(url)} names no host")
    try:
        host = dns_host(parts.hostname)
    except ValueError as exc:
        raise HttpError("bad-url", f"{quote(url, 60)} is not a valid URL: {exc}") from None
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return parts.scheme, host, port or (443 if parts.scheme == "https" else 80), path


def _resolve(host: str, port: int, deadline: Deadline) -> list[tuple[Any, ...]]:
    """getaddrinfo bounded by the deadline (it cannot be interrupted: it runs in a daemon thread)."""
    box: dict[str, Any] = {}

    def lookup() -> None:
        try:
            box["addrs"] = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, ValueError) as exc:  # ValueError: a name the resolver cannot take (IDNA, NUL)
            box["error"] = exc

    worker = threading.Thread(target=lookup, daemon=True, name=f"resolve {host}")
    worker.start()
    worker.join(max(0.0, deadline.left()))
    if worker.is_alive():
        raise HttpError("timeout", f"looking up {host} took longer than {deadline.seconds:g} s")
    if "error" in box:
        raise HttpError("unreachable", f"cannot resolve {host}: {box['error']}")  # the reason names the host
    return box["addrs"]


def _connect(scheme: str, host: str, port: int, deadline: Deadline) -> socket.socket:
    last: OSError | None = None
    for family, kind, proto, _, address in _resolve(host, port, deadline):
        left = deadline.left()
        if left <= 0:
            break
        sock = socket.socket(family, kind, proto)
        try:
            sock.settimeout(left)
            sock.connect(address)
            if scheme == "https":
                sock = ssl.create_default_context().wrap_socket(sock, server_hostname=host)
            sock.settimeout(max(0.001, deadline.left()))
            return sock
        except OSError as exc:
            sock.close()
            last = exc
    if last is None or isinstance(last, TimeoutError):
        raise HttpError("timeout", f"connecting to {host}:{port} took longer than {deadline.seconds:g} s")
    reason = last.strerror or str(last) or type(last).__name__
    raise HttpError("unreachable", f"cannot connect to {host}:{port}: {reason}", reason=reason)


class Exchange:
    """One request and its response, read incrementally under a deadline (``open`` makes one)."""

    def __init__(
        self,
        url: str,
        response: http.client.HTTPResponse,
        conn: http.client.HTTPConnection,
        watchdog: _Watchdog,
        max_bytes: int,
    ) -> None:
        self.url = url
        self.status = response.status
        self.headers = {k.lower(): v for k, v in response.getheaders()}
        self._response = response
        self._conn = conn
        self._watchdog = watchdog
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
        self._watchdog.disarm()
        self._conn.close()

    def chunks(self) -> Iterator[bytes]:
        """The body as it arrives (inflated), until it ends, the byte limit or the deadline."""
        while True:
            try:
                raw = self._response.read1(65536)
            except (OSError, http.client.HTTPException, ValueError) as exc:
                raise self._failure(exc) from None
            if self._watchdog.fired:
                raise self._timeout()
            if not raw:
                if self._response.length:  # read1 returns b"" at a short Content-Length body
                    raise HttpError(
                        "protocol",
                        f"{self.url}: the answer broke off {self._response.length} bytes before its Content-Length",
                        status=self.status,
                    )
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
            return self._inflate.decompress(raw, self._max_bytes + 1 - self._received)
        except zlib.error as exc:
            raise HttpError(
                "bad-body",
                f"{self.url}: bad {self.headers.get('content-encoding')} body ({exc}): {quote(raw)}",
                status=self.status,
            ) from None

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
        if self._watchdog.fired or isinstance(exc, TimeoutError):
            return self._timeout()
        return HttpError("protocol", f"{self.url}: the answer broke off: {_describe(exc)}", status=self.status)


def _describe(exc: BaseException) -> str:
    text = str(exc) if not isinstance(exc, OSError) else (exc.strerror or str(exc))
    return f"{type(exc).__name__}: {quote(text)}" if text else type(exc).__name__


def _payload(
    json_body: Any, data: bytes | None, headers: Mapping[str, str] | None
) -> tuple[bytes | None, dict[str, str]]:
    out = {"Accept-Encoding": "identity", "User-Agent": "xpu-tool", **(headers or {})}
    if json_body is not None:
        out.setdefault("Content-Type", "application/json")
        return json.dumps(json_body).encode(), out
    return data, out


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
    body, header_map = _payload(json_body, data, headers)
    for _ in range(max_redirects + 1):
        exchange = _send(method, url, body, header_map, deadline, max_bytes)
        location = exchange.headers.get("location")
        if exchange.status not in REDIRECTS or not location:
            return exchange
        exchange.close()
        url = urllib.parse.urljoin(url, location)
        if exchange.status == 303 or (exchange.status in (301, 302) and method == "POST"):
            method, body = "GET", None
    raise HttpError("redirects", f"{url}: more than {max_redirects} redirects")


def _send(
    method: str, url: str, body: bytes | None, headers: dict[str, str], deadline: Deadline, max_bytes: int
) -> Exchange:
    scheme, host, port, path = _split(url)
    if deadline.left() <= 0:
        raise HttpError("timeout", f"{url}: no time left of {deadline.seconds:g} s")
    sock = _connect(scheme, host, port, deadline)
    watchdog = _Watchdog(deadline)
    watchdog.arm(sock)
    conn = http.client.HTTPConnection(host, port)
    conn.sock = sock
    try:
        default_port = 443 if scheme == "https" else 80
        conn.request(
            method, path, body=body, headers={"Host": host if port == default_port else f"{host}:{port}", **headers}
        )
        response = conn.getresponse()
    except (OSError, http.client.HTTPException, ValueError) as exc:
        watchdog.disarm()
        conn.close()
        if watchdog.fired or isinstance(exc, TimeoutError):
            raise HttpError("timeout", f"{url}: no answer within {deadline.seconds:g} s") from None
        raise HttpError("protocol", f"{url}: no valid HTTP answer: {_describe(exc)}") from None
    return Exchange(url, response, conn, watchdog, max_bytes)


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
