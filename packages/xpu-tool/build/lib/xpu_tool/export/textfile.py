"""Write a metrics file the way node-exporter's textfile collector needs it: atomically."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from ..errors import ConfigError


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same directory and a rename, so
    a reader sees the old file or the new one, never half of one. The temporary name does not end
    in .prom, so the collector never reads it."""
    directory = path.parent
    if not directory.is_dir():
        raise ConfigError(f"{directory}: no such directory")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise ConfigError(f"{directory}: cannot write there ({exc.strerror})") from None
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise ConfigError(f"{path}: cannot write ({exc.strerror})") from None
