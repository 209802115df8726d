"""``xpu tiny-checkpoint PATH``: write the random-weight SD1.5 checkpoint the ComfyUI checks load."""

from __future__ import annotations

import argparse
from pathlib import Path

from xpu_tool.cli.common import seed, write_output
from xpu_tool.cli.exit_codes import Exit

from ..services.sd15_checkpoint import NAME, write_checkpoint


def add_parser(sub: argparse._SubParsersAction) -> None:
    tiny = sub.add_parser(
        "tiny-checkpoint",
        help=f"write the random-weight SD1.5 checkpoint the ComfyUI checks load (486 MB; "
        f"put it at ComfyUI's models/checkpoints/{NAME})",
    )
    tiny.add_argument("path", type=Path)
    tiny.add_argument("--seed", type=seed, default=0)


def run(args: argparse.Namespace) -> int:
    made = write_output(args.path, lambda path: write_checkpoint(path, args.seed))
    print(f"{made.path} {made.size} bytes sha256:{made.sha256}")
    return Exit.OK
