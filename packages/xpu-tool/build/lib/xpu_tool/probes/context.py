"""What every probe is given: the target and how to look at it."""

from __future__ import annotations

from dataclasses import dataclass

from ..target import Target


@dataclass(frozen=True)
class ProbeContext:
    """A probe's view of one target.

    ``sysroot`` prefixes /sys, /proc and /dev for the filesystem probes, so a recorded machine
    layout can be examined like a live one. ``user`` is whose access to the render nodes is
    judged (None: the user the target's commands run as). ``timeout`` bounds each command.
    """

    target: Target
    sysroot: str = ""
    user: str | None = None
    timeout: float = 60.0
