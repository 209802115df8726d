"""The ``xpu`` command: the parser assembled from one module per command, and ``main``.

    xpu doctor [--target URL|NAME]... [--inventory FILE] [--json] [--user NAME] [--sysroot DIR] [--timeout S]
    xpu collect {level-zero,dpctl,torch}
    xpu check {ollama,comfyui} URL [--expect-gpu] [--json] [--journal UNIT | --workflow NAME --checkpoint FILE]
    xpu export [--textfile FILE.prom | --listen [ADDRESS:]PORT] [--ollama URL]... [--comfyui URL]...
    xpu upstream [--lock FILE] [--json]

With the test kit (xpu-testkit) installed, its commands join these through the ``xpu_tool.commands``
entry points (a module with ``add_parser(subparsers)`` and ``run(args) -> int``, and optionally
``EXIT_CODES``, its own exceptions' exit codes: ``cli.exit_codes``):

    xpu bench ollama --backend NAME=URL... [--out DIR] [--repetitions N] [--journal UNIT] [--timeout S]
    xpu bench comfyui --xpu URL --cpu URL [--steps N] [--harness] [--checkpoint FILE] [--timeout S]
    xpu tiny-model PATH [--seed N]
    xpu tiny-checkpoint PATH [--seed N]
    xpu vm {boot,run,shell} (--kernel K --initrd I | --run-script S | --debian-guest) [--forward PORT]...
           [--name NAME] [--memory MB] [--accel auto|kvm|tcg] [--pci ADDRESS [--sysfs-timeout S]]

Exit codes: ``cli.exit_codes`` (0 ok, 1 a blocking finding or failed check, 2 usage or
configuration, 4 target or service unreachable, 5 VM failed (the test kit's), 70 internal error,
130 interrupted).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Sequence
from importlib.metadata import entry_points
from types import ModuleType

from .. import __version__
from ..errors import ConfigError, XpuError
from . import check, collect, doctor, export, upstream
from .common import Parser, readable
from .exit_codes import EXIT_CODES_HELP, Exit, Rows, for_exception, registered

COMMANDS: dict[str, ModuleType] = {
    "doctor": doctor,
    "collect": collect,
    "check": check,
    "export": export,
    "upstream": upstream,
}
PLUGIN_GROUP = "xpu_tool.commands"
# what the test kit adds, named when it is not installed
TEST_KIT_COMMANDS = ("bench", "tiny-model", "tiny-checkpoint", "vm")


def commands() -> tuple[dict[str, ModuleType], dict[str, str]]:
    """The host tool's commands and those installed packages add (entry points in PLUGIN_GROUP), and
    the ones that cannot be loaded (name -> one line naming the entry point and its distribution).
    An installed command never replaces one of the host tool's."""
    found, broken = dict(COMMANDS), {}
    for ep in sorted(entry_points(group=PLUGIN_GROUP), key=lambda ep: ep.name):
        if ep.name in found:
            continue
        try:
            found[ep.name] = ep.load()
        except Exception as exc:  # noqa: BLE001 - a broken or half-installed plugin must not take the CLI down
            dist = ep.dist.name if ep.dist is not None else "an unknown distribution"
            broken[ep.name] = (
                f"`xpu {ep.name}` ({ep.value}, from {dist}) cannot be loaded: {type(exc).__name__}: {str(exc)[:200]}"
            )
    return found, broken


def build_parser(available: dict[str, ModuleType]) -> argparse.ArgumentParser:
    parser = Parser(
        prog="xpu",
        description="Check and test an Intel GPU (XPU) AI stack.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"xpu {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for command in available.values():
        command.add_parser(sub)
    for command_parser in sub.choices.values():  # every command's --help ends with the exit codes
        if command_parser.epilog is None:
            command_parser.epilog = EXIT_CODES_HELP
            command_parser.formatter_class = argparse.RawDescriptionHelpFormatter
    return parser


def _prog(args: argparse.Namespace) -> str:
    """The command line of the (sub)command ``args`` were parsed for: `xpu check ollama`."""
    service = getattr(args, "service", None)
    return " ".join(["xpu", args.command] + ([service] if isinstance(service, str) else []))


def _refuse_missing_test_kit(name: str | None, available: dict[str, ModuleType]) -> None:
    if name in TEST_KIT_COMMANDS and name not in available:
        raise ConfigError(
            f"`xpu {name}` comes with the test kit, which is not installed (from the intel-xpu "
            "repository: pip install ./packages/xpu-testkit; Nix: pkgs.intel-xpu.xpu-testkit)"
        )


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
    exit_codes: Rows = ()  # what the loaded commands register for their own exceptions
    try:
        for signum in (signal.SIGTERM, signal.SIGHUP):  # unwind (stop VMs, restore drivers) as on Ctrl-C
            signal.signal(signum, _terminate)
        argv = sys.argv[1:] if argv is None else list(argv)
        name = next((a for a in argv if not a.startswith("-")), None)
        # a host tool command needs no plugin loaded (the test kit's modules import more)
        available, broken = (dict(COMMANDS), {}) if name in COMMANDS else commands()
        exit_codes = registered(available.values())
        if name in broken:
            raise ConfigError(broken[name])
        for line in broken.values():  # e.g. under --help: the rest still works
            print(f"xpu: warning: {line}", file=sys.stderr)
        _refuse_missing_test_kit(name, available)
        args, unknown = build_parser(available).parse_known_args(argv)
        if unknown:  # named with the help of the (sub)command they were given to
            raise ConfigError(f"unrecognized arguments: {' '.join(unknown)} (see `{_prog(args)} --help`)")
        return int(available[args.command].run(args))
    except XpuError as exc:
        code = for_exception(exc, exit_codes)
        print(readable(f"xpu: {exc}" if code is Exit.FAILED else f"xpu: error: {exc}"), file=sys.stderr)
        return code
    except KeyboardInterrupt:
        print("xpu: interrupted", file=sys.stderr)
        return Exit.INTERRUPTED
    except BrokenPipeError:
        return Exit.OK
    except Exception as exc:  # a bug: one line unless asked for the trace
        if os.environ.get("XPU_DEBUG"):
            raise
        print(
            readable(f"xpu: internal error: {type(exc).__name__}: {exc} (set XPU_DEBUG=1 for the trace)"),
            file=sys.stderr,
        )
        return Exit.INTERNAL


if __name__ == "__main__":
    sys.exit(main())
