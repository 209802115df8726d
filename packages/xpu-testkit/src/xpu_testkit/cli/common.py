"""What several ``xpu`` commands share: the one-line parser, URL and timeout checks, JSON output,
and refusing a flag that belongs to the other service."""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Mapping, Sequence
from typing import Any, NoReturn

from ..errors import ConfigError


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
