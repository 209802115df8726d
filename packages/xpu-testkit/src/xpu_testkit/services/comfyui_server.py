"""Run ComfyUI from a source checkout on the CPU, on a free loopback port, in directories of its own.

``ComfyServer(src, venv)`` runs ``VENV/bin/python SRC/main.py --cpu --listen 127.0.0.1 --port P``
with its base, output, input, temp and user directories (and its database) below ``home`` and its
bytecode in the environment, so the checkout is only read. The checkpoint of the ``one-step-sd15``
workflow can be put into ``checkpoints`` before or after the start (ComfyUI lists the folder when a
prompt names it).
``setup/comfyui-env.sh VENV SRC`` builds the environment.
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

SRC_VARIABLE = "XPU_COMFYUI_SRC"
VENV_VARIABLE = "XPU_COMFYUI_VENV"


class ComfyServerError(XpuError):
    """The server could not be started."""


@dataclass(frozen=True)
class ComfyInstall:
    """A ComfyUI source checkout and the Python environment that runs it."""

    src: Path
    venv: Path

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    def problem(self) -> str | None:
        """Why this install cannot run, or None."""
        if not (self.src / "main.py").is_file():
            return f"{self.src} is not a ComfyUI checkout (no main.py)"
        if not self.python.exists():
            return f"{self.venv} is not a Python environment (build it: setup/comfyui-env.sh {self.venv} {self.src})"
        return None


def install_from_environment(env: dict[str, str] | None = None) -> ComfyInstall | str:
    """The install XPU_COMFYUI_SRC and XPU_COMFYUI_VENV name, or why there is none."""
    env = dict(os.environ) if env is None else env
    src, venv = env.get(SRC_VARIABLE), env.get(VENV_VARIABLE)
    if not src or not venv:
        return (
            f"no ComfyUI to start: set {SRC_VARIABLE} to a ComfyUI checkout and {VENV_VARIABLE} to the "
            "environment setup/comfyui-env.sh builds for it (./bootstrap.sh test does both)"
        )
    install = ComfyInstall(Path(src).absolute(), Path(venv).absolute())
    return install.problem() or install


@dataclass
class ComfyServer(ServerProcess):
    """``with ComfyServer(install) as server: server.url``; the home directory (models, outputs, the
    log) is removed after a clean exit and kept after an exception."""

    install: ComfyInstall
    home: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="xpu-comfyui-")))
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    log_name = "comfyui.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def checkpoints(self) -> Path:
        return self.home / "models" / "checkpoints"

    def command(self) -> list[str]:
        h = self.home
        return [
            str(self.install.python),
            str(self.install.src / "main.py"),
            "--cpu",
            "--listen",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--base-directory",
            str(h),
            "--output-directory",
            str(h / "output"),
            "--input-directory",
            str(h / "input"),
            "--temp-directory",
            str(h / "temp"),
            "--user-directory",
            str(h / "user"),
            "--database-url",
            f"sqlite:///{h / 'user' / 'comfyui.db'}",
            "--disable-auto-launch",
            "--disable-all-custom-nodes",
            "--disable-api-nodes",
        ]

    def start(self, timeout: float = 120.0) -> ComfyServer:
        problem = self.install.problem()
        if problem:
            raise ComfyServerError(problem)
        for sub in ("output", "input", "temp", "user", "custom_nodes"):
            (self.home / sub).mkdir(parents=True, exist_ok=True)
        self.checkpoints.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        # bytecode goes into the environment, not into the checkout (which may be shared or read-only)
        env = {
            "PATH": f"{self.install.venv / 'bin'}:/usr/bin:/bin",
            "HOME": str(self.home),
            "PYTHONPYCACHEPREFIX": str(self.install.venv / "pycache"),
            "PYTHONUNBUFFERED": "1",
            "TQDM_DISABLE": "1",
            "HF_HUB_OFFLINE": "1",
            "DO_NOT_TRACK": "1",
        }
        with open(self.log, "wb") as log:
            self.process = popen_tied(
                self.command(),
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.home,
            )
        self.wait_until_answering("/system_stats", timeout, "ComfyUI", ComfyServerError)
        return self
