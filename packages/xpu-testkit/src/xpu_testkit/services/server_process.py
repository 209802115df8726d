"""What the real servers the tests start share: a process on a loopback port, its home directory
with the log, waiting until it answers, stopping it (never leaving it running), and keeping the
home after an error so the log can be read."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Self

import requests

from xpu_tool.deadline import Deadline, retry
from xpu_tool.errors import XpuError


class ServerProcess:
    """Mixin for a dataclass with ``home``, ``process`` and ``url``; it provides ``log_text``,
    ``wait_until_answering``, ``stop``, ``remove`` and ``with`` (home removed after a clean exit)."""

    home: Path
    process: subprocess.Popen[bytes] | None
    log_name = "server.log"
    stop_seconds = 15.0

    @property
    def url(self) -> str:
        raise NotImplementedError

    @property
    def log(self) -> Path:
        return self.home / self.log_name

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    def start(self) -> Self:
        raise NotImplementedError

    def wait_until_answering(self, path: str, timeout: float, name: str, error: type[XpuError]) -> None:
        """Until GET ``path`` answers 2xx; ``error`` (with the log's end) if the process exits or
        ``timeout`` passes, and then the process is stopped."""
        process = self.process
        assert process is not None

        def attempt() -> tuple[bool, None]:
            if process.poll() is not None:
                raise error(f"{name} exited with {process.returncode} at start: {self.log_text()[-800:]}")
            try:
                return requests.get(self.url + path, timeout=2).ok, None
            except requests.RequestException:
                return False, None

        answered, _ = retry(attempt, Deadline.after(timeout), interval=0.2)
        if answered:
            return
        self.stop()
        raise error(f"{name} did not answer on {self.url} within {timeout:.0f} s: {self.log_text()[-800:]}")

    def stop(self) -> None:
        proc = self.process
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(self.stop_seconds)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def remove(self) -> None:
        shutil.rmtree(self.home, ignore_errors=True)

    def __enter__(self) -> Self:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, exc_type: object, *exc: object) -> None:
        self.stop()
        if exc_type is None:  # after an error the home stays: the log explains it
            self.remove()
