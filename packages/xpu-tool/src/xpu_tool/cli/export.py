"""``xpu export``: Prometheus metrics from the doctor, quick service checks and the last benchmark."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import ConfigError
from ..export.measure import measure
from ..export.metrics import Export, load_bench, render
from ..export.serve import parse_listen, serve
from ..export.textfile import write_textfile
from ..services.registry import services
from ..target import open_target
from .common import check_timeout, http_url
from .exit_codes import Exit


def add_parser(sub: argparse._SubParsersAction) -> None:
    export = sub.add_parser("export", help="write Prometheus metrics (doctor, quick service checks, last benchmark)")
    export.add_argument(
        "--textfile",
        type=Path,
        metavar="FILE.prom",
        help="write here atomically (node-exporter's textfile collector directory); default stdout",
    )
    export.add_argument(
        "--listen",
        metavar="[ADDRESS:]PORT",
        help="serve /metrics instead, measured at each scrape (default address 127.0.0.1)",
    )
    export.add_argument("--target", default="local://", metavar="URL", help="the machine to probe (default local://)")
    for s in services():
        article = "an" if s.title[0] in "AEIOU" else "a"
        export.add_argument(
            f"--{s.name}",
            dest=f"service_{s.dest}",
            action="append",
            default=[],
            metavar="URL",
            help=f'{article} {s.title} to check (xpu_service_up{{service="{s.name}"}}); repeatable',
        )
    export.add_argument("--bench-json", type=Path, metavar="FILE", help="the ollama-bench.json of the last `xpu bench`")
    export.add_argument(
        "--timeout",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="longest any probe or check may take; they run at once (+0.5 s)",
    )


def run(args: argparse.Namespace) -> int:
    check_timeout(args.timeout)
    if args.textfile is not None and args.textfile.suffix != ".prom":
        raise ConfigError(f"--textfile {args.textfile}: node-exporter reads only files ending in .prom")
    checks = [(s, http_url(url)) for s in services() for url in getattr(args, f"service_{s.dest}")]
    bench, bench_mtime = (None, None)
    if args.bench_json is not None:
        try:
            bench, bench_mtime = load_bench(args.bench_json)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"--bench-json {args.bench_json}: {exc}") from None
    if args.listen is not None and args.textfile:
        raise ConfigError("--listen and --textfile exclude each other")
    listen = parse_listen(args.listen) if args.listen is not None else None
    target = open_target(args.target, args.timeout)

    def measured() -> Export:
        return measure(target, services=checks, bench=bench, bench_mtime=bench_mtime, timeout=args.timeout)

    if listen is not None:
        serve(*listen, lambda: render(measured()))
        return Exit.OK
    export = measured()
    data = render(export)
    if args.textfile is None:
        sys.stdout.write(data.decode())
    else:
        write_textfile(args.textfile, data)
    # a stopped service is a metric (xpu_service_up 0, xpu_check_error), not a failed export: the
    # export unit stays green and the alert rules speak
    for service, reason in export.problems:
        print(f"xpu: {service} check failed: {reason} (xpu_service_up and xpu_check_error say so)", file=sys.stderr)
    return Exit.OK
