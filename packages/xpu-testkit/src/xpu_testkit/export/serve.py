"""`xpu export --listen`: serve the metrics on /metrics, measured afresh at each scrape."""

from __future__ import annotations

import sys
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, HTTPServer

from prometheus_client import CONTENT_TYPE_LATEST

from ..errors import ConfigError


def parse_listen(value: str) -> tuple[str, int]:
    """``PORT`` or ``ADDRESS:PORT`` (default address 127.0.0.1: the metrics name the machine's problems)."""
    address, _, port = value.rpartition(":")
    address = address.strip("[]") or "127.0.0.1"
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"--listen {value!r}: expected PORT or ADDRESS:PORT")
    return address, int(port)


def serve(address: str, port: int, scrape: Callable[[], bytes]) -> None:
    """Answer GET /metrics with ``scrape()`` until interrupted; one scrape at a time."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            if self.path.split("?", 1)[0] != "/metrics":
                self.send_error(404, "only /metrics is served")
                return
            body = scrape()
            self.send_response(200)
            self.send_header("Content-Type", CONTENT_TYPE_LATEST)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    try:
        server = HTTPServer((address, port), Handler)
    except OSError as exc:
        raise ConfigError(f"--listen {address}:{port}: {exc.strerror}") from None
    with server:
        print(f"xpu export: serving http://{address}:{port}/metrics", file=sys.stderr, flush=True)
        server.serve_forever()
