"""Shared by the fault tests: where a run may leave things behind."""

from __future__ import annotations

import os
from pathlib import Path


def fresh_tmpdir(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """(an environment whose TMPDIR is a fresh directory below tmp_path, that directory): where a
    VM's xpu-vm-* directory goes, to see what a run leaves there."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    return {**os.environ, "TMPDIR": str(tmp)}, tmp
