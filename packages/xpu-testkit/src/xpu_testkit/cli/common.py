"""What several ``xpu`` commands share: the one-line parser, URL, timeout and seed checks, JSON
output, writing one output file, and refusing a flag that belongs to the other service."""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn, TypeVar

from ..errors import ConfigError

T = TypeVar("T")


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, not usage + error
        raise ConfigError(f"{message} (see `{self.prog} --help`)")


def http_url(url: str) -> str:
    """``url`` when it is an http(s) URL; ConfigError otherwise."""
    if not url.startswith(("http://", "https://")) or len(url) <= len("https://"):
        raise ConfigError(f"{url!r} is not an http(s) URL")
    return url


def check_timeout(seconds: float) -> float:
    if not math.isfinite(seconds) or seconds <= 0:
        raise ConfigError(f"--timeout {seconds}: must be a positive number of seconds")
    return seconds


def print_json(payload: Any) -> None:
    json.dump(payload, sys.stdout, indent=2)
    sys.stdout.write("\n")


def refuse_foreign_flags(args: argparse.Namespace, only: Mapping[str, Sequence[str]]) -> None:
    """``only`` maps a service to the flags (argparse dests) only it takes; a flag of another
    service than ``args.service`` is a usage error instead of being silently ignored."""
    for service, dests in only.items():
        if service == args.service:
            continue
        for dest in dests:
            if getattr(args, dest) not in (None, False, []):
                flag = "--" + dest.replace("_", "-")
                raise ConfigError(f"{flag} applies to `xpu {args.command} {service}`, not to {args.service}")


def seed(text: str) -> int:
    """argparse type of a --seed: a whole number from 0 to 2**32 - 1 (numpy's seeds)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"{value} is not between 0 and {2**32 - 1}")
    return value


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
