"""Run Intel's IPEX-LLM build of Ollama from a Python environment (PyPI ``bigdl-core-cpp``).

The binary is ``bigdl/cpp/libs/ollama`` inside the package; it needs the oneAPI 2024 runtime
wheels of the same environment on LD_LIBRARY_PATH and an OpenCL runtime named by
OCL_ICD_FILENAMES. It serves the real Ollama API (version 0.0.0, a 0.3-era server); its SYCL model
runner aborts without an Intel GPU, which is the failure the diagnosis must name.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

from ..errors import XpuError
from ..process import die_with_parent, free_port


class OllamaServerError(XpuError):
    """The server could not be started."""


def find_binary(venv: Path) -> Path | None:
    for site in sorted(venv.glob("lib/python3*/site-packages")):
        binary = site / "bigdl" / "cpp" / "libs" / "ollama"
        if binary.exists():
            return binary
    return None


@dataclass
class IpexOllamaServer:
    """``with IpexOllamaServer(venv) as server: server.url`` -- started on a free loopback port."""

    venv: Path
    home: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="xpu-ollama-")))
    port: int = 0
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.home / "serve.log"

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    def start(self, timeout: float = 60.0) -> IpexOllamaServer:
        binary = find_binary(self.venv)
        if binary is None:
            raise OllamaServerError(f"no bigdl/cpp/libs/ollama in {self.venv} (pip install bigdl-core-cpp==2.5.0)")
        self.port = free_port()
        lib = self.venv / "lib"
        env = {
            "PATH": "/usr/bin:/bin", "HOME": str(self.home), "OLLAMA_HOST": f"127.0.0.1:{self.port}",
            "OLLAMA_MODELS": str(self.home / "models"), "LD_LIBRARY_PATH": f"{lib}:{binary.parent}",
            "OCL_ICD_FILENAMES": str(lib / "libintelocl.so"), "OLLAMA_KEEP_ALIVE": "5m",
        }
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen([str(binary), "serve"], env=env, stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, cwd=self.home, preexec_fn=die_with_parent)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise OllamaServerError(f"ollama serve exited with {self.process.returncode}: "
                                        f"{self.log_text()[-500:]}")
            try:
                if requests.get(self.url + "/api/version", timeout=2).ok:
                    return self
            except requests.RequestException:
                time.sleep(0.2)
        self.stop()
        raise OllamaServerError(f"ollama serve did not answer on {self.url} within {timeout:.0f} s")

    def stop(self) -> None:
        proc = self.process
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def __enter__(self) -> IpexOllamaServer:
        return self.start()

    def __exit__(self, exc_type: object, *exc: object) -> None:
        self.stop()
        if exc_type is None:  # after an error the home stays: serve.log explains it
            shutil.rmtree(self.home, ignore_errors=True)


def default_venv() -> Path:
    return Path(os.environ.get("XPU_IPEX_OLLAMA_VENV", ".venv-ipex-ollama")).absolute()
