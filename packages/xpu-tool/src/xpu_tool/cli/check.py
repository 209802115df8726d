"""``xpu check SERVICE URL``: check a service end to end; one subcommand per registered service
(services.registry), each with its own options."""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from typing import TextIO

from ..errors import ConfigError
from ..services.registry import CheckResult, Service, services
from ..services.tiny_gguf import ModelWriteError
from ..urls import redact
from .common import check_timeout, http_url, print_json
from .exit_codes import EXIT_CODES_HELP, for_check

DEFAULT_TIMEOUT = 300.0
PROGRESS_EVERY = 1.0  # seconds between updates of the progress line


@contextlib.contextmanager
def progress(what: str, timeout: float, stream: TextIO | None = None) -> Iterator[None]:
    """While the block runs, ``xpu: WHAT ... N s (timeout T s)`` on stderr, updated in place every
    second and cleared at the end, so a silent server is not a silent command. Only on a terminal:
    a pipe, a file or a test sees nothing of it."""
    out = sys.stderr if stream is None else stream
    try:
        tty = out.isatty()
    except (AttributeError, ValueError, OSError):
        tty = False
    if not tty:
        yield
        return
    started = time.monotonic()
    done = threading.Event()
    lock = threading.Lock()
    width = 0

    def show(line: str) -> None:
        nonlocal width
        with lock, contextlib.suppress(OSError, ValueError):
            out.write("\r" + line.ljust(width) + ("\r" if not line else ""))
            out.flush()
            width = len(line)

    def line() -> str:
        return f"xpu: {what} ... {time.monotonic() - started:.0f} s (timeout {timeout:g} s)"

    def tick() -> None:
        while not done.wait(PROGRESS_EVERY):
            show(line())

    show(line())
    ticker = threading.Thread(target=tick, name="xpu-progress", daemon=True)
    ticker.start()
    try:
        yield
    finally:
        done.set()
        ticker.join(timeout=2.0)
        show("")  # spaces over the line, then back to its start: what follows prints on a clean line


def add_parser(sub: argparse._SubParsersAction) -> None:
    check = sub.add_parser(
        "check",
        help="check a service end to end",
        description="Check a service end to end: it must do real work (generate, run a workflow) and say where it ran.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    kinds = check.add_subparsers(dest="service", metavar="SERVICE", required=True)
    for s in services():
        _add_service(kinds, s)


def _add_service(kinds: argparse._SubParsersAction, s: Service) -> None:
    parser = kinds.add_parser(
        s.name,
        help=f"{s.title}: {s.summary}",
        description=f"Check {s.title}: {s.summary}.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("url", help=f"the service's base URL, e.g. {s.example_url}")
    parser.add_argument("--expect-gpu", action="store_true", help="running on the CPU is a failure")
    for option in s.options:
        parser.add_argument(
            option.flag,
            dest=option.dest,
            metavar=option.metavar,
            help=option.help,
            choices=list(option.choices) if option.choices else None,
        )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help=f"the longest the whole check may take (+0.5 s to unwind; default {DEFAULT_TIMEOUT:g})",
    )
    parser.add_argument("--json", action="store_true", help="print the check's result as one JSON object")
    parser.set_defaults(check_service=s)


def temp_model_error(exc: ModelWriteError) -> ConfigError:
    """The tiny test model could not be written to the temporary directory: one line naming TMPDIR."""
    return ConfigError(
        f"cannot write the tiny test model to the temporary directory "
        f"{tempfile.gettempdir()}: {exc.strerror or exc}; set TMPDIR to a writable directory "
        "with at least 1 MB free"
    )


def run(args: argparse.Namespace) -> int:
    s: Service = args.check_service
    http_url(args.url)
    check_timeout(args.timeout)
    options = {o.dest: getattr(args, o.dest) for o in s.options}
    try:
        with progress(f"checking {s.name} at {redact(args.url)}", args.timeout):
            result = s.check(args.url, expect_gpu=args.expect_gpu, timeout=args.timeout, **options)
    except ModelWriteError as exc:
        raise temp_model_error(exc) from None
    show(result, as_json=args.json)
    return for_check(result.ok, result.unreachable)


def show(result: CheckResult, *, as_json: bool) -> None:
    """The result as JSON, as text, or (nothing answered) as the one line of every exit-4 error."""
    if as_json:
        print_json(result.to_dict())
    elif result.unanswered:
        [finding] = result.findings
        print(f"xpu: error: {finding.evidence[0]} -> {finding.fix}", file=sys.stderr)
    else:
        print("\n".join(result.lines()))
