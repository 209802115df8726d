"""``xpu upstream``: the versions flake.lock pins against what the inputs offer now."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..upstream import GitHub, compare, to_markdown
from .common import check_timeout, print_json
from .exit_codes import for_outcome


def add_parser(sub: argparse._SubParsersAction) -> None:
    upstream = sub.add_parser("upstream", help="the versions flake.lock pins against what the inputs offer now")
    upstream.add_argument("--lock", type=Path, default=Path("flake.lock"), help="default ./flake.lock")
    upstream.add_argument("--json", action="store_true", help="print a list of rows, one per tracked package")
    upstream.add_argument("--github-api", default="https://api.github.com", metavar="URL", help=argparse.SUPPRESS)
    upstream.add_argument(
        "--github-raw", default="https://raw.githubusercontent.com", metavar="URL", help=argparse.SUPPRESS
    )
    upstream.add_argument("--timeout", type=float, default=30.0, metavar="SECONDS")


def run(args: argparse.Namespace) -> int:
    check_timeout(args.timeout)
    rows = compare(args.lock, GitHub(args.github_api.rstrip("/"), args.github_raw.rstrip("/"), args.timeout))
    if args.json:
        print_json([r.to_dict() for r in rows])
    else:
        sys.stdout.write(to_markdown(rows))
    return for_outcome(not any(r.error for r in rows))
