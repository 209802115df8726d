"""`xpu export --listen`: serve the metrics on /metrics, measured afresh at each scrape.

Scrapes are served concurrently (one thread per connection); a client that sends no request is
dropped after ``IDLE_TIMEOUT`` without delaying anyone. Each scrape answers within
``SCRAPE_DEADLINE`` (below Prometheus' default scrape_timeout of 10 s): scrapes that arrive while a
measurement runs share it, and a measurement that fails or outlives the deadline is answered with
``xpu_check_error{check="scrape",reason}`` and one line on stderr, never a traceback or an empty
reply. SIGTERM, SIGINT and SIGHUP only set a flag the main thread polls, so no signal is lost
(an exception raised inside a signal handler can be swallowed, e.g. during garbage collection);
the server then stops at once, without waiting for a measurement in flight (it runs in daemon
threads), closes its log so no line follows the CLI's final "xpu: interrupted", and ``serve``
raises KeyboardInterrupt, which the CLI reports as exit 130. Each stderr line is written whole
(one write, under a lock), so concurrent scrapes never run their lines together.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, generate_latest

from ..errors import ConfigError
from ..http import quote
from ..threads import in_daemon_thread

SCRAPE_DEADLINE = 8.0
IDLE_TIMEOUT = 5.0
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def parse_listen(value: str) -> tuple[str, int]:
    """``PORT`` or ``ADDRESS:PORT`` (default address 127.0.0.1: the metrics name the machine's problems)."""
    address, _, port = value.rpartition(":")
    address = address.strip("[]") or "127.0.0.1"
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"--listen {value!r}: expected PORT or ADDRESS:PORT")
    return address, int(port)


def failed_scrape(reason: str) -> bytes:
    """The metrics of a scrape that produced none: which way it failed."""
    registry = CollectorRegistry()
    Gauge("xpu_check_error", "1 when a check could not run", ["check", "reason"], registry=registry).labels(
        "scrape", reason
    ).set(1)
    return generate_latest(registry)


class Log:
    """stderr lines written whole (one write each, under a lock) until ``close``; silent after it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._closed = False

    def line(self, text: str) -> None:
        with self._lock:
            if not self._closed:
                sys.stderr.write(text + "\n")
                sys.stderr.flush()

    def close(self) -> None:
        """After this returns no line is written: a line being written has been written whole."""
        with self._lock:
            self._closed = True


class Measurements:
    """Runs ``scrape`` in a daemon thread; concurrent callers share the measurement in progress."""

    def __init__(self, scrape: Callable[[], bytes], deadline: float = SCRAPE_DEADLINE, log: Log | None = None) -> None:
        self._scrape = scrape
        self._deadline = deadline
        self._log = log or Log()
        self._lock = threading.Lock()
        self._current: Future[bytes] | None = None

    def latest(self) -> bytes:
        with self._lock:
            if self._current is None or self._current.done():
                self._current = in_daemon_thread(self._scrape, name="xpu-scrape")
            future = self._current
        try:
            return future.result(timeout=self._deadline)
        except FutureTimeout:
            self._log.line(
                f"xpu export: the scrape took longer than {self._deadline:g} s (still running; its result "
                "goes to the next scrape)"
            )
            return failed_scrape("timeout")
        except Exception as exc:  # noqa: BLE001 - whatever broke the scrape, /metrics answers a failed scrape
            self._log.line(f"xpu export: the scrape failed: {type(exc).__name__}: {quote(str(exc))}")
            return failed_scrape("error")


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        """A scraper that hangs up before its answer is normal: no traceback on stderr."""


def _handler(measurements: Measurements) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        timeout = IDLE_TIMEOUT  # seconds a client may take to send its request

        def do_GET(self) -> None:
            if self.path.split("?", 1)[0] != "/metrics":
                self.send_error(404, "only /metrics is served")
                return
            body = measurements.latest()
            self.send_response(200)
            self.send_header("Content-Type", CONTENT_TYPE_LATEST)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - BaseHTTPRequestHandler names it so
            pass

    return Handler


def serve(address: str, port: int, scrape: Callable[[], bytes], *, deadline: float = SCRAPE_DEADLINE) -> None:
    """Answer GET /metrics with ``scrape()`` until a stop signal; then raise KeyboardInterrupt."""
    log = Log()
    try:
        server = _Server((address, port), _handler(Measurements(scrape, deadline, log)))
    except OSError as exc:
        raise ConfigError(f"--listen {address}:{port}: {exc.strerror}") from None
    stopped: list[int] = []
    previous = {s: signal.signal(s, lambda signum, frame: stopped.append(signum)) for s in STOP_SIGNALS}
    worker = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
    try:
        worker.start()
        log.line(f"xpu export: serving http://{address}:{port}/metrics")
        while not stopped and worker.is_alive():
            time.sleep(0.2)
    finally:
        log.close()
        server.shutdown()
        server.server_close()
        for s, handler in previous.items():
            signal.signal(s, handler)
    raise KeyboardInterrupt
