"""What several ``xpu`` commands share: the one-line parser, URL, timeout and seed checks, JSON
output, writing one output file, refusing a flag that belongs to the other service, and cutting
what an error echoes to a readable length."""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn, TypeVar

from ..errors import ConfigError
from ..urls import check_url, redact

T = TypeVar("T")
SHOWN = 80  # characters of a value an error echoes
MAX_LINE = 300  # characters of one line of an error, whatever it echoes


def clip(value: str, limit: int = SHOWN) -> str:
    """``repr(value)`` for an error message, cut after ``limit`` characters (saying how long it was)."""
    if len(value) <= limit:
        return repr(value)
    return f"{value[:limit]!r}... ({len(value)} characters)"


def readable(message: str, limit: int = MAX_LINE) -> str:
    """``message`` with each line cut to ``limit`` characters, keeping its start and its end (where
    the advice is): the last guard for a value some message echoed whole (argparse's own, a path).
    Indented lines are commands to copy (a restore to finish by hand): they stay whole."""
    lines = []
    for line in message.splitlines() or [""]:
        keep = limit - 40
        long = len(line) > limit and not line.startswith("  ")
        lines.append(f"{line[: keep - 60]} [... {len(line) - keep} characters ...] {line[-60:]}" if long else line)
    return "\n".join(lines)


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, not usage + error
        raise ConfigError(f"{message} (see `{self.prog} --help`)")


def http_url(url: str) -> str:
    """``url`` when it is a whole http(s) URL (xpu_tool.urls.check_url); ConfigError otherwise."""
    try:
        return check_url(url)
    except ValueError as exc:
        raise ConfigError(f"{clip(redact(url))} is not an http(s) URL ({exc})") from None


def bounded_int(low: int, high: int) -> Callable[[str], int]:
    """argparse type: a whole number from ``low`` to ``high``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{clip(text)} is not a whole number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is not between {low} and {high}")
        return value

    parse.__name__ = f"whole number {low}..{high}"
    return parse


tcp_port = bounded_int(1, 65535)

USER_NAME = re.compile(r"[a-z_][a-z0-9_-]*[$]?")


def user_name(text: str) -> str:
    """argparse type: a POSIX/systemd user name (lower-case letters, digits, _ and -, not starting
    with a digit or -, an optional trailing $, at most 32 characters)."""
    if len(text) > 32 or not USER_NAME.fullmatch(text):
        raise argparse.ArgumentTypeError(f"{clip(text)} is not a valid user name (like alice or svc_ollama)")
    return text


def check_timeout(seconds: float) -> float:
    if not math.isfinite(seconds) or seconds <= 0:
        raise ConfigError(f"--timeout {seconds}: must be a positive number of seconds")
    return seconds


def print_json(payload: Any) -> None:
    json.dump(payload, sys.stdout, indent=2)
    sys.stdout.write("\n")


def refuse_foreign_flags(args: argparse.Namespace, only: Mapping[str, Sequence[str]]) -> None:
    """``only`` maps a service to the flags (argparse dests) only it takes (a flag listed under several
    services is theirs); a flag of other services than ``args.service`` is a usage error instead of
    being silently ignored."""
    owners: dict[str, list[str]] = {}
    for service, dests in only.items():
        for dest in dests:
            owners.setdefault(dest, []).append(service)
    for dest, services in owners.items():
        if args.service in services:
            continue
        if getattr(args, dest) not in (None, False, []):
            flag = "--" + dest.replace("_", "-")
            named = " and ".join(f"`xpu {args.command} {service}`" for service in services)
            raise ConfigError(f"{flag} applies to {named}, not to {args.service}")


seed = bounded_int(0, 2**32 - 1)  # a --seed: numpy's seeds


def write_output(path: Path, write: Callable[[Path], T]) -> T:
    """Run ``write(path)`` for a command that writes one file; a path it cannot write is a usage
    error naming the path and the reason (a directory, a device, a missing or read-only folder, a
    full disk)."""
    if path.is_dir():
        raise ConfigError(f"{path}: is a directory; give a file name")
    if path.exists() and not path.is_file():  # a device or a FIFO: never replaced by a file
        raise ConfigError(f"{path}: not a regular file")
    if not path.parent.is_dir():
        raise ConfigError(f"{path.parent}: not a directory")
    try:
        return write(path)
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc}") from None
