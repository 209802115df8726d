"""Run a real llama.cpp ``llama-server`` for tests: the binaries ``bootstrap.sh test`` builds from
llama.cpp's source (a CPU build and a Vulkan build), named by ``XPU_LLAMA_SERVER_CPU`` and
``XPU_LLAMA_SERVER_VULKAN``.

The server runs on a free loopback port with ``-ngl 99 -lv 4`` (from verbosity 4 on it logs the
device it uses and the layers it offloads), its shared libraries from the binary's own directory,
its log kept in its home. Without an Intel GPU the Vulkan build sees Mesa's lavapipe (a Vulkan
device on the CPU) only with ``GGML_VK_VISIBLE_DEVICES=0``; without that variable it skips the
CPU-type device and runs on the CPU.
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

BUILDS = {"cpu": "XPU_LLAMA_SERVER_CPU", "vulkan": "XPU_LLAMA_SERVER_VULKAN"}
ARGS = ("-ngl", "99", "-lv", "4")
LAVAPIPE = {"GGML_VK_VISIBLE_DEVICES": "0"}  # let llama.cpp use the CPU-type Vulkan device


class LlamaServerError(XpuError):
    """llama-server could not be started."""


def binary_for(build: str) -> Path | None:
    """The llama-server binary of ``build`` (cpu, vulkan) from its environment variable, or None."""
    value = os.environ.get(BUILDS[build], "").strip()
    return Path(value) if value else None


@dataclass
class LlamaServer(ServerProcess):
    """``with LlamaServer(binary, model, env=LAVAPIPE) as server: server.url`` -- started on a free
    loopback port and answering /health (the model loaded) before the block runs."""

    binary: Path
    model: Path
    env: dict[str, str] = field(default_factory=dict)
    args: tuple[str, ...] = ARGS
    home: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="xpu-llama-server-")))
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    log_name = "llama-server.log"
    stop_seconds = 10.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def command(self) -> list[str]:
        return [str(self.binary), "-m", str(self.model), "--host", "127.0.0.1", "--port", str(self.port), *self.args]

    def start(self, timeout: float = 120.0) -> LlamaServer:
        if not self.binary.is_file() or not os.access(self.binary, os.X_OK):
            raise LlamaServerError(f"{self.binary}: not an executable llama-server")
        if not self.model.is_file():
            raise LlamaServerError(f"{self.model}: no such model file")
        self.port = free_port()
        env = {
            "PATH": "/usr/bin:/bin",
            "HOME": str(self.home),
            "XDG_CACHE_HOME": str(self.home / "cache"),
            "LD_LIBRARY_PATH": str(self.binary.parent),
            **self.env,
        }
        with open(self.log, "wb") as log:
            self.process = popen_tied(
                self.command,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.home,
            )
        self.wait_until_answering("/health", timeout, "llama-server", LlamaServerError)
        return self
