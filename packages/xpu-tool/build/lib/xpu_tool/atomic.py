"""Write a file whole or not at all: through a temporary name beside it, renamed into place only
once complete, so a full disk or a crash never leaves a truncated file under the real name."""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def write_atomically(path: Path, write: Callable[[Path], T]) -> T:
    """Run ``write(temporary path)`` and rename the result to ``path``. An existing ``path`` that is
    not a regular file (a directory, a device, a FIFO) is never replaced: OSError. On any failure the
    partial file is removed and the exception propagates."""
    if path.exists() and not path.is_file():
        raise OSError(errno.EEXIST, "exists and is not a regular file", str(path))
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    os.close(fd)
    partial = Path(name)
    try:
        result = write(partial)
        os.replace(partial, path)
    except BaseException:
        with contextlib.suppress(OSError):
            partial.unlink()
        raise
    return result
