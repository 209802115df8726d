"""A saved llama-server log given with ``--log FILE``: its last 4 MiB as text, or one line saying why
the file is not a log."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from ...errors import ConfigError

MAX_LOG_BYTES = 4 * 1024 * 1024  # --log reads at most the file's last 4 MiB


def read_log_file(path: Path, limit: int = MAX_LOG_BYTES) -> str:
    """A saved server log as text, at most its last ``limit`` bytes; ConfigError (one line) for a file
    that is missing, not a regular file, unreadable or binary."""
    try:
        if path.is_dir():
            raise IsADirectoryError
        if not stat.S_ISREG(path.stat().st_mode):  # a FIFO would block the open, /dev/zero never end
            raise ConfigError(f"--log {path}: not a regular file")
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            f.seek(max(0, size - limit))
            data = f.read(limit)
    except FileNotFoundError:
        raise ConfigError(f"--log {path}: no such file") from None
    except IsADirectoryError:
        raise ConfigError(f"--log {path}: is a directory; give the server's log file") from None
    except OSError as exc:
        raise ConfigError(f"--log {path}: cannot read it: {exc.strerror or exc}") from None
    if size > limit:  # started mid-line: drop the partial first line
        data = data.partition(b"\n")[2]
    text = data.decode("utf-8", errors="replace")
    if data.count(b"\0") > len(data) // 100 or text.count("\ufffd") > len(text) // 10:
        raise ConfigError(
            f"--log {path}: not a text log (binary data); give llama-server's log, e.g. "
            "journalctl -u llama-cpp -o cat > llama.log"
        )
    return text
