"""A requests Session for one call whose sockets a watchdog shuts down when the call's deadline passes.

requests bounds each socket operation, not a call. Here every socket urllib3 opens for the call
(the first connection, those of redirects, plain or TLS) is handed to the session's ``Watchdog``
as it is opened; when the deadline passes the watchdog shuts them all down, which wakes any read
or write blocked on them at once, and shuts at once a socket opened later. ``http.py`` builds
its whole-exchange deadlines on it; ComfyUI's websocket uses the watchdog alone.

The session has no retries and ignores the environment's proxies and netrc (the tool talks to
the services it was given, directly); certificates are checked against the system's trust store
(``SSL_CERT_FILE``, as NixOS sets it) and certifi's.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from dataclasses import dataclass, field
from typing import Any

import requests
import requests.adapters
import urllib3
import urllib3.connection
import urllib3.connectionpool

from .deadline import Deadline


@dataclass
class Watchdog:
    """Shuts the sockets it is given down when the deadline passes, waking any read or write
    blocked on them; a socket given after that is shut down at once. ``stop`` when done."""

    deadline: Deadline
    fired: bool = False
    _sockets: list[socket.socket] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _timer: threading.Timer | None = None

    def __post_init__(self) -> None:
        self._timer = threading.Timer(max(0.0, self.deadline.left()), self.fire)
        self._timer.daemon = True
        self._timer.start()

    def arm(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)
            if self.fired:
                _shut(sock)

    def fire(self) -> None:
        """Shut every socket down now, and any given later (the deadline passed, or the call was given up)."""
        with self._lock:
            self.fired = True
            for sock in self._sockets:
                _shut(sock)

    def stop(self) -> None:
        """The call is over: no timer, and the sockets are forgotten (their owner closes them)."""
        if self._timer is not None:
            self._timer.cancel()
        with self._lock:
            self._sockets.clear()


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed by its owner: nothing left to wake
        socket.socket.shutdown(sock, socket.SHUT_RDWR)  # not an SSLSocket's: that drops its state under a reader


class _WatchedConnection(urllib3.connection.HTTPConnection):
    """A urllib3 connection that hands its socket to the call's watchdog as it opens it."""

    def __init__(self, *args: Any, watchdog: Watchdog, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.watchdog = watchdog

    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        self.watchdog.arm(sock)
        return sock


class _WatchedTlsConnection(_WatchedConnection, urllib3.connection.HTTPSConnection):
    pass


class _WatchedPoolManager(urllib3.PoolManager):
    def __init__(self, watchdog: Watchdog, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.watchdog = watchdog

    def _new_pool(
        self, scheme: str, host: str, port: int, request_context: dict[str, Any] | None = None
    ) -> urllib3.connectionpool.HTTPConnectionPool:
        pool = super()._new_pool(scheme, host, port, request_context)
        pool.ConnectionCls = _WatchedTlsConnection if scheme == "https" else _WatchedConnection
        pool.conn_kw["watchdog"] = self.watchdog
        return pool


class _WatchedAdapter(requests.adapters.HTTPAdapter):
    """requests' adapter for one call: no retries, its sockets watched, the system's trust store."""

    def __init__(self, watchdog: Watchdog) -> None:
        self.watchdog = watchdog
        super().__init__(max_retries=0)

    def init_poolmanager(self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any) -> None:
        self.poolmanager = _WatchedPoolManager(
            self.watchdog,
            num_pools=connections,
            maxsize=maxsize,
            block=block,
            ssl_context=ssl.create_default_context(),  # SSL_CERT_FILE and the system's certificates
            **pool_kwargs,
        )


def watchdog_of(session: requests.Session) -> Watchdog:
    """The watchdog of a session ``deadline_session`` made."""
    adapter = session.get_adapter("http://")
    assert isinstance(adapter, _WatchedAdapter)  # mounted by deadline_session
    return adapter.watchdog


def deadline_session(deadline: Deadline, max_redirects: int) -> requests.Session:
    """A session for one call: its own watchdog on every socket, no retries, no proxy or netrc
    from the environment (the tool talks to the services it was given, directly)."""
    session = requests.Session()
    session.trust_env = False
    session.max_redirects = max_redirects
    adapter = _WatchedAdapter(Watchdog(deadline))
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session
