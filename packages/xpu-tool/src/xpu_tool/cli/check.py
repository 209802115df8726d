"""``xpu check {ollama,comfyui,llama-cpp} URL``: check a service end to end."""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from ..errors import ConfigError
from ..model import Finding
from ..services.comfyui import CHECKPOINT_NAME, WORKFLOWS, check_comfyui
from ..services.comfyui_report import check_to_dict
from ..services.llama_cpp import LlamaCppCheck, check_llama_cpp, read_log_file
from ..services.ollama_check import check_ollama, journal_reader
from ..services.tiny_gguf import ModelWriteError
from ..target import open_target
from .common import check_timeout, http_url, print_json, refuse_foreign_flags
from .exit_codes import for_check

ONLY = {"ollama": ("journal",), "comfyui": ("workflow", "checkpoint"), "llama-cpp": ("journal", "log")}


def add_parser(sub: argparse._SubParsersAction) -> None:
    check = sub.add_parser("check", help="check a service end to end")
    check.add_argument("service", choices=["ollama", "comfyui", "llama-cpp"])
    check.add_argument("url", help="the service's base URL, e.g. http://127.0.0.1:11434, http://127.0.0.1:8188 or "
                                   "http://127.0.0.1:8080 (llama-server)")
    check.add_argument("--expect-gpu", action="store_true", help="running on the CPU is a failure")
    check.add_argument("--workflow", choices=list(WORKFLOWS), default=None,
                       help="comfyui: the workflow to run (default model-free; one-step-sd15 with --expect-gpu, "
                            "which needs a workflow that runs a model on the device)")
    check.add_argument("--checkpoint", metavar="FILE",
                       help=f"comfyui: the checkpoint one-step-sd15 loads (default {CHECKPOINT_NAME})")
    check.add_argument("--journal", metavar="UNIT",
                       help="ollama: read this systemd unit's journal on this machine to explain failures "
                            "(e.g. ollama.service); llama-cpp: to see the device it used (e.g. llama-cpp.service)")
    check.add_argument("--log", metavar="FILE", type=Path,
                       help="llama-cpp: read a saved llama-server log (its last 4 MiB) instead of a journal, to see "
                            "the device it used")
    check.add_argument("--timeout", type=float, default=300.0, metavar="SECONDS",
                       help="the longest the whole check may take (+0.5 s to unwind; default 300)")
    check.add_argument("--json", action="store_true", help="print the check's result as one JSON object")


def journal(unit: str | None) -> Callable[[], str]:
    """`--journal UNIT`: a reader of that unit's journal on this machine (no text without it)."""
    if unit is None:
        return str
    if not unit.strip():
        raise ConfigError("--journal needs a unit name, e.g. ollama.service")
    return journal_reader(open_target("local://"), unit)


def temp_model_error(exc: ModelWriteError) -> ConfigError:
    """The tiny test model could not be written to the temporary directory: one line naming TMPDIR."""
    return ConfigError(f"cannot write the tiny test model to the temporary directory "
                       f"{tempfile.gettempdir()}: {exc.strerror or exc}; set TMPDIR to a writable directory "
                       "with at least 1 MB free")


def run(args: argparse.Namespace) -> int:
    refuse_foreign_flags(args, ONLY)
    http_url(args.url)
    check_timeout(args.timeout)
    if args.service == "comfyui":
        return _comfyui(args)
    if args.service == "llama-cpp":
        return _llama_cpp(args)
    try:
        result = check_ollama(args.url, expect_gpu=args.expect_gpu, log_reader=journal(args.journal),
                              timeout=args.timeout)
    except ModelWriteError as exc:
        raise temp_model_error(exc) from None
    if args.json:
        print_json(result.to_dict())
    elif result.unreachable:
        _one_line(result.findings)
    else:
        g = result.generation
        print(f"ollama {result.url}: version {result.version}, model created: {result.created}")
        if g is not None:
            print(f"  generated {g.eval_count} tokens at {g.decode_tokens_per_s:.1f} tok/s: {g.text[:60]!r}")
        if result.placement is not None:
            print(f"  placement: {result.placement.offload} ({result.placement.gpu_share:.0%} in VRAM)")
        for f in result.findings:
            print(f"  {f.severity.value.upper()}: {f.title} -> {f.fix}")
    return for_check(result.ok, result.unreachable)


def _one_line(findings: tuple[Finding, ...]) -> None:
    """A check that got no answer has nothing to report but why: one line on stderr, worded as every
    other command's exit-4 line (cli.main)."""
    [finding] = findings
    print(f"xpu: error: {finding.evidence[0]} -> {finding.fix}", file=sys.stderr)


def _comfyui(args: argparse.Namespace) -> int:
    result = check_comfyui(args.url, workflow=args.workflow, expect_xpu=args.expect_gpu, checkpoint=args.checkpoint,
                           deadline=args.timeout)
    if args.json:
        print_json(check_to_dict(result))
    elif not result.answered:
        _one_line(result.findings)
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
    return for_check(result.ok, result.unreachable)


def _llama_cpp(args: argparse.Namespace) -> int:
    if args.journal is not None and args.log is not None:
        raise ConfigError("give --journal UNIT or --log FILE, not both")
    reader = journal(args.journal) if args.journal is not None else None
    if args.log is not None:
        text = read_log_file(args.log)  # before the check: a bad file is a usage error, not a failed check

        def reader() -> str:
            return text
    result = check_llama_cpp(args.url, expect_gpu=args.expect_gpu, log_reader=reader, timeout=args.timeout)
    if args.json:
        print_json(result.to_dict())
        return for_check(result.ok, result.unreachable)
    if result.unreachable:
        _one_line(result.findings)
    else:
        _print_llama_cpp(result)
    return for_check(result.ok, result.unreachable)


def _print_llama_cpp(result: LlamaCppCheck) -> None:
    props = result.props
    model = Path(props.model_path).name if props and props.model_path else (result.models[0] if result.models else "")
    build = f"build {props.build_info}" if props and props.build_info else "build unknown"
    print(f"llama-cpp {result.url}: {build}" + (f", model {model}" if model else ""))
    c = result.completion
    if c is not None:
        t = c.timings
        timed = (f" in {t.predicted_ms:.0f} ms ({t.predicted_per_second:.1f} tok/s; prompt: {t.prompt_n} tokens in "
                 f"{t.prompt_ms:.0f} ms)" if t is not None else " (no timings)")
        print(f"  generated {c.tokens_predicted} tokens{timed}: {c.content[:60]!r}")
    ev = result.evidence
    if ev is not None and ev.has_evidence:
        used = ", ".join(d.label for d in ev.used) or "not named"
        offload = f", offloaded {ev.offloaded[0]}/{ev.offloaded[1]} layers" if ev.offloaded else ""
        backends = ", ".join(ev.backends)
        print(f"  log: device {used}{offload}" + (f" (backends: {backends})" if backends else ""))
    for f in result.findings:
        print(f"  {f.severity.value.upper()}: {f.title} -> {f.fix}")
        for line in f.evidence[:3]:
            print(f"      {line}")
        if f.nixos:
            print(f"      NixOS: {f.nixos}")
