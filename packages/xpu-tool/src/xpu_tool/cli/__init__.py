"""The ``xpu`` command: the parser assembled from one module per command, and ``main``.

    xpu doctor [--target URL|NAME]... [--inventory FILE] [--json] [--user NAME] [--sysroot DIR]
    xpu collect {level-zero,dpctl,torch}
    xpu check {ollama,comfyui} URL [--expect-gpu] [--json] [--journal UNIT | --workflow NAME --checkpoint FILE]
    xpu tiny-model PATH [--seed N]
    xpu tiny-checkpoint PATH [--seed N]
    xpu bench ollama --backend NAME=URL... [--out DIR] [--repetitions N] [--journal UNIT]
    xpu bench comfyui --xpu URL --cpu URL [--steps N] [--harness] [--checkpoint FILE]
    xpu export [--textfile FILE.prom | --listen [ADDRESS:]PORT] [--ollama URL]... [--comfyui URL]...
    xpu upstream [--lock FILE] [--json]
    xpu vm {boot,run,shell} (--kernel K --initrd I | --run-script S | --debian-guest) [--forward PORT]...

Exit codes: ``cli.exit_codes`` (0 ok, 1 a blocking finding or failed check, 2 usage or
configuration, 4 target unreachable, 5 VM failed, 70 internal error, 130 interrupted).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Sequence

from .. import __version__
from ..errors import XpuError
from . import bench, check, collect, doctor, export, tiny_checkpoint, tiny_model, upstream, vm
from .common import Parser
from .exit_codes import Exit, for_exception

COMMANDS = {"doctor": doctor, "collect": collect, "check": check, "tiny-model": tiny_model,
            "tiny-checkpoint": tiny_checkpoint, "bench": bench, "export": export, "upstream": upstream, "vm": vm}


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="xpu", description="Check and test an Intel GPU (XPU) AI stack.")
    parser.add_argument("--version", action="version", version=f"xpu-testkit {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for command in COMMANDS.values():
        command.add_parser(sub)
    return parser


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _tolerant_streams() -> None:
    """Text the terminal's encoding cannot show (PYTHONIOENCODING=ascii, LANG=C) is escaped, not a crash."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)  # absent on a stream a caller swapped in
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")


def main(argv: Sequence[str] | None = None) -> int:
    _tolerant_streams()
    try:
        for signum in (signal.SIGTERM, signal.SIGHUP):  # unwind (stop VMs, restore drivers) as on Ctrl-C
            signal.signal(signum, _terminate)
        args = build_parser().parse_args(argv)
        return int(COMMANDS[args.command].run(args))
    except XpuError as exc:
        code = for_exception(exc)
        print(f"xpu: {exc}" if code is Exit.FAILED else f"xpu: error: {exc}", file=sys.stderr)
        return code
    except KeyboardInterrupt:
        print("xpu: interrupted", file=sys.stderr)
        return Exit.INTERRUPTED
    except BrokenPipeError:
        return Exit.OK
    except Exception as exc:  # a bug: one line unless asked for the trace
        if os.environ.get("XPU_DEBUG"):
            raise
        print(f"xpu: internal error: {type(exc).__name__}: {exc} (set XPU_DEBUG=1 for the trace)", file=sys.stderr)
        return Exit.INTERNAL


if __name__ == "__main__":
    sys.exit(main())
