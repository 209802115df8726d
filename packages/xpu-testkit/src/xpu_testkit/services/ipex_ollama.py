"""Run Intel's IPEX-LLM build of Ollama from a Python environment (PyPI ``bigdl-core-cpp``).

The binary is ``bigdl/cpp/libs/ollama`` inside the package; it needs the oneAPI 2024 runtime
wheels of the same environment on LD_LIBRARY_PATH and an OpenCL runtime named by
OCL_ICD_FILENAMES. It serves the real Ollama API (version 0.0.0, a 0.3-era server); its SYCL model
runner aborts without an Intel GPU, which is the failure the diagnosis must name.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from xpu_tool.errors import XpuError

from ..process import free_port, popen_tied
from .server_process import ServerProcess


class OllamaServerError(XpuError):
    """The server could not be started."""


def find_binary(venv: Path) -> Path | None:
    for site in sorted(venv.glob("lib/python3*/site-packages")):
        binary = site / "bigdl" / "cpp" / "libs" / "ollama"
        if binary.exists():
            return binary
    return None


@dataclass
class IpexOllamaServer(ServerProcess):
    """``with IpexOllamaServer(venv) as server: server.url`` -- started on a free loopback port."""

    venv: Path
    home: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="xpu-ollama-")))
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    log_name = "serve.log"
    stop_seconds = 10.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> IpexOllamaServer:
        binary = find_binary(self.venv)
        if binary is None:
            raise OllamaServerError(f"no bigdl/cpp/libs/ollama in {self.venv} (pip install bigdl-core-cpp==2.5.0)")
        self.port = free_port()
        lib = self.venv / "lib"
        env = {
            "PATH": "/usr/bin:/bin",
            "HOME": str(self.home),
            "OLLAMA_HOST": f"127.0.0.1:{self.port}",
            "OLLAMA_MODELS": str(self.home / "models"),
            "LD_LIBRARY_PATH": f"{lib}:{binary.parent}",
            "OCL_ICD_FILENAMES": str(lib / "libintelocl.so"),
            "OLLAMA_KEEP_ALIVE": "5m",
        }
        with open(self.log, "wb") as log:
            self.process = popen_tied(
                [str(binary), "serve"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.home,
            )
        self.wait_until_answering("/api/version", timeout, "ollama serve", OllamaServerError)
        return self


def default_venv() -> Path:
    return Path(os.environ.get("XPU_IPEX_OLLAMA_VENV", ".venv-ipex-ollama")).absolute()
