"""Ollama checks: against Intel's real IPEX-LLM Ollama (PyPI bigdl-core-cpp 2.5.0) and, for the
paths that need an Intel GPU, against the Ollama double with recorded responses."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from xpu_testkit.doubles.ollama import GENERATE_SAMPLE, STREAM_FINAL, OllamaDouble
from xpu_testkit.process import free_port
from xpu_testkit.services.ipex_ollama import IpexOllamaServer, default_venv, find_binary
from xpu_tool.services.ollama import OllamaClient, OllamaError, check_ollama, diagnose_text
from xpu_tool.services.tiny_gguf import N_VOCAB, write_tiny_llama

from .xpu_command import run_xpu

# The real server's 500 when its runner aborts: "has terminated" when the runner dies while the
# model loads, "no longer running" when it was up and dies under the request; which one comes
# depends on timing (both are in IPEX-LLM's ollama binary and both were seen here).
RUNNER_DIED = re.compile(r"llama runner process (has terminated|no longer running)")


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_llama(tmp_path_factory.mktemp("models") / "xpu-tiny.gguf", seed=1).path


# -- the real server ---------------------------------------------------------------------------


def test_ipex_llama_cpp_loads_the_tiny_models_metadata_and_vocabulary(
    no_intel_gpu_here: None, tiny_model: Path, tmp_path: Path
) -> None:
    """IPEX-LLM's own llama.cpp (`main`, from the same wheel as its Ollama) reads the tiny model's
    header, hyperparameters and vocabulary, and stops only where it needs a SYCL device. A model it
    could not parse fails earlier, with "error loading model vocabulary" or a key error."""
    binary = find_binary(default_venv())
    if binary is None:
        pytest.skip(f"IPEX-LLM Ollama is not installed in {default_venv()} (./bootstrap.sh test installs it)")
    libs = binary.parent
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LD_LIBRARY_PATH": f"{default_venv() / 'lib'}:{libs}"}
    run = subprocess.run(
        [str(libs / "main"), "-m", str(tiny_model), "-p", "Why", "-n", "4", "-ngl", "0"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        stdin=subprocess.DEVNULL,
        cwd=tmp_path,
        check=False,
    )  # llama.cpp writes main.log into its working directory
    log = run.stdout + run.stderr
    assert (tmp_path / "main.log").exists()
    assert run.returncode != 0  # no SYCL device here
    assert "general.name     = xpu-tiny-llama-seed1" in log, log[-3000:]
    assert f"n_vocab          = {N_VOCAB}" in log, log[-3000:]
    assert "BOS token        = 1 '<s>'" in log and "EOS token        = 2 '</s>'" in log
    assert "PI_ERROR_DEVICE_NOT_FOUND" in log and "vocabulary" not in log.split("ggml_init_sycl")[-1]


def test_real_server_version_and_model_lifecycle(xpu_ipex_ollama: IpexOllamaServer, tiny_model: Path) -> None:
    client = OllamaClient(xpu_ipex_ollama.url, read_timeout=120)
    assert client.version() == "0.0.0"  # a 0.3-era server: created from a Modelfile
    digest = client.create_from_gguf("xpu-tiny", tiny_model)
    assert digest.startswith("sha256:")
    assert "xpu-tiny:latest" in [m["name"] for m in client.tags()]
    details = client.show("xpu-tiny")["details"]
    assert (details["format"], details["family"]) == ("gguf", "llama")
    client.delete("xpu-tiny")
    assert "xpu-tiny:latest" not in [m["name"] for m in client.tags()]


def test_real_server_generate_is_diagnosed_as_no_gpu(
    no_intel_gpu_here: None, xpu_ipex_ollama: IpexOllamaServer, tiny_model: Path
) -> None:
    client = OllamaClient(xpu_ipex_ollama.url, read_timeout=120)
    client.create_from_gguf("xpu-tiny-gen", tiny_model)
    with pytest.raises(OllamaError) as err:
        client.generate("xpu-tiny-gen", "hello", num_predict=4)
    assert err.value.status == 500 and RUNNER_DIED.search(str(err.value))
    findings = diagnose_text(str(err.value), xpu_ipex_ollama.log_text())
    assert [f.id for f in findings] == ["ollama-no-sycl-gpu"]
    assert findings[0].evidence == ("DeviceList is empty",)
    assert client.ps() == []  # nothing stayed loaded


# -- the double: paths that need an Intel GPU -------------------------------------------------------


def test_generate_on_gpu(tiny_model: Path) -> None:
    with OllamaDouble("gpu") as double:
        client = OllamaClient(double.url)
        client.create_from_gguf("xpu-tiny", tiny_model)
        assert double.requests[-1][2]["files"] == {"xpu-tiny.gguf": client.push_blob(tiny_model.read_bytes())}
        g = client.generate("xpu-tiny", "Why is the sky blue?", num_predict=8)
        assert g.text == GENERATE_SAMPLE["response"] and g.done_reason == "stop"
        sent = double.requests[-1][2]
        assert sent["options"] == {"seed": 42, "temperature": 0, "num_predict": 8} and sent["stream"] is False
        assert round(g.decode_tokens_per_s, 2) == round(290 / 4.709213, 2)
        streamed = client.generate("xpu-tiny", "Why is the sky blue?", stream=True)
        assert (
            streamed.text == "TheTheThe" and streamed.chunks == 4 and streamed.eval_count == STREAM_FINAL["eval_count"]
        )
        [placement] = client.ps()
        assert placement.model == "xpu-tiny:latest"
        assert (placement.offload, placement.gpu_share) == ("gpu", 1.0)


@pytest.mark.parametrize("mode, offload", [("partial", "partial"), ("cpu", "cpu")])
def test_offload_from_ps(mode: str, offload: str, tiny_model: Path) -> None:
    with OllamaDouble(mode) as double:
        client = OllamaClient(double.url)
        client.create_from_gguf("xpu-tiny", tiny_model)
        assert client.ps() == []  # nothing is loaded before the first generate
        client.generate("xpu-tiny", "hi")
        assert client.ps()[0].offload == offload


def test_legacy_server_gets_a_modelfile(tiny_model: Path) -> None:
    with OllamaDouble("gpu", version="0.0.0") as double:
        digest = OllamaClient(double.url).create_from_gguf("xpu-tiny", tiny_model)
        assert double.requests[-1][2] == {"name": "xpu-tiny", "modelfile": f"FROM @{digest}\n", "stream": False}


def test_http_500_is_diagnosed(tiny_model: Path) -> None:
    with OllamaDouble("http500") as double:
        client = OllamaClient(double.url)
        with pytest.raises(OllamaError) as err:
            client.generate("xpu-tiny", "hi")
        assert err.value.status == 500
        assert [f.id for f in diagnose_text(str(err.value))] == ["ollama-runner-died"]


def test_malformed_json() -> None:
    with OllamaDouble("malformed") as double, pytest.raises(OllamaError, match="not JSON"):
        OllamaClient(double.url).generate("xpu-tiny", "hi")


def test_timeout() -> None:
    with (
        OllamaDouble("slow", delay=5) as double,
        pytest.raises(OllamaError, match="did not answer POST /api/generate within 1 s"),
    ):
        OllamaClient(double.url, read_timeout=1).generate("xpu-tiny", "hi")


def test_a_stream_that_never_finishes_is_bounded() -> None:
    with OllamaDouble("never") as double, pytest.raises(OllamaError, match="not done after 2 s"):
        OllamaClient(double.url).generate("xpu-tiny", "hi", stream=True, deadline=2)


def test_connection_refused() -> None:
    with pytest.raises(OllamaError, match=re.escape("cannot connect to Ollama at http://127.0.0.1")):
        OllamaClient(f"http://127.0.0.1:{free_port()}").version()


@pytest.mark.parametrize(
    "log, expected",
    [
        ('time=... level=INFO source=gpu.go msg="dropping integrated GPU" id=0', "ollama-igpu-dropped"),
        (
            "get_memory_info: [warning] ext_intel_free_memory is not supported "
            "(export/set ZES_ENABLE_SYSMAN=1 to support)",
            "no-free-vram-data",
        ),
        ("oneDNN: could not create a primitive", "mdwe-blocks-jit"),
        ("ggml_sycl_init: can not find preferred GPU platform", "ollama-no-sycl-gpu"),
        ("POST /api/generate: HTTP 500: 'llama runner process has terminated: signal: aborted '", "ollama-runner-died"),
        ("POST /api/generate: HTTP 500: 'llama runner process no longer running: -1'", "ollama-runner-died"),
    ],
)
def test_log_signatures(log: str, expected: str) -> None:
    assert expected in [f.id for f in diagnose_text(log)]


# -- the end-to-end check -----------------------------------------------------------------------


def test_check_on_the_real_server_names_the_missing_gpu(
    no_intel_gpu_here: None, xpu_ipex_ollama: IpexOllamaServer
) -> None:
    result = check_ollama(xpu_ipex_ollama.url, log_reader=xpu_ipex_ollama.log_text)
    assert result.version == "0.0.0" and result.created and result.generation is None and not result.ok
    assert [f.id for f in result.findings] == ["ollama-no-sycl-gpu"]


def test_check_passes_on_a_gpu() -> None:
    with OllamaDouble("gpu") as double:
        result = check_ollama(double.url, expect_gpu=True)
        assert result.ok and result.placement is not None and result.placement.offload == "gpu"
        assert "xpu-check-tiny:latest" not in double.models  # the check cleans up after itself


@pytest.mark.parametrize("expect_gpu, ok", [(True, False), (False, True)])
def test_check_on_the_cpu(expect_gpu: bool, ok: bool) -> None:
    with OllamaDouble("cpu") as double:
        result = check_ollama(double.url, expect_gpu=expect_gpu)
        assert result.ok is ok
        assert [f.id for f in result.findings] == ["ollama-not-on-gpu"]


def test_check_cli_json() -> None:
    with OllamaDouble("partial") as double:
        run = run_xpu("check", "ollama", double.url, "--json", "--expect-gpu", timeout=60)
    assert run.returncode == 1
    report = json.loads(run.stdout)
    assert report["placement"]["size_vram"] * 2 == report["placement"]["size"]
    assert report["findings"][0]["id"] == "ollama-not-on-gpu"


def test_journal_reader_reads_through_the_target(tmp_path: Path) -> None:
    """On a target without the unit (or journald), the reader yields no text rather than failing."""
    from xpu_tool.services.journal import journal_reader
    from xpu_tool.target import open_target

    read = journal_reader(open_target("local://"), unit="xpu-no-such-unit.service")
    text = read()
    assert isinstance(text, str) and "DeviceList" not in text


def test_check_cli_reads_the_units_journal(
    no_intel_gpu_here: None, xpu_ipex_ollama: IpexOllamaServer, tmp_path: Path
) -> None:
    """`--journal UNIT` runs `journalctl -o cat -u UNIT` on this machine. This machine has no such
    unit, so a journalctl on PATH prints the real server's log for exactly that invocation, as
    journald would for the unit (`-o cat`: message text only)."""
    fake = tmp_path / "bin" / "journalctl"
    fake.parent.mkdir()
    fake.write_text(
        "#!/bin/sh\n"
        f'case " $* " in *" -o cat "*" -u ollama.service "*) exec cat {xpu_ipex_ollama.log} ;; esac\n'
        "exit 1\n"
    )
    fake.chmod(0o755)
    env = {**os.environ, "PATH": f"{fake.parent}:{os.environ['PATH']}"}
    run = run_xpu("check", "ollama", xpu_ipex_ollama.url, "--json", "--journal", "ollama.service", env=env, timeout=300)
    assert run.returncode == 1, run.stderr
    assert [f["id"] for f in json.loads(run.stdout)["findings"]] == ["ollama-no-sycl-gpu"]


def test_check_cli_rejects_an_empty_journal_unit() -> None:
    run = run_xpu("check", "ollama", "http://127.0.0.1:1", "--journal", " ", timeout=60)
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert run.stderr.strip().endswith("--journal needs a unit name, e.g. ollama.service")


@pytest.mark.parametrize(
    "journal, finding",
    [
        (False, "The Ollama model runner died"),
        (True, "No Intel GPU visible to SYCL"),
    ],
)
def test_bench_on_the_real_server_names_the_failure(
    no_intel_gpu_here: None, xpu_ipex_ollama: IpexOllamaServer, tmp_path: Path, journal: bool, finding: str
) -> None:
    """`xpu bench ollama` against Intel's real IPEX-LLM Ollama: the first generate fails, and the
    error says why (from the HTTP error alone, or precisely from the unit's journal)."""
    fake = tmp_path / "bin" / "journalctl"
    fake.parent.mkdir()
    fake.write_text(f"#!/bin/sh\nexec cat {xpu_ipex_ollama.log}\n")
    fake.chmod(0o755)
    env = {**os.environ, "PATH": f"{fake.parent}:{os.environ['PATH']}"}
    args = [
        "bench",
        "ollama",
        "--backend",
        f"ipex-llm={xpu_ipex_ollama.url}",
        "--out",
        str(tmp_path / "out"),
    ] + (["--journal", "ollama.service"] if journal else [])
    run = run_xpu(*args, env=env, timeout=300)
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert RUNNER_DIED.search(run.stderr.splitlines()[0]), run.stderr
    assert finding in run.stderr, run.stderr
    assert not (tmp_path / "out").exists()  # no report from a run that measured nothing
