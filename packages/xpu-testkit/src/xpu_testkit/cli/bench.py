"""``xpu bench {ollama,comfyui}``: benchmark a service on the GPU against the CPU."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from ..bench.comfyui_bench import read_sides, run_comfyui_bench
from ..bench.ollama_bench import run_ollama_bench
from ..bench.report import check_out_dir, to_markdown, write_comfyui_report, write_reports
from xpu_tool.errors import ConfigError
from xpu_tool.services.ollama import OllamaError, diagnose_text
from ..services.sd15_checkpoint import NAME as CHECKPOINT_NAME
from xpu_tool.services.tiny_gguf import ModelWriteError, write_tiny_llama
from xpu_tool.cli.check import journal, temp_model_error
from xpu_tool.http import Deadline
from xpu_tool.cli.common import bounded_int, check_timeout, http_url, refuse_foreign_flags
from xpu_tool.cli.exit_codes import Exit, for_outcome

ONLY = {"ollama": ("backend", "num_predict", "gguf", "journal"),
        "comfyui": ("xpu", "cpu", "steps", "checkpoint", "harness")}
DEFAULT_STEPS = 20
DEFAULT_NUM_PREDICT = 32
STEPS = (3, 10_000)  # comfyui sampler steps per run
REPETITIONS = (3, 100)  # measured runs per side
WARMUP = (0, 10)  # unmeasured runs before them
NUM_PREDICT = (1, 4096)  # ollama tokens per run
DEFAULT_TIMEOUT = 3600.0  # seconds for the whole benchmark


def add_parser(sub: argparse._SubParsersAction) -> None:
    bench = sub.add_parser("bench", help="benchmark a service on the GPU against the CPU")
    bench.add_argument("service", choices=["ollama", "comfyui"])
    bench.add_argument("--backend", action="append", metavar="NAME=URL",
                       help="ollama: a server to measure, e.g. sycl=http://127.0.0.1:11434; repeatable")
    bench.add_argument("--xpu", metavar="URL", help="comfyui: the server on the Intel GPU")
    bench.add_argument("--cpu", metavar="URL", help="comfyui: the same server started with --cpu")
    bench.add_argument("--steps", type=bounded_int(*STEPS),
                       help=f"comfyui: sampler steps per run, {STEPS[0]} to {STEPS[1]} (default {DEFAULT_STEPS})")
    bench.add_argument("--checkpoint", metavar="FILE",
                       help=f"comfyui: the checkpoint both servers load (default {CHECKPOINT_NAME})")
    bench.add_argument("--harness", action="store_true",
                       help="comfyui: measure whatever devices the servers run on (e.g. two CPU servers) and give "
                            "no GPU-over-CPU verdict; tests the benchmark itself")
    bench.add_argument("--out", type=Path, default=Path("bench-results"), help="directory for JSON, Markdown, PNG")
    bench.add_argument("--repetitions", type=bounded_int(*REPETITIONS), default=3,
                       help=f"measured runs per side, {REPETITIONS[0]} to {REPETITIONS[1]} (default 3)")
    bench.add_argument("--warmup", type=bounded_int(*WARMUP), default=1,
                       help=f"unmeasured runs first, {WARMUP[0]} to {WARMUP[1]} (default 1)")
    bench.add_argument("--num-predict", type=bounded_int(*NUM_PREDICT),
                       help=f"ollama: tokens to generate per run, {NUM_PREDICT[0]} to {NUM_PREDICT[1]} "
                            f"(default {DEFAULT_NUM_PREDICT})")
    bench.add_argument("--gguf", type=Path, help="ollama: model to measure (default: the tiny test model)")
    bench.add_argument("--journal", metavar="UNIT",
                       help="ollama: on failure, read this systemd unit's journal on this machine to name the cause")
    bench.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, metavar="SECONDS",
                       help=f"the longest the whole benchmark may take, every server and run included (+0.5 s to "
                            f"unwind; default {DEFAULT_TIMEOUT:g})")


def run(args: argparse.Namespace) -> int:
    refuse_foreign_flags(args, ONLY)
    check_timeout(args.timeout)
    return _comfyui(args) if args.service == "comfyui" else _ollama(args)


def _comfyui(args: argparse.Namespace) -> int:
    if not (args.xpu and args.cpu):
        raise ConfigError("xpu bench comfyui needs --xpu URL and --cpu URL")
    http_url(args.xpu)
    http_url(args.cpu)
    steps = DEFAULT_STEPS if args.steps is None else args.steps
    check_out_dir(args.out)
    deadline = Deadline.after(args.timeout)
    sides = read_sides(args.xpu, args.cpu, deadline)
    print(f"ComfyUI devices: xpu side {sides.xpu.describe()}, cpu side {sides.cpu.describe()}")
    if not args.harness and sides.mismatch:
        print(f"xpu: no GPU-over-CPU verdict: {sides.mismatch} (--harness measures anyway)", file=sys.stderr)
        return Exit.FAILED
    bench = run_comfyui_bench(sides, steps=steps, repetitions=args.repetitions, warmup=args.warmup,
                              checkpoint=args.checkpoint, harness=args.harness, deadline=deadline)
    path = write_comfyui_report(bench, args.out)
    print(f"ComfyUI: xpu side {bench.xpu.median:.2f} it/s, cpu side {bench.cpu.median:.2f} it/s, "
          f"ratio {bench.ratio:.2f}x ({bench.verdict_text})")
    print(f"written: {path}")
    return for_outcome(bench.passed or args.harness)


def _backends(items: list[str]) -> dict[str, str]:
    backends: dict[str, str] = {}
    for item in items:
        name, sep, url = item.partition("=")
        if not sep or not name:
            raise ConfigError(f"--backend {item!r}: expected NAME=http://host:port")
        if name in backends:
            raise ConfigError(f"--backend {name!r} is given twice; give each backend its own name")
        backends[name] = http_url(url)
    return backends


def _ollama(args: argparse.Namespace) -> int:
    if not args.backend:
        raise ConfigError("xpu bench ollama needs at least one --backend NAME=URL")
    backends = _backends(args.backend)
    num_predict = DEFAULT_NUM_PREDICT if args.num_predict is None else args.num_predict
    if args.gguf is not None and not args.gguf.is_file():
        raise ConfigError(f"{args.gguf}: no such file")
    check_out_dir(args.out)
    log_reader = journal(args.journal)
    deadline = Deadline.after(args.timeout)
    with tempfile.TemporaryDirectory() as tmp:
        try:
            gguf = args.gguf or write_tiny_llama(Path(tmp) / "xpu-bench.gguf").path
        except ModelWriteError as exc:
            raise temp_model_error(exc) from None
        try:
            report = run_ollama_bench(backends, gguf, repetitions=args.repetitions, warmup=args.warmup,
                                      num_predict=num_predict, deadline=deadline)
        except OllamaError as exc:  # name the cause the way `xpu check ollama` does, then fail
            if exc.kind == "unreachable":  # nothing listens there: exit 4, one line (cli.exit_codes)
                raise
            log = log_reader()
            print(f"xpu: {exc}", file=sys.stderr)
            for f in diagnose_text(str(exc), log):
                print(f"  {f.severity.value.upper()}: {f.title} -> {f.fix}", file=sys.stderr)
            return Exit.FAILED
    paths = write_reports(report, args.out)
    sys.stdout.write(to_markdown(report))
    print(f"written: {', '.join(str(p) for p in paths.values())}")
    return for_outcome(report.passed)
