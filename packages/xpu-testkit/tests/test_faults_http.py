"""Bounded HTTP (xpu_tool.http) against peers that misbehave on loopback: every call ends by its
deadline plus the documented margin, with one named error, whatever the peer does."""

from __future__ import annotations

import socket
import socketserver
import ssl
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from xpu_tool import http
from xpu_tool.deadline import Deadline
from xpu_tool.http import HttpError

from .misbehaving import (
    Behaviour,
    MisbehavingServer,
    answer,
    bad_gzip,
    endless_chunks,
    gzip_bomb,
    redirect_loop,
    silent,
    trickle,
)

BUDGET = 1.0


def _fails(behaviour: Behaviour, kind: str, *, max_bytes: int = http.MAX_BYTES) -> HttpError:
    """Run one GET against the behaviour; it must fail with ``kind`` within BUDGET + MARGIN."""
    with MisbehavingServer(behaviour) as peer:
        started = time.monotonic()
        with pytest.raises(HttpError) as caught:
            http.request(
                "GET", peer.url + "/x", deadline=Deadline.after(BUDGET), max_bytes=max_bytes
            ).raise_for_status().json_object()
        elapsed = time.monotonic() - started
    assert elapsed < BUDGET + http.MARGIN, f"took {elapsed:.2f} s"
    assert caught.value.kind == kind, str(caught.value)
    message = str(caught.value)
    assert "\n" not in message and len(message) < 600, message
    return caught.value


@pytest.mark.parametrize(
    "behaviour",
    [endless_chunks(), trickle(0.05), silent],
    ids=["endless-chunked-body", "body-at-20-bytes-per-s", "silent-peer"],
)
def test_a_slow_or_endless_peer_ends_at_the_deadline(behaviour: Behaviour) -> None:
    error = _fails(behaviour, "timeout")
    assert f"within {BUDGET:g} s" in str(error)


def _trickled_head(conn: socket.socket, request: bytes, stop: threading.Event) -> None:
    """Status line and headers one byte per 50 ms, forever: every read gets data, so a per-read
    timeout (requests' own) never fires."""
    head = b"HTTP/1.1 200 OK\r\nX-Padding: " + b"x" * 100_000
    for byte in head:
        if stop.wait(0.05):
            return
        conn.sendall(bytes([byte]))


def test_headers_sent_a_byte_at_a_time_end_at_the_deadline() -> None:
    error = _fails(_trickled_head, "timeout")
    assert f"within {BUDGET:g} s" in str(error)


def test_a_name_lookup_that_hangs_ends_at_the_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    """getaddrinfo cannot be interrupted: the call stops waiting for it at the deadline."""
    resolving = threading.Event()
    real = socket.getaddrinfo

    def hanging(host: str, *args: Any, **kwargs: Any) -> Any:
        if host == "hangs.invalid":
            resolving.set()
            time.sleep(BUDGET + 3)
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", hanging)
    started = time.monotonic()
    with pytest.raises(HttpError) as caught:
        http.request("GET", "http://hangs.invalid:8080/", deadline=Deadline.after(BUDGET))
    assert time.monotonic() - started < BUDGET + http.MARGIN
    assert resolving.is_set() and caught.value.kind == "timeout", str(caught.value)


def _endless_body(conn: socket.socket, request: bytes, stop: threading.Event) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
    while not stop.wait(0.02):
        conn.sendall(b"2\r\n{}\r\n")


def assert_peer_sees_the_close_at_the_deadline(behaviour: Behaviour) -> None:
    """One GET against ``behaviour`` times out, and the peer's next write fails (the connection is
    closed) within the margin of the deadline, not whenever a garbage collector gets to it; no
    request thread is left."""
    closed_after: list[float] = []
    started = time.monotonic()

    def until_closed(conn: socket.socket, request: bytes, stop: threading.Event) -> None:
        try:
            behaviour(conn, request, stop)
        except OSError:
            closed_after.append(time.monotonic() - started)

    with MisbehavingServer(until_closed) as peer:
        with pytest.raises(HttpError) as caught:
            http.request("GET", peer.url, deadline=Deadline.after(BUDGET))
        assert caught.value.kind == "timeout"
        time.sleep(http.MARGIN)
        assert closed_after and closed_after[0] < BUDGET + http.MARGIN, closed_after
        assert not [t for t in threading.enumerate() if t.name.startswith(f"http GET {peer.url}")]


def test_the_connection_is_closed_when_the_deadline_passes() -> None:
    assert_peer_sees_the_close_at_the_deadline(_endless_body)


def test_a_call_given_up_before_the_headers_closes_its_connection_and_thread() -> None:
    """Headers trickled past the deadline: the request's thread and socket end at the deadline
    too, not when the peer stops sending (which would leak both in `xpu export --listen`)."""
    assert_peer_sees_the_close_at_the_deadline(_trickled_head)


def test_a_redirect_to_nowhere_names_where_it_led() -> None:
    """The service answered (with a redirect): not 'unreachable', and the host named is the target's."""
    nowhere = answer(b"", 302, {"Location": "http://xpu-no-such-host.invalid/x"})
    with MisbehavingServer(nowhere) as peer, pytest.raises(HttpError) as caught:
        http.request("GET", peer.url, deadline=Deadline.after(5))
    assert caught.value.kind == "protocol", str(caught.value)
    assert "redirected to 'http://xpu-no-such-host.invalid/x'" in str(caught.value)
    assert "cannot resolve xpu-no-such-host.invalid" in str(caught.value)


def test_a_password_in_the_url_is_never_shown() -> None:
    with MisbehavingServer(answer(b"<html>", 500)) as peer:
        url = peer.url.replace("://", "://user:s3cret@") + "/x"
        with pytest.raises(HttpError) as caught:
            http.request("GET", url, deadline=Deadline.after(5)).raise_for_status()
    assert "s3cret" not in str(caught.value) and "user:***@" in str(caught.value), str(caught.value)
    with pytest.raises(HttpError) as refused:
        http.request("GET", "http://user:s3cret@127.0.0.1:1/", deadline=Deadline.after(5))
    assert "s3cret" not in str(refused.value)


def test_a_raw_deflate_body_is_inflated() -> None:
    """Some servers send Content-Encoding: deflate without the zlib header."""
    import zlib

    squeeze = zlib.compressobj(wbits=-15)
    body = squeeze.compress(b'{"version": "0.9.0"}') + squeeze.flush()
    with MisbehavingServer(answer(body, headers={"Content-Encoding": "deflate"})) as peer:
        assert http.get_json(peer.url, deadline=Deadline.after(5)) == {"version": "0.9.0"}


@pytest.mark.parametrize("length", ["-5", "abc", "5, 6"])
def test_a_bad_content_length_is_a_protocol_error_at_once(length: str) -> None:
    def bad_length(conn: socket.socket, request: bytes, stop: threading.Event) -> None:
        conn.sendall(f"HTTP/1.1 200 OK\r\nContent-Length: {length}\r\n\r\n{{}}".encode())
        stop.wait()

    started = time.monotonic()
    error = _fails(bad_length, "protocol")
    assert "Content-Length" in str(error) and time.monotonic() - started < BUDGET / 2


def test_the_deadline_covers_several_calls_that_share_it() -> None:
    with MisbehavingServer(trickle(0.05, length=8)) as peer:  # each answer takes ~0.35 s
        deadline = Deadline.after(1.0)
        started = time.monotonic()
        with pytest.raises(HttpError) as caught:
            for _ in range(10):
                http.request("GET", peer.url, deadline=deadline)
        assert time.monotonic() - started < 1.0 + http.MARGIN
    assert caught.value.kind == "timeout"
    assert 2 <= len(peer.requests) <= 4  # the first ones completed, then the shared budget ran out


def test_a_body_over_the_byte_limit_is_too_large() -> None:
    error = _fails(endless_chunks(b"x" * 4000, interval=0.0005), "too-large", max_bytes=100_000)
    assert "larger than 100000 bytes" in str(error)


def test_a_10_mb_error_page_is_quoted_in_a_few_hundred_characters() -> None:
    error = _fails(answer(b"<html>" + b"e" * 10_000_000, status=500), "status")
    assert error.status == 500 and len(str(error)) < 400


def test_a_redirect_loop_is_named() -> None:
    error = _fails(redirect_loop, "redirects")
    assert "more than 5 redirects" in str(error)


def test_a_bad_gzip_body_is_named() -> None:
    error = _fails(bad_gzip, "bad-body")
    assert "bad gzip body" in str(error)


def test_a_gzip_bomb_stops_at_the_byte_limit() -> None:
    _fails(gzip_bomb(50_000_000), "too-large", max_bytes=1_000_000)


def test_a_gzip_body_within_the_limit_is_inflated() -> None:
    import gzip

    body = gzip.compress(b'{"version": "0.9.0"}')
    with MisbehavingServer(answer(body, headers={"Content-Encoding": "gzip"})) as peer:
        assert http.get_json(peer.url, deadline=Deadline.after(5)) == {"version": "0.9.0"}


@pytest.mark.parametrize("body", [[1, 2], "a string", 3, None], ids=["list", "string", "number", "null"])
def test_json_that_is_not_an_object_is_named(body: object) -> None:
    error = _fails(answer(body), "bad-body")
    assert "expected a JSON object" in str(error)


def test_a_body_that_is_not_json_is_quoted() -> None:
    error = _fails(answer(b"<html>gateway</html>"), "bad-body")
    assert "not JSON: '<html>gateway</html>'" in str(error)


def test_a_peer_that_answers_garbage_is_a_protocol_error() -> None:
    def garbage(conn: socket.socket, request: bytes, stop: threading.Event) -> None:
        conn.sendall(b"SSH-2.0-OpenSSH_9.2\r\n")

    _fails(garbage, "protocol")


def test_a_peer_that_hangs_up_in_the_body_is_a_protocol_error() -> None:
    def cut(conn: socket.socket, request: bytes, stop: threading.Event) -> None:
        conn.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"a":')

    error = _fails(cut, "protocol")
    assert "broke off" in str(error)


def test_a_refused_connection_is_unreachable() -> None:
    from xpu_testkit.process import free_port

    with pytest.raises(HttpError) as caught:
        http.request("GET", f"http://127.0.0.1:{free_port()}/", deadline=Deadline.after(2))
    assert caught.value.kind == "unreachable" and "Connection refused" in str(caught.value)


@pytest.mark.parametrize("url", ["http://", "http://[::1", "http://127.0.0.1:99999/", "ftp://host/", "http://h:x/"])
def test_a_bad_url_is_named_before_any_connection(url: str) -> None:
    with pytest.raises(HttpError) as caught:
        http.request("GET", url, deadline=Deadline.after(2))
    assert caught.value.kind == "bad-url", str(caught.value)


@pytest.mark.parametrize("seconds", [0, -1, float("nan"), float("inf")])
def test_a_deadline_is_finite_and_positive(seconds: float) -> None:
    with pytest.raises(ValueError):
        Deadline.after(seconds)


def test_a_post_redirected_with_303_becomes_a_get() -> None:
    from xpu_testkit.doubles.ollama import OllamaDouble

    with OllamaDouble() as ollama:
        with MisbehavingServer(answer(b"", 303, {"Location": ollama.url + "/api/version"})) as hop:
            reply = http.request("POST", hop.url + "/x", deadline=Deadline.after(5), json_body={"a": 1})
        assert reply.status == 200 and "version" in reply.json_object()
        assert ollama.requests[-1][:2] == ("GET", "/api/version")


@pytest.fixture
def tls_cert(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for localhost (openssl), trusted through SSL_CERT_FILE."""
    import shutil
    import subprocess

    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("no openssl (apt-get install openssl)")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost",
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key


@pytest.mark.parametrize(
    "behaviour, answers",
    [(answer({"sha": "x"}), True), (endless_chunks(), False), (silent, False)],
    ids=["answer", "endless-body", "silent"],
)
def test_https_is_verified_and_bounded(
    behaviour: Behaviour, answers: bool, tls_cert: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The deadline holds over TLS too (the watchdog shuts the socket under the TLS layer)."""

    cert, key = tls_cert
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    with MisbehavingServer(behaviour) as peer:
        relay = _tls_relay(context, peer.port)
        threading.Thread(target=relay.serve_forever, daemon=True).start()
        try:
            url = f"https://localhost:{relay.server_address[1]}/"
            with pytest.raises(HttpError) as untrusted:
                http.request("GET", url, deadline=Deadline.after(BUDGET))
            assert untrusted.value.kind == "tls" and "CERTIFICATE_VERIFY_FAILED" in str(untrusted.value)
            assert "SSL_CERT_FILE" in str(untrusted.value)  # what to do about it
            monkeypatch.setenv("SSL_CERT_FILE", str(cert))
            started = time.monotonic()
            if answers:
                assert http.get_json(url, deadline=Deadline.after(BUDGET)) == {"sha": "x"}
            else:
                with pytest.raises(HttpError) as caught:
                    http.get_json(url, deadline=Deadline.after(BUDGET))
                assert caught.value.kind == "timeout", str(caught.value)
            assert time.monotonic() - started < BUDGET + http.MARGIN
        finally:
            relay.shutdown()
            relay.server_close()


def _tls_relay(context: ssl.SSLContext, port: int) -> socketserver.ThreadingTCPServer:
    """A TLS front on localhost that relays bytes to the plain peer on ``port``, both ways."""

    class Relay(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            with (
                context.wrap_socket(self.request, server_side=True) as tls,
                socket.create_connection(("127.0.0.1", port)) as plain,
            ):
                tls.settimeout(3)
                plain.settimeout(3)

                def back() -> None:
                    try:
                        while data := plain.recv(65536):
                            tls.sendall(data)
                    except OSError:
                        pass

                threading.Thread(target=back, daemon=True).start()
                try:
                    while data := tls.recv(65536):
                        plain.sendall(data)
                except OSError:
                    pass

    class Server(socketserver.ThreadingTCPServer):
        daemon_threads = True
        allow_reuse_address = True

        def handle_error(self, request: object, client_address: object) -> None:
            pass

    return Server(("127.0.0.1", 0), Relay)
