"""A systemd unit's journal on a target: what the checks read to name where a service ran and why it
failed (``--journal UNIT``)."""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..errors import ConfigError

if TYPE_CHECKING:
    from ..target import Target

# systemd.unit(5): letters, digits and ":-_.\\", "@" before an instance; journalctl -u also takes
# glob patterns (`ollama*`). At most 255 characters.
UNIT_NAME = re.compile(r"[A-Za-z0-9:_.\\@*?\[\]-]{1,255}")


def check_unit_name(unit: str) -> str:
    """``unit`` if it is a systemd unit name (or a journalctl pattern of one); ConfigError otherwise."""
    if not UNIT_NAME.fullmatch(unit) or unit.count("@") > 1:
        raise ConfigError(
            f"{unit[:60]!r} is not a systemd unit name (letters, digits and :-_.\\@, e.g. ollama.service)"
        )
    return unit


def journal_command(unit: str, lines: int = 300) -> str:
    """The shell command that prints the unit's recent journal, message text only."""
    return f"journalctl --no-pager -o cat -n {int(lines)} -u {shlex.quote(check_unit_name(unit))}"


def journal_reader(target: Target, unit: str = "ollama.service", lines: int = 300) -> Callable[[], str]:
    """A log_reader that reads the unit's journal on the target (empty when it cannot).
    The unit name is checked here, before anything runs (ConfigError)."""
    command = journal_command(unit, lines)

    def read() -> str:
        out = target.run(command, timeout=30)
        return out.stdout if out.ok else ""

    return read


def local_journal(unit: str | None) -> Callable[[], str]:
    """`--journal UNIT`: a reader of that unit's journal on this machine (no text without a unit).
    ConfigError for a name that is not a unit's, before anything runs."""
    if unit is None:
        return str
    if not unit.strip():
        raise ConfigError("--journal needs a unit name, e.g. ollama.service")
    from ..target import open_target  # noqa: PLC0415 - the target layer is only needed with a unit

    return journal_reader(open_target("local://"), unit)
