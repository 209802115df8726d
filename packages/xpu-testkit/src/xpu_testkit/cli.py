"""The ``xpu`` command.

    xpu doctor [--target URL|NAME]... [--inventory FILE] [--json] [--user NAME] [--sysroot DIR]
    xpu collect {level-zero,dpctl,torch}
    xpu check {ollama,comfyui} URL [--expect-gpu] [--json] [--workflow NAME] [--checkpoint FILE]
    xpu tiny-model PATH [--seed N]
    xpu bench ollama --backend NAME=URL... [--out DIR] [--repetitions N]
    xpu bench comfyui --xpu URL --cpu URL [--steps N] [--harness] [--checkpoint FILE]
    xpu vm {boot,run,shell} (--kernel K --initrd I | --run-script S | --debian-guest) [--forward PORT]...

Exit codes: 0 the Intel GPU stack is usable, 1 findings block GPU acceleration, 2 bad usage or
configuration (one line on stderr), 3 an internal error (one line; XPU_DEBUG=1 shows the trace).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import runpy
import signal
import tempfile
import sys
from importlib import resources
from pathlib import Path
from typing import Callable, NoReturn, Sequence

from . import __version__
from .bench.comfyui_bench import read_sides, run_comfyui_bench
from .bench.ollama_bench import run_ollama_bench
from .bench.report import to_markdown, write_reports
from .doctor import exit_code, render_text, run_doctor
from .errors import ConfigError, XpuError
from .inventory import load_inventory
from .probes.context import ProbeContext
from .remote_exec import SCRIPTS
from .services.comfyui import WORKFLOWS as COMFY_WORKFLOWS
from .services.comfyui import ComfyError, check_comfyui
from .services.sd15_checkpoint import NAME as CHECKPOINT_NAME
from .services.ollama import OllamaError, diagnose_text
from .services.ollama_check import check_ollama, journal_reader
from .services.tiny_gguf import write_tiny_llama
from .export.measure import measure as measure_export
from .export.metrics import Export, load_bench
from .export.metrics import render as render_metrics
from .export.serve import parse_listen, serve
from .export.textfile import write_atomically
from .upstream import GitHub, compare
from .upstream import to_markdown as upstream_markdown
from .target import open_target
from .vm import cli as vm_cli

EXIT_USAGE = 2
EXIT_INTERNAL = 3


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, not usage + error
        raise ConfigError(f"{message} (see `{self.prog} --help`)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="xpu", description="Check and test an Intel GPU (XPU) AI stack.")
    parser.add_argument("--version", action="version", version=f"xpu-testkit {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    doctor = sub.add_parser("doctor", help="probe a machine's Intel GPU stack and diagnose problems")
    doctor.add_argument("--target", action="append", default=[], metavar="URL|NAME",
                        help="local:// (default), ssh://[user@]host[:port], or a name from --inventory; repeatable")
    doctor.add_argument("--inventory", metavar="FILE", help="YAML inventory of targets")
    doctor.add_argument("--json", action="store_true", help="print the report as JSON")
    doctor.add_argument("--user", help="judge render-node access for this user (default: the running user)")
    doctor.add_argument("--sysroot", default="", metavar="DIR",
                        help="read /sys, /proc and /dev below DIR (a recorded machine layout)")
    doctor.add_argument("--timeout", type=float, default=60.0, metavar="SECONDS", help="per-command timeout")

    collect = sub.add_parser("collect", help="print the raw facts one collector gathers on this machine (JSON)")
    collect.add_argument("name", choices=sorted(SCRIPTS))

    tiny = sub.add_parser("tiny-model", help="write the tiny llama GGUF model the service checks use")
    tiny.add_argument("path", type=Path)
    tiny.add_argument("--seed", type=int, default=0)

    check = sub.add_parser("check", help="check a service end to end")
    check.add_argument("service", choices=["ollama", "comfyui"])
    check.add_argument("url", help="the service's base URL, e.g. http://127.0.0.1:11434 or http://127.0.0.1:8188")
    check.add_argument("--expect-gpu", action="store_true", help="running on the CPU is a failure")
    check.add_argument("--workflow", choices=list(COMFY_WORKFLOWS), default=None,
                       help="ComfyUI: the workflow to run (default model-free; one-step-sd15 with --expect-gpu, "
                            "which needs a workflow that runs a model on the device)")
    check.add_argument("--checkpoint", metavar="FILE",
                       help=f"ComfyUI: the checkpoint one-step-sd15 loads (default {CHECKPOINT_NAME})")
    check.add_argument("--journal", metavar="UNIT",
                       help="ollama: read this systemd unit's journal on this machine to explain failures "
                            "(e.g. ollama.service)")
    check.add_argument("--json", action="store_true")

    bench = sub.add_parser("bench", help="benchmark a service on the GPU against the CPU")
    bench.add_argument("service", choices=["ollama", "comfyui"])
    bench.add_argument("--backend", action="append", default=[], metavar="NAME=URL",
                       help="ollama: a server to measure, e.g. sycl=http://127.0.0.1:11434; repeatable")
    bench.add_argument("--xpu", metavar="URL", help="comfyui: the server on the Intel GPU")
    bench.add_argument("--cpu", metavar="URL", help="comfyui: the same server started with --cpu")
    bench.add_argument("--steps", type=int, default=20, help="comfyui: sampler steps per run")
    bench.add_argument("--checkpoint", metavar="FILE",
                       help=f"comfyui: the checkpoint both servers load (default {CHECKPOINT_NAME})")
    bench.add_argument("--harness", action="store_true",
                       help="comfyui: measure whatever devices the servers run on (e.g. two CPU servers) and give "
                            "no GPU-over-CPU verdict; tests the benchmark itself")
    bench.add_argument("--out", type=Path, default=Path("bench-results"), help="directory for JSON, Markdown, PNG")
    bench.add_argument("--repetitions", type=int, default=3)
    bench.add_argument("--warmup", type=int, default=1)
    bench.add_argument("--num-predict", type=int, default=32)
    bench.add_argument("--gguf", type=Path, help="model to measure (default: the tiny test model)")
    bench.add_argument("--journal", metavar="UNIT",
                       help="ollama: on failure, read this systemd unit's journal on this machine to name the cause")

    export = sub.add_parser("export", help="write Prometheus metrics (doctor, quick service checks, last benchmark)")
    export.add_argument("--textfile", type=Path, metavar="FILE.prom",
                        help="write here atomically (node-exporter's textfile collector directory); default stdout")
    export.add_argument("--listen", metavar="[ADDRESS:]PORT",
                        help="serve /metrics instead, measured at each scrape (default address 127.0.0.1)")
    export.add_argument("--target", default="local://", metavar="URL", help="the machine to probe (default local://)")
    export.add_argument("--ollama", action="append", default=[], metavar="URL", help="an Ollama to check; repeatable")
    export.add_argument("--comfyui", action="append", default=[], metavar="URL", help="a ComfyUI to check; repeatable")
    export.add_argument("--bench-json", type=Path, metavar="FILE", help="the ollama-bench.json of the last `xpu bench`")
    export.add_argument("--timeout", type=float, default=30.0, metavar="SECONDS", help="longest any probe or check may take; they run at once (+0.5 s)")

    upstream = sub.add_parser("upstream", help="the versions flake.lock pins against what the inputs offer now")
    upstream.add_argument("--lock", type=Path, default=Path("flake.lock"), help="default ./flake.lock")
    upstream.add_argument("--json", action="store_true")
    upstream.add_argument("--github-api", default="https://api.github.com", metavar="URL", help=argparse.SUPPRESS)
    upstream.add_argument("--github-raw", default="https://raw.githubusercontent.com", metavar="URL",
                          help=argparse.SUPPRESS)
    upstream.add_argument("--timeout", type=float, default=30.0, metavar="SECONDS")

    vm_cli.add_arguments(sub)
    return parser


def _doctor(args: argparse.Namespace) -> int:
    inventory = load_inventory(args.inventory) if args.inventory else None
    _check_timeout(args.timeout)
    if args.sysroot and not os.path.isdir(args.sysroot):
        raise ConfigError(f"--sysroot {args.sysroot}: not a directory")
    specs: list[tuple[str, str | None]] = []  # (url, user)
    for item in args.target or ([] if inventory else ["local://"]):
        entry = inventory.get(item) if inventory and "://" not in item else None
        if entry is not None:
            specs.append((entry.url, args.user or entry.user))
        elif "://" in item or item == "local":
            specs.append((item, args.user))
        else:
            raise ConfigError(f"target {item!r} is neither a URL nor a name in the inventory")
    if inventory and not args.target:
        specs = [(t.url, args.user or t.user) for t in inventory.targets]
    targets = [(open_target(url), user) for url, user in specs]  # validate every URL before probing any
    reports = [run_doctor(ProbeContext(t, sysroot=args.sysroot, user=user, timeout=args.timeout)) for t, user in targets]
    if args.json:
        payload = reports[0].to_dict() if len(reports) == 1 else [r.to_dict() for r in reports]
        json.dump(payload, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print("\n\n".join(render_text(r) for r in reports))
    return max(exit_code(r) for r in reports)


def _tiny_model(args: argparse.Namespace) -> int:
    if not args.path.parent.is_dir():
        raise ConfigError(f"{args.path.parent}: not a directory")
    model = write_tiny_llama(args.path, args.seed)
    print(f"{model.path} {model.size} bytes sha256:{model.sha256}")
    return 0


def _journal(args: argparse.Namespace) -> Callable[[], str]:
    """`--journal UNIT`: a reader of that unit's journal on this machine (no text without it)."""
    if args.journal is None:
        return str
    if not args.journal.strip():
        raise ConfigError("--journal needs a unit name, e.g. ollama.service")
    return journal_reader(open_target("local://"), args.journal)


def _check(args: argparse.Namespace) -> int:
    if not args.url.startswith(("http://", "https://")):
        raise ConfigError(f"{args.url!r} is not an http(s) URL")
    if args.service == "comfyui":
        return _check_comfyui(args)
    log_reader = _journal(args)
    result = check_ollama(args.url, expect_gpu=args.expect_gpu, log_reader=log_reader)
    if args.json:
        payload = {"url": result.url, "ok": result.ok, "version": result.version, "created": result.created,
                   "generation": dataclasses.asdict(result.generation) if result.generation else None,
                   "placement": dataclasses.asdict(result.placement) if result.placement else None,
                   "findings": [f.to_dict() for f in result.findings]}
        json.dump(payload, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        g = result.generation
        print(f"ollama {result.url}: version {result.version}, model created: {result.created}")
        if g is not None:
            print(f"  generated {g.eval_count} tokens at {g.decode_tokens_per_s:.1f} tok/s: {g.text[:60]!r}")
        if result.placement is not None:
            print(f"  placement: {result.placement.offload} ({result.placement.gpu_share:.0%} in VRAM)")
        for f in result.findings:
            print(f"  {f.severity.value.upper()}: {f.title} -> {f.fix}")
    return 0 if result.ok else 1


def _bench_comfyui(args: argparse.Namespace) -> int:
    if not (args.xpu and args.cpu):
        raise ConfigError("xpu bench comfyui needs --xpu URL and --cpu URL")
    for url in (args.xpu, args.cpu):
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"{url!r} is not an http(s) URL")
    if args.steps < 3 or args.repetitions < 3 or args.warmup < 0:
        raise ConfigError("--steps and --repetitions must be at least 3, --warmup at least 0")
    sides = read_sides(args.xpu, args.cpu)
    print(f"ComfyUI devices: xpu side {sides.xpu.describe()}, cpu side {sides.cpu.describe()}")
    if not args.harness and sides.mismatch:
        print(f"xpu: no GPU-over-CPU verdict: {sides.mismatch} (--harness measures anyway)", file=sys.stderr)
        return 1
    bench = run_comfyui_bench(sides, steps=args.steps, repetitions=args.repetitions, warmup=args.warmup,
                              checkpoint=args.checkpoint, harness=args.harness)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "comfyui-bench.json"
    path.write_text(json.dumps(bench.to_dict(), indent=2) + "\n")
    print(f"ComfyUI: xpu side {bench.xpu.median:.2f} it/s, cpu side {bench.cpu.median:.2f} it/s, "
          f"ratio {bench.ratio:.2f}x ({bench.verdict_text})")
    print(f"written: {path}")
    return 0 if bench.passed or args.harness else 1


def _bench(args: argparse.Namespace) -> int:
    if args.service == "comfyui":
        return _bench_comfyui(args)
    if not args.backend:
        raise ConfigError("xpu bench ollama needs at least one --backend NAME=URL")
    backends = {}
    for item in args.backend:
        name, sep, url = item.partition("=")
        if not sep or not name or not url.startswith(("http://", "https://")):
            raise ConfigError(f"--backend {item!r}: expected NAME=http://host:port")
        backends[name] = url
    if args.repetitions < 3 or args.warmup < 0 or args.num_predict < 1:
        raise ConfigError("--repetitions must be at least 3, --warmup at least 0, --num-predict at least 1")
    if args.gguf is not None and not args.gguf.is_file():
        raise ConfigError(f"{args.gguf}: no such file")
    log_reader = _journal(args)
    with tempfile.TemporaryDirectory() as tmp:
        gguf = args.gguf or write_tiny_llama(Path(tmp) / "xpu-bench.gguf").path
        try:
            report = run_ollama_bench(backends, gguf, repetitions=args.repetitions, warmup=args.warmup,
                                      num_predict=args.num_predict)
        except OllamaError as exc:  # name the cause the way `xpu check ollama` does, then fail
            log = log_reader()
            print(f"xpu: {exc}", file=sys.stderr)
            for f in diagnose_text(str(exc), log):
                print(f"  {f.severity.value.upper()}: {f.title} -> {f.fix}", file=sys.stderr)
            return 1
    paths = write_reports(report, args.out)
    sys.stdout.write(to_markdown(report))
    print(f"written: {', '.join(str(p) for p in paths.values())}")
    return 0 if report.passed else 1


def _check_comfyui(args: argparse.Namespace) -> int:
    result = check_comfyui(args.url, workflow=args.workflow, expect_xpu=args.expect_gpu, checkpoint=args.checkpoint)
    if args.json:
        run = result.run
        json.dump({"url": result.url, "ok": result.ok, "workflow": result.workflow, "device": result.device,
                   "images": [dict(dataclasses.asdict(i), palette=sorted(i.palette)) for i in result.images],
                   "seconds": run.seconds if run else None,
                   "executed": sorted(run.executed_nodes) if run else [],
                   "cached": sorted(run.cached_nodes) if run else [],
                   "sampler_steps": run.progress_steps if run else 0,
                   "findings": [f.to_dict() for f in result.findings]}, sys.stdout, indent=2)
        sys.stdout.write("\n")
    elif not result.reachable:  # nothing to report but why: one line
        [finding] = result.findings
        print(f"xpu: {finding.evidence[0]} -> {finding.fix}", file=sys.stderr)
    else:
        device = result.device or {}
        print(f"comfyui {result.url}: device {device.get('type')} ({device.get('name')}), workflow {result.workflow}")
        if result.run is not None:
            run = result.run
            cached = ", ".join(sorted(run.cached_nodes)) or "none"
            print(f"  executed nodes {', '.join(sorted(run.executed_nodes)) or 'none'} (from the cache: {cached}), "
                  f"{run.progress_steps} sampler step(s), {run.seconds:.2f} s")
        for image in result.images:
            print(f"  {image.filename}: {image.width}x{image.height}, {image.colours} colours")
        for f in result.findings:
            print(f"  {f.severity.value.upper()}: {f.title} -> {f.fix}")
    return 0 if result.ok else 1


def _export(args: argparse.Namespace) -> int:
    _check_timeout(args.timeout)
    if args.textfile is not None and args.textfile.suffix != ".prom":
        raise ConfigError(f"--textfile {args.textfile}: node-exporter reads only files ending in .prom")
    for url in [*args.ollama, *args.comfyui]:
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"{url!r} is not an http(s) URL")
    bench, bench_mtime = (None, None)
    if args.bench_json is not None:
        try:
            bench, bench_mtime = load_bench(args.bench_json)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"--bench-json {args.bench_json}: {exc}") from None
    if args.listen is not None and args.textfile:
        raise ConfigError("--listen and --textfile exclude each other")
    listen = parse_listen(args.listen) if args.listen is not None else None
    target = open_target(args.target)

    def measure() -> Export:
        return measure_export(target, ollama=args.ollama, comfyui=args.comfyui, bench=bench,
                              bench_mtime=bench_mtime, timeout=args.timeout)

    if listen is not None:
        serve(*listen, lambda: render_metrics(measure()))
        return 0
    export = measure()
    data = render_metrics(export)
    if args.textfile is None:
        sys.stdout.write(data.decode())
    else:
        write_atomically(args.textfile, data)
    for service, reason in export.problems:
        print(f"xpu: {service} check failed: {reason} (xpu_check_error says so)", file=sys.stderr)
    return 1 if export.problems else 0


def _upstream(args: argparse.Namespace) -> int:
    _check_timeout(args.timeout)
    rows = compare(args.lock, GitHub(args.github_api.rstrip("/"), args.github_raw.rstrip("/"), args.timeout))
    if args.json:
        json.dump([dict(dataclasses.asdict(r), changed=r.changed) for r in rows], sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(upstream_markdown(rows))
    return 1 if any(r.error for r in rows) else 0


def _collect(args: argparse.Namespace) -> int:
    path = resources.files("xpu_testkit.remote").joinpath(SCRIPTS[args.name])
    with resources.as_file(path) as script:
        runpy.run_path(str(script), run_name="__main__")
    return 0


def _check_timeout(seconds: float) -> None:
    if not math.isfinite(seconds) or seconds <= 0:
        raise ConfigError(f"--timeout {seconds}: must be a positive number of seconds")


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    try:
        for signum in (signal.SIGTERM, signal.SIGHUP):  # unwind (stop VMs, restore drivers) as on Ctrl-C
            signal.signal(signum, _terminate)
        args = build_parser().parse_args(argv)
        if args.command == "doctor":
            return _doctor(args)
        if args.command == "vm":
            return vm_cli.run(args)
        if args.command == "tiny-model":
            return _tiny_model(args)
        if args.command == "check":
            return _check(args)
        if args.command == "bench":
            return _bench(args)
        if args.command == "export":
            return _export(args)
        if args.command == "upstream":
            return _upstream(args)
        return _collect(args)
    except (OllamaError, ComfyError) as exc:  # a service that does not answer as its API says: not a usage error
        print(f"xpu: {exc}", file=sys.stderr)
        return 1
    except XpuError as exc:
        print(f"xpu: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("xpu: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # a bug: one line unless asked for the trace
        if os.environ.get("XPU_DEBUG"):
            raise
        print(f"xpu: internal error: {type(exc).__name__}: {exc} (set XPU_DEBUG=1 for the trace)", file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
