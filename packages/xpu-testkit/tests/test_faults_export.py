"""`xpu export` against misbehaving services and scrapers, run as a user runs it (`xpu` in a
subprocess, services on loopback): every check ends by --timeout plus the documented margin and
becomes xpu_check_error; `--listen` answers concurrent scrapes while a client sits idle, turns a
failing or slow scrape into metrics, and stops on SIGTERM after failed scrapes."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from xpu_testkit.process import free_port, popen_tied
from xpu_tool import http
from xpu_tool.deadline import Deadline
from xpu_tool.export.serve import Measurements
from xpu_tool.http import MARGIN
from xpu_tool.probes.pci import PciGpu
from xpu_tool.services.comfyui import check_comfyui_quickly
from xpu_tool.services.ollama import check_ollama_quickly
from xpu_tool.services.registry import by_name
from xpu_tool.target import Target

from .misbehaving import Behaviour, MisbehavingServer, answer, endless_chunks, routes, silent, trickle
from .test_export import samples
from .xpu_command import run_xpu, timed_run_xpu

STARTUP = 4.0  # starting Python, importing xpu_testkit and the doctor's probes on this machine


CHECKS = {"ollama": check_ollama_quickly, "comfyui": check_comfyui_quickly}


@pytest.mark.parametrize(
    "service, behaviour",
    [
        ("ollama", endless_chunks()),
        ("ollama", trickle(0.05)),
        ("ollama", silent),
        ("comfyui", endless_chunks()),
        ("comfyui", trickle(0.05)),
        ("comfyui", silent),
    ],
    ids=[
        "ollama-endless-body",
        "ollama-slow-body",
        "ollama-silent",
        "comfyui-endless-body",
        "comfyui-slow-body",
        "comfyui-silent",
    ],
)
def test_a_hanging_service_check_ends_by_its_timeout(service: str, behaviour: Behaviour) -> None:
    with MisbehavingServer(behaviour) as peer:
        started = time.monotonic()
        state = CHECKS[service](peer.url, 1.0)
        assert time.monotonic() - started < 1 + MARGIN
    assert (state.up, state.error) == (False, "timeout")


@pytest.mark.parametrize(
    "service, peer_routes",
    [
        ("ollama", {"/api/version": answer([1, 2])}),
        ("ollama", {"/api/version": answer({"version": "0.9"}), "/api/ps": answer({"models": [{"size": "1"}]})}),
        ("ollama", {"/": answer(b"\x1f\x8b garbage", headers={"Content-Encoding": "gzip"})}),
        ("ollama", {"/": answer(b"", status=302, headers={"Location": "/"})}),
        ("comfyui", {"/system_stats": answer({"system": ["list"]})}),
        ("comfyui", {"/system_stats": answer([{"system": {}}])}),
        ("comfyui", {"/system_stats": answer(b"<html>" + b"x" * 5_000_000, status=502)}),
    ],
    ids=[
        "ollama-list",
        "ollama-counter-string",
        "ollama-bad-gzip",
        "ollama-redirect-loop",
        "comfyui-system-list",
        "comfyui-list",
        "comfyui-5MB-502",
    ],
)
def test_a_nonsense_answer_is_a_check_error(service: str, peer_routes: dict) -> None:
    with MisbehavingServer(routes(peer_routes)) as peer:
        state = CHECKS[service](peer.url, 5.0)
    assert not state.up and state.error in ("error", "server-error")


def test_through_the_cli_a_hanging_and_a_nonsense_service_are_metrics_within_the_timeout() -> None:
    with MisbehavingServer(endless_chunks()) as hanging, MisbehavingServer(answer([1])) as nonsense:
        hanging_url, nonsense_url = hanging.url, nonsense.url
        run, elapsed = timed_run_xpu(
            "export", "--timeout", "2", "--ollama", hanging_url, "--comfyui", nonsense_url, timeout=60
        )
    assert elapsed < 2 + MARGIN + STARTUP, f"{elapsed:.1f} s"
    assert run.returncode == 0 and "Traceback" not in run.stderr, run.stderr
    values = samples(run.stdout)
    assert values[f'xpu_check_error{{check="ollama",reason="timeout",url="{hanging_url}"}}'] == 1
    assert values[f'xpu_check_error{{check="comfyui",reason="error",url="{nonsense_url}"}}'] == 1
    assert sorted(run.stderr.strip().splitlines()) == [
        "xpu: comfyui check failed: error (xpu_service_up and xpu_check_error say so)",
        "xpu: ollama check failed: timeout (xpu_service_up and xpu_check_error say so)",
    ]


@pytest.mark.parametrize(
    "content",
    ["[]", '{"backends": [{"backend": "x"}]}', '{"backends": "x"}', "[" * 100_000],
    ids=["list", "backend-without-runs", "backends-string", "deep"],
)
def test_a_bench_json_of_the_wrong_shape_is_one_line_and_exit_2(content: str, tmp_path: Path) -> None:
    bench = tmp_path / "ollama-bench.json"
    bench.write_text(content)
    run = run_xpu("export", "--bench-json", str(bench), timeout=60)
    assert run.returncode == 2 and "Traceback" not in run.stderr, run.stderr
    assert run.stderr.startswith("xpu: error: --bench-json") and len(run.stderr.strip().splitlines()) == 1


@contextmanager
def listening(*args: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    port = free_port()
    proc = popen_tied(
        [sys.executable, "-m", "xpu_tool", "export", "--listen", f"127.0.0.1:{port}", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert "serving http://127.0.0.1:" in (proc.stderr.readline() if proc.stderr else "")
        yield proc, f"http://127.0.0.1:{port}/metrics"
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)


def scrape(url: str, seconds: float = 15) -> str:
    return http.request("GET", url, deadline=Deadline.after(seconds)).raise_for_status().text


def test_an_idle_client_does_not_delay_concurrent_scrapes() -> None:
    with listening() as (proc, url):
        scrape(url)  # warm: the first measurement
        port = int(url.split(":")[2].split("/")[0])
        with socket.create_connection(("127.0.0.1", port)) as idle:  # connects, sends nothing
            idle.sendall(b"GET /met")  # and not even a whole request line
            results: list[str] = []
            started = time.monotonic()
            threads = [threading.Thread(target=lambda: results.append(scrape(url))) for _ in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(20)
            elapsed = time.monotonic() - started
        assert len(results) == 4 and all("xpu_usable" in r for r in results)
        assert elapsed < 8, f"{elapsed:.1f} s"  # one measurement's time, not four, and not the idle client's
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 130


def test_failing_scrapes_become_metrics_and_sigterm_still_stops_it() -> None:
    """A scrape whose doctor cannot reach its target (ssh to a closed port) raises inside the check."""
    with listening("--target", f"ssh://nobody@127.0.0.1:{free_port()}", "--timeout", "3") as (proc, url):
        for _ in range(3):
            body = scrape(url)
            assert samples(body) == {'xpu_check_error{check="scrape",reason="error"}': 1.0}
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 130
        assert time.monotonic() - started < 2
        stderr = proc.stderr.read() if proc.stderr else ""
    assert "Traceback" not in stderr
    failures = [ln for ln in stderr.splitlines() if ln.startswith("xpu export: the scrape failed: TargetError")]
    assert len(failures) == 3, stderr


def test_a_scrape_slower_than_its_deadline_is_answered_with_a_timeout_metric() -> None:
    release = threading.Event()
    calls: list[float] = []

    def slow() -> bytes:
        calls.append(time.monotonic())
        release.wait(10)
        return b"xpu_usable 1.0\n"

    measurements = Measurements(slow, deadline=0.5)
    started = time.monotonic()
    bodies = []
    threads = [threading.Thread(target=lambda: bodies.append(measurements.latest())) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert time.monotonic() - started < 0.5 + MARGIN
    assert (
        bodies
        == [
            b"# HELP xpu_check_error 1 when a check could not run\n# TYPE xpu_check_error gauge\n"
            b'xpu_check_error{check="scrape",reason="timeout"} 1.0\n'
        ]
        * 3
    )
    assert len(calls) == 1  # the three scrapes shared one measurement
    release.set()
    time.sleep(0.1)
    assert measurements.latest() == b"xpu_usable 1.0\n"  # the late result goes to the next scrape


def test_measure_runs_the_checks_at_once_within_one_timeout(
    local: Target, this_machines_intel_gpus: tuple[PciGpu, ...]
) -> None:
    """What `--timeout` should mean for the whole export: three hanging services cost one timeout."""
    from xpu_tool.export.measure import measure

    with MisbehavingServer(silent) as a, MisbehavingServer(endless_chunks()) as b, MisbehavingServer(silent) as c:
        started = time.monotonic()
        ollama, comfyui = by_name("ollama"), by_name("comfyui")
        export = measure(local, services=[(ollama, a.url), (ollama, b.url), (comfyui, c.url)], timeout=2)
        elapsed = time.monotonic() - started
    assert elapsed < 2 + MARGIN + 1, f"{elapsed:.1f} s"  # + 1 s: the doctor's own probes on this machine
    assert [(s.service, s.error) for s in export.services] == [
        ("ollama", "timeout"),
        ("ollama", "timeout"),
        ("comfyui", "timeout"),
    ]
    # the doctor ran on this machine too: its scan found this machine's GPUs
    seen = [g["address"] for g in export.report.probe("pci").data["gpus"]]
    assert seen == [g.address for g in this_machines_intel_gpus]


def test_sigterm_during_a_scrape_of_a_silent_service_stops_at_once_and_says_so_last() -> None:
    """The measurement in flight (an Ollama that never answers, --timeout 30) is not waited for."""
    with MisbehavingServer(silent) as peer, listening("--ollama", peer.url) as (proc, url):
        outcome: list[str] = []

        def scrape_until_hung_up() -> None:
            try:
                outcome.append(scrape(url, 20))
            except http.HttpError as exc:
                outcome.append(exc.kind)

        threading.Thread(target=scrape_until_hung_up, daemon=True).start()
        time.sleep(1.0)  # the scrape is in flight, waiting on the silent peer
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 130
        elapsed = time.monotonic() - started
        stderr = proc.stderr.read() if proc.stderr else ""
    assert elapsed < 3, f"{elapsed:.1f} s"
    assert stderr.splitlines()[-1] == "xpu: interrupted", stderr


def test_concurrent_failing_scrapes_write_whole_lines() -> None:
    with listening("--target", f"ssh://nobody@127.0.0.1:{free_port()}", "--timeout", "3") as (proc, url):
        threads = [threading.Thread(target=scrape, args=(url,)) for _ in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(20)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 130
        stderr = proc.stderr.read() if proc.stderr else ""
    lines = stderr.splitlines()
    assert lines[-1] == "xpu: interrupted", stderr
    assert len(lines) == 13, stderr
    assert all(ln.startswith("xpu export: the scrape failed: TargetError") for ln in lines[:-1]), stderr
