"""Write a file whole or not at all: through a temporary name beside it, renamed into place only
once complete, so a full disk or a crash never leaves a truncated file under the real name.

The temporary name is ``.NAME.<random>.part`` in the same directory (``partial_glob`` matches it):
it starts with a dot and does not end in the real name's suffix, so a reader that globs ``*.prom``
or ``*.json`` never sees it. A caller tells the two ways it can fail apart by their class:
``TemporaryFileError`` when the temporary file cannot even be created (the directory is read-only or
missing), any other OSError when writing or renaming it fails (a full disk).

The file gets the mode a plain ``open(path, "w")`` would give it, 0666 less the umask (0644 under
022), not ``mkstemp``'s 0600: a model written for a service's own user (a DynamicUser) must stay
readable by it. A writer that needs another mode sets it on the temporary file (the textfile
export's 0644 whatever the umask) or passes ``mode``.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")
SUFFIX = ".part"


class TemporaryFileError(OSError):
    """The temporary file beside the target could not be created: nothing was written."""


def partial_glob(path: Path) -> str:
    """The glob (in ``path.parent``) of every temporary file ``write_atomically(path, ...)`` makes."""
    return f".{path.name}.*{SUFFIX}"


def default_mode() -> int:
    """0666 less this process's umask: the mode ``open(path, "w")`` gives a new file."""
    try:  # Linux >= 4.7 shows it without changing it
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    umask = os.umask(0o022)  # elsewhere: read by setting it, and put back at once
    os.umask(umask)
    return 0o666 & ~umask


def write_atomically(path: Path, write: Callable[[Path], T], mode: int | None = None) -> T:
    """Run ``write(temporary path)`` and rename the result to ``path``, which gets ``mode`` (default:
    0666 less the umask, as a new file would; ``write`` may still change it). An existing ``path``
    that is not a regular file (a directory, a device, a FIFO) is never replaced: OSError. On any
    failure the partial file is removed and the exception propagates (TemporaryFileError if it could
    not be made)."""
    if path.exists() and not path.is_file():
        raise OSError(errno.EEXIST, "exists and is not a regular file", str(path))
    try:
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=SUFFIX)
    except OSError as exc:
        raise TemporaryFileError(exc.errno, exc.strerror, exc.filename) from None
    try:
        os.fchmod(fd, default_mode() if mode is None else mode)
    finally:
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
