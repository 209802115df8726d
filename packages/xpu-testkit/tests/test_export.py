"""`xpu export` and the alert rules, against the real tools: promtool, node-exporter, Prometheus
(Debian's prometheus 2.42 and prometheus-node-exporter 1.5; ./bootstrap.sh test installs them)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from xpu_testkit.doubles.comfyui import ComfyDouble
from xpu_testkit.doubles.ollama import OllamaDouble
from xpu_testkit.process import free_port, popen_tied
from xpu_tool.atomic import partial_glob
from xpu_tool.export.textfile import write_textfile
from xpu_tool.probes.pci import PciGpu

from .xpu_command import run_xpu

REPO = Path(__file__).resolve().parents[3]
RULES = REPO / "modules" / "nixos" / "monitoring" / "xpu-alerts.yml"
RULE_TESTS = REPO / "modules" / "nixos" / "monitoring" / "xpu-alerts.test.yml"
FAMILIES = {
    "xpu_usable",
    "xpu_gpus",
    "xpu_probe_status",
    "xpu_finding",
    "xpu_service_up",
    "xpu_ollama_model_vram_ratio",
    "xpu_check_error",
    "xpu_export_duration_seconds",
    "xpu_export_timestamp_seconds",
    "xpu_build_info",
}


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (apt-get install prometheus prometheus-node-exporter)")
    return path


def samples(text: str) -> dict[str, float]:
    """`name{labels}` -> value, from the text format."""
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            out[key] = float(value)
    return out


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One export of this machine, with an Ollama that has a model fully on the GPU."""
    out = tmp_path_factory.mktemp("textfile") / "xpu.prom"
    with OllamaDouble("gpu") as ollama:
        requests.post(
            f"{ollama.url}/api/generate", json={"model": "tiny", "prompt": "hi", "stream": False}, timeout=30
        ).raise_for_status()
        run = run_xpu("export", "--textfile", str(out), "--ollama", ollama.url, timeout=300)
    assert run.returncode == 0, run.stderr
    return out


def test_the_textfile_passes_promtool(exported: Path) -> None:
    run = subprocess.run(
        [tool("promtool"), "check", "metrics"],
        input=exported.read_text(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr


def test_the_textfile_says_what_the_scan_found(exported: Path, this_machines_intel_gpus: tuple[PciGpu, ...]) -> None:
    text = exported.read_text()
    families = {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE")}
    assert families >= FAMILIES
    got = samples(text)
    gpus = len(this_machines_intel_gpus)
    assert got['xpu_gpus{probe="pci"}'] == gpus
    assert got['xpu_probe_status{probe="pci",status="absent"}'] == (0 if gpus else 1)
    assert got.get('xpu_finding{id="no-intel-gpu",severity="fail"}', 0) == (0 if gpus else 1)
    if not gpus:  # no Intel GPU: nothing else can find one
        assert got["xpu_usable"] == 0 and got['xpu_gpus{probe="level-zero"}'] == 0
        assert got['xpu_probe_status{probe="level-zero",status="fail"}'] == 1
    assert got['xpu_ollama_model_vram_ratio{model="tiny:latest"}'] == 1.0
    [up] = [v for k, v in got.items() if k.startswith('xpu_service_up{service="ollama"')]
    assert up == 1
    assert not any(k.startswith("xpu_check_error{") for k in got)
    assert 0 < got["xpu_export_duration_seconds"] < 120 and abs(got["xpu_export_timestamp_seconds"] - time.time()) < 600
    assert not list(exported.parent.glob(partial_glob(exported)))  # no temporary file left beside it
    assert exported.stat().st_mode & 0o777 == 0o644  # node-exporter's user reads it


def test_unreachable_and_slow_services_are_metrics_and_exit_0(tmp_path: Path) -> None:
    """A stopped service is what the metrics report (xpu_service_up 0, xpu_check_error), not a failed
    export: the export unit stays green while the alert rules speak."""
    out = tmp_path / "xpu.prom"
    ollama, llamas = f"http://127.0.0.1:{free_port()}", [f"http://127.0.0.1:{free_port()}" for _ in range(3)]
    with ComfyDouble("slow", delay=5) as slow:
        run = run_xpu(
            "export",
            "--textfile",
            str(out),
            "--ollama",
            ollama,
            "--comfyui",
            slow.url,
            *(arg for url in llamas for arg in ("--llama-cpp", url)),
            "--timeout",
            "1",
            timeout=300,
        )
    assert run.returncode == 0, run.stderr
    assert "ollama check failed: unreachable" in run.stderr and "comfyui check failed: timeout" in run.stderr
    got = samples(out.read_text())
    assert got[f'xpu_check_error{{check="ollama",reason="unreachable",url="{ollama}"}}'] == 1
    assert got[f'xpu_check_error{{check="comfyui",reason="timeout",url="{slow.url}"}}'] == 1
    for url in llamas:  # three unreachable llama-servers are three series, each naming its server
        assert got[f'xpu_check_error{{check="llama-cpp",reason="unreachable",url="{url}"}}'] == 1
    ups = {k: v for k, v in got.items() if k.startswith("xpu_service_up{")}
    assert len(ups) == 5 and sum(ups.values()) == 0


def test_the_last_benchmark_becomes_metrics(tmp_path: Path) -> None:
    bench = {
        "backends": [
            {
                "backend": "sycl",
                "decode_ratio": 3.5,
                "gpu": {"decode_tokens_per_s": {"median": 42.0}},
                "cpu": {"decode_tokens_per_s": {"median": 12.0}},
            }
        ]
    }
    (tmp_path / "ollama-bench.json").write_text(json.dumps(bench))  # the fields `xpu bench` writes
    run = run_xpu("export", "--bench-json", str(tmp_path / "ollama-bench.json"), timeout=300)
    assert run.returncode == 0, run.stderr
    got = samples(run.stdout)
    assert got['xpu_bench_decode_tokens_per_second{backend="sycl",device="gpu"}'] == 42.0
    assert got['xpu_bench_gpu_cpu_ratio{backend="sycl"}'] == 3.5
    assert got["xpu_bench_timestamp_seconds"] == pytest.approx((tmp_path / "ollama-bench.json").stat().st_mtime)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--textfile", "/nonexistent-dir/xpu.prom"], "/nonexistent-dir: no such directory"),
        (["--textfile", "/proc/xpu.prom"], "/proc: cannot write there"),
        (["--textfile", "xpu.txt"], "node-exporter reads only files ending in .prom"),
        (["--ollama", "localhost:11434"], "is not an http(s) URL"),
        (["--bench-json", "/nonexistent.json"], "--bench-json /nonexistent.json"),
        (["--timeout", "0"], "--timeout 0.0: must be a positive number of seconds"),
        (["--timeout", "nan"], "--timeout nan: must be a positive number of seconds"),
        (["--listen", ""], "--listen '': expected PORT or ADDRESS:PORT"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str], message: str) -> None:
    run = run_xpu("export", *args)
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1 and message in run.stderr, run.stderr


def _file_size_limit(limit: int) -> None:
    """In the child: writes past ``limit`` bytes fail with EFBIG (a disk that fills up mid-write)."""
    import resource
    import signal

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def test_a_failed_write_leaves_the_previous_file_whole(tmp_path: Path) -> None:
    target = tmp_path / "xpu.prom"
    write_textfile(target, b"xpu_usable 1\n")
    # the real export (several KB) into a process that may write only 1 KB per file
    run = run_xpu("export", "--textfile", str(target), timeout=300, preexec_fn=lambda: _file_size_limit(1024))
    assert run.returncode == 2 and "File too large" in run.stderr and "Traceback" not in run.stderr, run.stderr
    assert target.read_bytes() == b"xpu_usable 1\n"
    assert [p.name for p in tmp_path.iterdir()] == ["xpu.prom"]


# -- alert rules ------------------------------------------------------------------------------------


def test_alert_rules_are_valid() -> None:
    run = subprocess.run(
        [tool("promtool"), "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60, check=False
    )
    assert run.returncode == 0 and "SUCCESS: 8 rules found" in run.stdout, run.stdout + run.stderr


def test_alert_rules_fire_when_they_should_and_only_then() -> None:
    run = subprocess.run(
        [tool("promtool"), "test", "rules", RULE_TESTS.name],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=RULE_TESTS.parent,
        check=False,
    )
    assert run.returncode == 0 and "SUCCESS" in run.stdout, run.stdout + run.stderr


def test_every_alert_has_a_test_and_a_runbook_section() -> None:
    import yaml

    alerts = {r["alert"] for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]}
    tested = {
        t["alertname"] for case in yaml.safe_load(RULE_TESTS.read_text())["tests"] for t in case["alert_rule_test"]
    }
    assert alerts == tested
    operations = (REPO / "docs" / "operations.md").read_text()
    for alert in alerts:
        assert f"### {alert}" in operations
    rules = [r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]
    # the heading's anchor, after the placeholder the module replaces with runbookBaseUrl
    assert {r["alert"]: r["annotations"]["runbook_url"] for r in rules} == {
        a: f"@runbookBaseUrl@#{a.lower()}" for a in alerts
    }
    assert all(r["annotations"]["summary"] and r["annotations"]["description"] for r in rules)
    assert RULES.read_text().count("@runbookBaseUrl@") == len(alerts)  # only there


# -- a real node-exporter and a real Prometheus scrape ----------------------------------------------


def _wait_http(url: str, deadline: float) -> requests.Response:
    while True:
        try:
            return requests.get(url, timeout=2)
        except requests.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_node_exporter_serves_it_and_prometheus_scrapes_it(
    exported: Path, tmp_path: Path, this_machines_intel_gpus: tuple[PciGpu, ...]
) -> None:
    gpus = len(this_machines_intel_gpus)
    exporter_port, prom_port = free_port(), free_port()
    logs = (tmp_path / "node-exporter.log").open("wb"), (tmp_path / "prometheus.log").open("wb")
    node = popen_tied(
        [
            tool("prometheus-node-exporter"),
            f"--web.listen-address=127.0.0.1:{exporter_port}",
            "--collector.disable-defaults",
            "--collector.textfile",
            f"--collector.textfile.directory={exported.parent}",
        ],
        stdout=logs[0],
        stderr=subprocess.STDOUT,
    )
    config = tmp_path / "prometheus.yml"
    config.write_text(
        f"global: {{scrape_interval: 1s}}\nscrape_configs:\n  - job_name: xpu\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{exporter_port}']}}]\n"
    )
    prom = popen_tied(
        [
            tool("prometheus"),
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{prom_port}",
        ],
        stdout=logs[1],
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        served = _wait_http(f"http://127.0.0.1:{exporter_port}/metrics", deadline).text
        assert ('xpu_finding{id="no-intel-gpu",severity="fail"} 1' in served) is (gpus == 0)
        result: list = []
        while prom.poll() is None and time.monotonic() < deadline:  # until Prometheus has scraped once
            try:
                reply = requests.get(
                    f"http://127.0.0.1:{prom_port}/api/v1/query", params={"query": "xpu_gpus"}, timeout=5
                )
            except requests.ConnectionError:  # still starting
                reply = None
            result = reply.json()["data"]["result"] if reply is not None and reply.ok else []
            if result:
                break
            time.sleep(0.5)
        scraped = {r["metric"]["probe"]: float(r["value"][1]) for r in result}
        log = (tmp_path / "prometheus.log").read_text()[-2000:]
        assert set(scraped) == {"pci", "level-zero", "sycl", "opencl", "vulkan", "torch"}, log
        assert scraped["pci"] == gpus and (gpus or not any(scraped.values()))
        assert {r["metric"]["job"] for r in result} == {"xpu"}
    finally:
        for proc in (node, prom):
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for handle in logs:
            handle.close()
    assert node.returncode is not None and prom.returncode is not None


# -- served on a port -------------------------------------------------------------------------------


def test_listen_serves_fresh_metrics_per_scrape_and_stops(
    tmp_path: Path, this_machines_intel_gpus: tuple[PciGpu, ...]
) -> None:
    port = free_port()
    proc = popen_tied(
        [sys.executable, "-m", "xpu_tool", "export", "--listen", f"127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        assert "serving http://127.0.0.1:" in proc.stderr.readline()
        first = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=120)
        time.sleep(1.1)
        second = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=120)
        assert first.ok and first.headers["Content-Type"].startswith("text/plain")
        stamps = [samples(r.text)["xpu_export_timestamp_seconds"] for r in (first, second)]
        assert stamps[1] > stamps[0]  # measured at each scrape, not cached
        assert samples(first.text).get('xpu_finding{id="no-intel-gpu",severity="fail"}', 0) == (
            0 if this_machines_intel_gpus else 1
        )
        check = subprocess.run(
            [tool("promtool"), "check", "metrics"],
            input=second.text,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert check.returncode == 0, check.stdout + check.stderr
        assert requests.get(f"http://127.0.0.1:{port}/other", timeout=30).status_code == 404
    finally:
        proc.terminate()
        proc.wait(30)
    assert proc.returncode == 130  # SIGTERM unwinds like Ctrl-C


@pytest.mark.parametrize(
    "listen, message",
    [
        ("notaport", "expected PORT or ADDRESS:PORT"),
        ("127.0.0.1:70000", "expected PORT or ADDRESS:PORT"),
    ],
)
def test_listen_bad_input(listen: str, message: str) -> None:
    run = run_xpu("export", "--listen", listen)
    assert run.returncode == 2 and message in run.stderr and len(run.stderr.strip().splitlines()) == 1


def test_listen_on_a_busy_port_is_one_line() -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        run = run_xpu("export", "--listen", f"127.0.0.1:{busy.getsockname()[1]}")
    assert run.returncode == 2 and "Address already in use" in run.stderr and "Traceback" not in run.stderr
