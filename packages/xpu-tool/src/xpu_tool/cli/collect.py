"""``xpu collect NAME``: print the raw facts one collector gathers on this machine (JSON)."""

from __future__ import annotations

import argparse
import runpy
from importlib import resources

from ..collectors.run import SCRIPTS
from .exit_codes import Exit


def add_parser(sub: argparse._SubParsersAction) -> None:
    collect = sub.add_parser("collect", help="print the raw facts one collector gathers on this machine (JSON)")
    collect.add_argument("name", choices=sorted(SCRIPTS))


def run(args: argparse.Namespace) -> int:
    path = resources.files("xpu_tool.collectors").joinpath(SCRIPTS[args.name])
    with resources.as_file(path) as script:
        runpy.run_path(str(script), run_name="__main__")
    return Exit.OK
