"""``xpu bench {llm,ollama,comfyui}``: benchmark a service on the GPU against the CPU.

``llm`` puts any mix of Ollama and llama-server endpoints side by side on the same GGUF and
prompt; ``ollama`` is the same benchmark restricted to Ollama (and its report file names)."""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

from xpu_tool.cli.check import progress, temp_model_error
from xpu_tool.cli.common import (
    bounded_int,
    check_timeout,
    http_url,
    refuse_foreign_flags,
)
from xpu_tool.cli.exit_codes import Exit, for_outcome
from xpu_tool.deadline import Deadline
from xpu_tool.errors import ConfigError
from xpu_tool.services.journal import local_journal
from xpu_tool.services.llama_cpp import LlamaCppError
from xpu_tool.services.ollama import OllamaError, diagnose_text
from xpu_tool.services.tiny_gguf import ModelWriteError, write_tiny_llama

from ..bench.comfyui_bench import read_sides, run_comfyui_bench
from ..bench.llm_bench import (
    Endpoint,
    check_tiny_model,
    choose_model,
    model_paths,
    run_llm_bench,
)
from ..bench.report import (
    check_out_dir,
    to_markdown,
    write_comfyui_report,
    write_reports,
)
from ..bench.results import ENGINES, BenchReport
from ..services.sd15_checkpoint import NAME as CHECKPOINT_NAME

ONLY = {
    "ollama": ("backend", "num_predict", "gguf", "journal"),
    "comfyui": ("xpu", "cpu", "steps", "checkpoint", "harness"),
}
# `llm` takes ollama's flags and --cpu NAME=URL; its own table keeps the other services' messages as they were
ONLY_LLM = {
    "llm": ("backend", "cpu", "num_predict", "gguf", "journal"),
    "comfyui": ("xpu", "cpu", "steps", "checkpoint", "harness"),
}
DEFAULT_STEPS = 20
DEFAULT_NUM_PREDICT = 32
STEPS = (3, 10_000)  # comfyui sampler steps per run
REPETITIONS = (3, 100)  # measured runs per side
WARMUP = (0, 10)  # unmeasured runs before them
NUM_PREDICT = (1, 4096)  # ollama tokens per run
DEFAULT_TIMEOUT = 3600.0  # seconds for the whole benchmark
# a backend's name: it labels report rows and metrics and is pasted back into --cpu NAME=URL
BACKEND_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def add_parser(sub: argparse._SubParsersAction) -> None:
    bench = sub.add_parser("bench", help="benchmark a service on the GPU against the CPU")
    bench.add_argument("service", choices=["llm", "ollama", "comfyui"])
    bench.add_argument(
        "--backend",
        action="append",
        metavar="NAME=[ENGINE:]URL",
        help="llm, ollama: a server to measure, e.g. sycl=http://127.0.0.1:11434 (Ollama) or, with "
        "llm, vulkan=llama-cpp:http://127.0.0.1:8080; ENGINE is ollama (default) or llama-cpp; "
        "repeatable",
    )
    bench.add_argument("--xpu", metavar="URL", help="comfyui: the server on the Intel GPU")
    bench.add_argument(
        "--cpu",
        action="append",
        metavar="URL|NAME=URL",
        help="comfyui: the same server started with --cpu; llm: NAME=URL, the CPU side of the "
        "llama-cpp backend NAME: another llama-server with the same model, started with -ngl 0, or a CPU "
        "build (llama-server's default, -ngl auto, offloads to the GPU; its API does not say where it "
        "ran: `xpu check llama-cpp --journal UNIT` does); repeatable",
    )
    bench.add_argument(
        "--steps",
        type=bounded_int(*STEPS),
        help=f"comfyui: sampler steps per run, {STEPS[0]} to {STEPS[1]} (default {DEFAULT_STEPS})",
    )
    bench.add_argument(
        "--checkpoint", metavar="FILE", help=f"comfyui: the checkpoint both servers load (default {CHECKPOINT_NAME})"
    )
    bench.add_argument(
        "--harness",
        action="store_true",
        help="comfyui: measure whatever devices the servers run on (e.g. two CPU servers) and give "
        "no GPU-over-CPU verdict; tests the benchmark itself",
    )
    bench.add_argument("--out", type=Path, default=Path("bench-results"), help="directory for JSON, Markdown, PNG")
    bench.add_argument(
        "--repetitions",
        type=bounded_int(*REPETITIONS),
        default=3,
        help=f"measured runs per side, {REPETITIONS[0]} to {REPETITIONS[1]} (default 3)",
    )
    bench.add_argument(
        "--warmup",
        type=bounded_int(*WARMUP),
        default=1,
        help=f"unmeasured runs first, {WARMUP[0]} to {WARMUP[1]} (default 1)",
    )
    bench.add_argument(
        "--num-predict",
        type=bounded_int(*NUM_PREDICT),
        help=f"ollama: tokens to generate per run, {NUM_PREDICT[0]} to {NUM_PREDICT[1]} "
        f"(default {DEFAULT_NUM_PREDICT})",
    )
    bench.add_argument(
        "--gguf",
        type=Path,
        help="llm, ollama: model to measure (default: a llama-server's model "
        "when it is a file here, else the tiny test model)",
    )
    bench.add_argument(
        "--journal",
        metavar="UNIT",
        help="ollama: on failure, read this systemd unit's journal on this machine to name the cause",
    )
    bench.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help=f"the longest the whole benchmark may take, every server and run included (+0.5 s to "
        f"unwind; default {DEFAULT_TIMEOUT:g})",
    )


def run(args: argparse.Namespace) -> int:
    refuse_foreign_flags(args, ONLY_LLM if args.service == "llm" else ONLY)
    check_timeout(args.timeout)
    return _comfyui(args) if args.service == "comfyui" else _llm(args)


def _comfyui(args: argparse.Namespace) -> int:
    if not (args.xpu and args.cpu):
        raise ConfigError("xpu bench comfyui needs --xpu URL and --cpu URL")
    if len(args.cpu) > 1:
        raise ConfigError("xpu bench comfyui takes one --cpu URL")
    args.cpu = args.cpu[0]
    http_url(args.xpu)
    http_url(args.cpu)
    steps = DEFAULT_STEPS if args.steps is None else args.steps
    check_out_dir(args.out)
    deadline = Deadline.after(args.timeout)
    with progress(f"reading the ComfyUI servers at {args.xpu} and {args.cpu}", args.timeout):
        sides = read_sides(args.xpu, args.cpu, deadline)
    print(f"ComfyUI devices: xpu side {sides.xpu.describe()}, cpu side {sides.cpu.describe()}")
    if not args.harness and sides.mismatch:
        print(f"xpu: no GPU-over-CPU verdict: {sides.mismatch} (--harness measures anyway)", file=sys.stderr)
        return Exit.FAILED
    with progress(f"benchmarking ComfyUI at {args.xpu} against {args.cpu}", args.timeout):
        bench = run_comfyui_bench(
            sides,
            steps=steps,
            repetitions=args.repetitions,
            warmup=args.warmup,
            checkpoint=args.checkpoint,
            harness=args.harness,
            deadline=deadline,
        )
    path = write_comfyui_report(bench, args.out)
    print(
        f"ComfyUI: xpu side {bench.xpu.median:.2f} it/s, cpu side {bench.cpu.median:.2f} it/s, "
        f"ratio {bench.ratio:.2f}x ({bench.verdict_text})"
    )
    print(f"written: {path}")
    return for_outcome(bench.passed or args.harness)


def _endpoints(service: str, items: list[str], cpus: list[str]) -> list[Endpoint]:
    """--backend NAME=[ENGINE:]URL and --cpu NAME=URL; ConfigError (exit 2, one line) for anything else."""
    endpoints: dict[str, Endpoint] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise ConfigError(f"--backend {item!r}: expected NAME=http://host:port")
        if not BACKEND_NAME.fullmatch(name):
            raise ConfigError(
                f"--backend {item[:80]!r}: the name {name[:40]!r} is not a plain name "
                "(a letter or digit, then letters, digits, '.', '_' or '-', at most 64)"
            )
        if name in endpoints:
            raise ConfigError(f"--backend {name!r} is given twice; give each backend its own name")
        engine, _, rest = value.partition(":")
        if engine not in ENGINES and not rest.startswith(("http://", "https://")):
            engine, rest = "ollama", value  # a URL (http_url names what is wrong with it)
        elif engine not in ENGINES:
            raise ConfigError(f"--backend {item!r}: unknown engine {engine!r} (one of {', '.join(ENGINES)})")
        if engine != "ollama" and service == "ollama":
            raise ConfigError(f"--backend {item!r}: xpu bench ollama measures Ollama only; use xpu bench llm")
        endpoints[name] = Endpoint(name, engine, http_url(rest))
    for item in cpus:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise ConfigError(f"--cpu {item!r}: expected NAME=http://host:port, NAME a llama-cpp --backend")
        ep = endpoints.get(name)
        if ep is None:
            raise ConfigError(f"--cpu {item!r}: no --backend named {name!r}")
        if ep.engine != "llama-cpp":
            raise ConfigError(f"--cpu {item!r}: {name} is {ep.engine}, which measures its CPU side in the same server")
        if ep.cpu_url is not None:
            raise ConfigError(f"--cpu {name!r} is given twice")
        cpu_url = http_url(value)
        if _same_server(ep.url, cpu_url):
            raise ConfigError(
                f"--cpu {item!r}: the same server as --backend {name}; the CPU side is another llama-server "
                "with the same model, started with -ngl 0 (or a CPU build)"
            )
        endpoints[name] = Endpoint(name, ep.engine, ep.url, cpu_url)
    return list(endpoints.values())


def _server_of(url: str) -> tuple[str, str, int | None, str]:
    """What names a server in ``url``: scheme, host (any case), port (the scheme's default filled in), path."""
    u = urlsplit(url)
    scheme = u.scheme.lower()
    return scheme, (u.hostname or "").lower(), u.port or {"http": 80, "https": 443}.get(scheme), u.path.rstrip("/")


def _same_server(a: str, b: str) -> bool:
    return _server_of(a) == _server_of(b)


def _llm(args: argparse.Namespace) -> int:
    if not args.backend:
        raise ConfigError(f"xpu bench {args.service} needs at least one --backend NAME=URL")
    endpoints = _endpoints(args.service, args.backend, args.cpu or [])
    num_predict = DEFAULT_NUM_PREDICT if args.num_predict is None else args.num_predict
    if args.gguf is not None and not args.gguf.is_file():
        raise ConfigError(f"{args.gguf}: no such file")
    check_out_dir(args.out)
    log_reader = local_journal(args.journal)
    deadline = Deadline.after(args.timeout)
    names = ", ".join(ep.name for ep in endpoints)
    try:
        with progress(f"benchmarking {names}", args.timeout):
            report = _measure(args, endpoints, num_predict, deadline)
    except (OllamaError, LlamaCppError) as exc:  # name the cause the way `xpu check` does, then fail
        if exc.kind == "unreachable":  # nothing listens there: exit 4, one line (cli.exit_codes)
            raise
        print(f"xpu: {exc}", file=sys.stderr)
        if isinstance(exc, OllamaError):
            for f in diagnose_text(str(exc), log_reader()):
                print(f"  {f.severity.value.upper()}: {f.title} -> {f.fix}", file=sys.stderr)
        return Exit.FAILED
    paths = write_reports(report, args.out, stem=f"{args.service}-bench")
    sys.stdout.write(to_markdown(report))
    print(f"written: {', '.join(str(p) for p in paths.values())}")
    if not report.judged:
        print(
            "xpu: no GPU-over-CPU verdict: no backend has a CPU side (give a llama-cpp backend --cpu NAME=URL)",
            file=sys.stderr,
        )
    return for_outcome(report.passed)


def _measure(args: argparse.Namespace, endpoints: list[Endpoint], num_predict: int, deadline: Deadline) -> BenchReport:
    """The model chosen (the same file on every side) and every side measured; the servers' errors propagate."""
    served = model_paths(endpoints, deadline)  # unreachable: exit 4, one line (cli.exit_codes)
    gguf = choose_model(args.gguf, served)
    model = None if gguf is not None or not served else Path(next(iter(served.values()))).name
    with tempfile.TemporaryDirectory() as tmp:
        if gguf is None and any(ep.engine == "ollama" for ep in endpoints):
            try:
                gguf = write_tiny_llama(Path(tmp) / "xpu-bench.gguf").path
            except ModelWriteError as exc:
                raise temp_model_error(exc) from None
            check_tiny_model(gguf, served)
        return run_llm_bench(
            endpoints,
            gguf,
            repetitions=args.repetitions,
            warmup=args.warmup,
            num_predict=num_predict,
            deadline=deadline,
            model=model,
        )
