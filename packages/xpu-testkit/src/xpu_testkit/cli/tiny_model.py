"""``xpu tiny-model PATH``: write the tiny llama GGUF model the service checks use."""

from __future__ import annotations

import argparse
from pathlib import Path

from xpu_tool.cli.common import seed, write_output
from xpu_tool.cli.exit_codes import Exit
from xpu_tool.services.tiny_gguf import write_tiny_llama


def add_parser(sub: argparse._SubParsersAction) -> None:
    tiny = sub.add_parser("tiny-model", help="write the tiny llama GGUF model the service checks use")
    tiny.add_argument("path", type=Path)
    tiny.add_argument("--seed", type=seed, default=0)


def run(args: argparse.Namespace) -> int:
    model = write_output(args.path, lambda path: write_tiny_llama(path, args.seed))
    print(f"{model.path} {model.size} bytes sha256:{model.sha256}")
    return Exit.OK
