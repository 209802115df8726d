"""packages/ollama-ipex-llm unpacks the Ollama binary's embedded model runners at build time, without
starting a server (extract-runners.py). Checked against the real IPEX-LLM Ollama of
XPU_IPEX_OLLAMA_VENV (bootstrap.sh installs it): the files are the ones its server unpacks, byte for
byte, and its server uses them from a read-only OLLAMA_RUNNERS_DIR without unpacking again.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "packages" / "ollama-ipex-llm"
EXTRACT = PACKAGE / "extract-runners.py"
TIMEOUT = 60


@dataclass(frozen=True)
class Server:
    url: str
    tmpdir: Path
    log: Path


@pytest.fixture(scope="module")
def ollama_libs() -> Path:
    venv = os.environ.get("XPU_IPEX_OLLAMA_VENV")
    libs = Path(venv or "/nonexistent") / "lib/python3.11/site-packages/bigdl/cpp/libs"
    if not (libs / "ollama").is_file():
        pytest.skip("XPU_IPEX_OLLAMA_VENV is not set to the IPEX-LLM Ollama environment (./bootstrap.sh test sets it)")
    return libs


def extract(binary: Path, out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(EXTRACT), str(binary), str(out)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def runner_files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("ollama_llama_server"))}


@pytest.fixture
def serve(ollama_libs: Path, tmp_path: Path) -> Iterator:
    """Start the real `ollama serve` on a free port; every server started is stopped afterwards."""
    started: list[subprocess.Popen] = []

    def start(env: dict[str, str]) -> Server:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        tmpdir = tmp_path / f"tmp-{len(started)}"
        tmpdir.mkdir()
        log = tmp_path / f"serve-{len(started)}.log"
        environment = {
            "PATH": os.environ["PATH"],
            "HOME": str(tmp_path),
            "OLLAMA_TMPDIR": str(tmpdir),
            "OLLAMA_HOST": f"127.0.0.1:{port}",
            "LD_LIBRARY_PATH": str(ollama_libs),
            **env,
        }
        with log.open("w") as out:
            started.append(
                subprocess.Popen(
                    [str(ollama_libs / "ollama"), "serve"], env=environment, stdout=out, stderr=subprocess.STDOUT
                )
            )
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + TIMEOUT
        while True:
            try:
                with urllib.request.urlopen(f"{url}/api/version", timeout=2) as response:
                    json.load(response)
                return Server(url, tmpdir, log)
            except OSError:
                if time.monotonic() > deadline or started[-1].poll() is not None:
                    pytest.fail(f"ollama serve did not answer: {log.read_text()[-2000:]}")
                time.sleep(0.2)

    yield start
    for process in started:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def test_the_runners_are_the_ones_the_server_unpacks(ollama_libs: Path, serve, tmp_path: Path) -> None:
    run = extract(ollama_libs / "ollama", tmp_path / "extracted")
    assert run.returncode == 0, run.stderr
    extracted = runner_files(tmp_path / "extracted")
    assert set(extracted) >= {"cpu/ollama_llama_server", "cpu_avx2/ollama_llama_server"}
    assert all(data[:4] == b"\x7fELF" for data in extracted.values())

    server = serve({})  # unpacks into OLLAMA_TMPDIR/runners while it starts
    runners = server.tmpdir / "runners"
    deadline = time.monotonic() + TIMEOUT
    while len(runner_files(runners)) < len(extracted) and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(0.5)  # the last file may still be being written
    assert runner_files(runners) == extracted


def test_the_server_uses_an_existing_runners_dir_without_unpacking(ollama_libs: Path, serve, tmp_path: Path) -> None:
    """What the package's OLLAMA_RUNNERS_DIR relies on: runners already there are used as they are
    (not written again: same inode, same mtime), so the read-only store copy works."""
    runners = tmp_path / "runners"
    assert extract(ollama_libs / "ollama", runners).returncode == 0
    before = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in runners.rglob("ollama_llama_server")}
    time.sleep(0.05)
    server = serve({"OLLAMA_RUNNERS_DIR": str(runners)})
    deadline = time.monotonic() + TIMEOUT
    while "Dynamic LLM libraries" not in server.log.read_text() and time.monotonic() < deadline:
        time.sleep(0.2)
    log = server.log.read_text()
    listed = re.search(r"Dynamic LLM libraries \[([^\]]*)\]", log)
    assert listed is not None, log[-2000:]
    assert sorted(listed.group(1).split()) == ["cpu", "cpu_avx", "cpu_avx2"]  # Go's map order varies
    assert {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in runners.rglob("ollama_llama_server")} == before
    assert not list(server.tmpdir.rglob("ollama_llama_server"))


def test_a_binary_without_runners_is_one_line_and_exit_1(tmp_path: Path) -> None:
    run = extract(Path(sys.executable).resolve(), tmp_path / "out")
    assert run.returncode == 1 and run.stderr.count("\n") == 1 and "no embedded runners" in run.stderr
    missing = extract(tmp_path / "missing", tmp_path / "out")
    assert missing.returncode == 1 and "Traceback" not in missing.stderr and missing.stderr.count("\n") == 1
    usage = subprocess.run([sys.executable, str(EXTRACT)], capture_output=True, text=True, timeout=TIMEOUT, check=False)
    assert usage.returncode == 2 and usage.stderr.startswith("usage:")


def test_the_package_unpacks_them_at_build_time_and_starts_no_server() -> None:
    """package.nix evaluated with stand-in arguments: its install phase runs this script on the
    installed binary into the directory OLLAMA_RUNNERS_DIR names, and no phase runs `ollama serve`."""
    nix = shutil.which("nix-instantiate")
    if nix is None:
        pytest.skip("nix-instantiate is not installed (apt-get install nix-bin)")
    lib = os.environ.get("XPU_NIXPKGS_LIB")
    if not lib or not (Path(lib) / "lib/default.nix").is_file():
        pytest.skip("set XPU_NIXPKGS_LIB to nixpkgs' library (bootstrap.sh uses ../shared/upstream)")
    expr = f"""
      let
        drv = import {PACKAGE}/package.nix {{
          lib = import {lib}/lib;
          stdenv = {{ mkDerivation = args: args; cc.cc.lib = "cc-lib"; }};
          fetchurl = args: args.name;
          unzip = "unzip"; autoPatchelfHook = "autoPatchelfHook"; makeWrapper = "makeWrapper";
          python3 = "python3"; level-zero = "level-zero"; ocl-icd = "ocl-icd"; zlib = "zlib";
        }};
      in {{
        inherit (drv) installPhase nativeBuildInputs;
        phases = builtins.concatStringsSep "\\n"
          (map (p: drv.${{p}} or "") [ "preInstall" "postInstall" "preFixup" "postFixup" ]);
      }}
    """
    run = subprocess.run(
        [nix, "--read-write-mode", "--eval", "--strict", "--json", "-E", expr],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    got = json.loads(run.stdout)
    script = next(line for line in got["installPhase"].splitlines() if "extract-runners.py" in line).split()
    assert script[0] == "python3" and script[1].startswith("/nix/store/") and script[1].endswith("-extract-runners.py")
    assert script[2:] == ["$out/libexec/ollama-ipex-llm/ollama", "$out/libexec/ollama-ipex-llm/runners"]
    assert 'OLLAMA_RUNNERS_DIR "$out/libexec/ollama-ipex-llm/runners"' in got["installPhase"]
    assert "python3" in got["nativeBuildInputs"]
    assert not re.search(r"ollama\S* serve\b", got["installPhase"] + got["phases"])
