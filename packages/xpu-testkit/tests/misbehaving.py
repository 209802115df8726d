"""Peers that misbehave on purpose, for the fault tests: a raw TCP server on 127.0.0.1.

Each connection reads one request's head and hands the socket to a behaviour (``Behaviour``): send
a fixed answer, trickle a body a byte at a time, send chunks forever, say nothing. Every behaviour
checks the server's stop event between writes, so ``stop()`` ends them within a fraction of a
second; the server never outlives its ``with`` block.
"""

from __future__ import annotations

import gzip
import json
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Self

Behaviour = Callable[[socket.socket, bytes, threading.Event], None]


def _head(status: int, headers: dict[str, str]) -> bytes:
    lines = [f"HTTP/1.1 {status} X"] + [f"{k}: {v}" for k, v in headers.items()] + ["Connection: close", "", ""]
    return "\r\n".join(lines).encode()


def answer(body: bytes | Any, status: int = 200, headers: dict[str, str] | None = None) -> Behaviour:
    """A complete answer (``body`` that is not bytes is sent as JSON)."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()

    def behave(conn: socket.socket, request: bytes, stop: threading.Event) -> None:
        conn.sendall(_head(status, {"Content-Length": str(len(data)), **(headers or {})}) + data)

    return behave


def routes(table: dict[str, Behaviour], default: Behaviour | None = None) -> Behaviour:
    """The behaviour of the longest path prefix in ``table`` the request's path starts with."""
    fallback = default or answer({"error": "not found"}, 404)
    prefixes = sorted(table, key=len, reverse=True)

    def behave(conn: socket.socket, request: bytes, stop: threading.Event) -> None:
        path = request.split(b" ", 2)[1].decode() if request.count(b" ") >= 2 else "/"
        chosen = next((table[p] for p in prefixes if path.startswith(p)), fallback)
        chosen(conn, request, stop)

    return behave


def silent(conn: socket.socket, request: bytes, stop: threading.Event) -> None:
    """Accept, read the request, say nothing until stopped."""
    stop.wait()


def trickle(interval: float = 0.2, length: int = 100_000) -> Behaviour:
    """Headers at once, then a body of ``length`` bytes one byte per ``interval`` seconds."""

    def behave(conn: socket.socket, request: bytes, stop: threading.Event) -> None:
        conn.sendall(_head(200, {"Content-Type": "application/json", "Content-Length": str(length)}) + b"{")
        while not stop.wait(interval):
            conn.sendall(b" ")

    return behave


def endless_chunks(line: bytes = b'{"response":"x","done":false}\n', interval: float = 0.02) -> Behaviour:
    """A chunked body that never ends: ``line`` as one chunk every ``interval`` seconds."""

    def behave(conn: socket.socket, request: bytes, stop: threading.Event) -> None:
        conn.sendall(_head(200, {"Content-Type": "application/json", "Transfer-Encoding": "chunked"}))
        while not stop.wait(interval):
            conn.sendall(b"%x\r\n%s\r\n" % (len(line), line))

    return behave


def redirect_loop(conn: socket.socket, request: bytes, stop: threading.Event) -> None:
    path = request.split(b" ", 2)[1].decode()
    conn.sendall(_head(302, {"Location": path, "Content-Length": "0"}))


def bad_gzip(conn: socket.socket, request: bytes, stop: threading.Event) -> None:
    body = b"\x1f\x8b\x08\x00 this is not deflate data at all"
    conn.sendall(_head(200, {"Content-Encoding": "gzip", "Content-Length": str(len(body))}) + body)


def gzip_bomb(size: int) -> Behaviour:
    """A valid gzip body that inflates to ``size`` zero bytes."""
    body = gzip.compress(b"\0" * size)

    def behave(conn: socket.socket, request: bytes, stop: threading.Event) -> None:
        conn.sendall(_head(200, {"Content-Encoding": "gzip", "Content-Length": str(len(body))}) + body)

    return behave


@dataclass
class MisbehavingServer:
    """``with MisbehavingServer(behaviour) as peer:`` ... ``peer.url``; ``peer.requests`` counts heads."""

    behaviour: Behaviour
    requests: list[bytes] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _sock: socket.socket | None = None

    def __enter__(self) -> Self:
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.1)
        accept = threading.Thread(target=self._accept, daemon=True)
        accept.start()
        self._threads.append(accept)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in list(self._threads):
            thread.join(5)
        assert self._sock is not None
        self._sock.close()

    @property
    def port(self) -> int:
        assert self._sock is not None
        port: int = self._sock.getsockname()[1]
        return port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        assert self._sock is not None
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            thread = threading.Thread(target=self._handle, args=(conn,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            try:
                head = b""
                while b"\r\n\r\n" not in head and len(head) < 65536 and not self._stop.is_set():
                    data = conn.recv(65536)
                    if not data:
                        return
                    head += data
                self.requests.append(head)
                self.behaviour(conn, head, self._stop)
            except OSError:  # the client gave up: what a deadline is for
                pass
