"""Write a metrics file the way node-exporter's textfile collector needs it: atomically
(``atomic.write_atomically``: the collector sees the old file or the new one, never half of one,
and never the temporary name, which does not end in .prom), synced to disk, readable by the
collector's user (mode 0644)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from ..atomic import TemporaryFileError, write_atomically
from ..errors import ConfigError

MODE = 0o644


def _synced(data: bytes) -> Callable[[Path], None]:
    def write(partial: Path) -> None:
        with open(partial, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(partial, MODE)

    return write


def write_textfile(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` whole; ConfigError (one line) when the directory is missing or
    cannot take a file, or when the write fails (a full disk)."""
    directory = path.parent
    if not directory.is_dir():
        raise ConfigError(f"{directory}: no such directory")
    try:
        write_atomically(path, _synced(data))
    except TemporaryFileError as exc:
        raise ConfigError(f"{directory}: cannot write there ({exc.strerror})") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot write ({exc.strerror})") from None
