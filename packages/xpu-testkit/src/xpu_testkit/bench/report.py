"""Benchmark output: JSON for machines, a Markdown table for people, a PNG chart."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from xpu_tool.atomic import write_atomically
from xpu_tool.errors import ConfigError

from .comfyui_bench import ComfyBench
from .results import BackendResult, BenchReport, DeviceRun
from .stats import Stats

# a run's side, not where it ran: the bench sees no device (JSON keeps the keys "gpu" and "cpu")
SIDES = {"gpu": "GPU side", "cpu": "CPU side"}
WHERE_NOTE = (
    "the GPU side is each server as configured (Ollama's own placement, a llama-server's -ngl), the CPU "
    "side Ollama's num_gpu 0 or the --cpu server; the bench does not see which device ran them: "
    "`xpu check ollama URL` and `xpu check llama-cpp URL --journal UNIT` show where each ran"
)


def _stats(s: Stats) -> dict[str, Any]:
    return dict(asdict(s), spread=s.spread)


def _run(run: DeviceRun | None) -> dict[str, Any] | None:
    if run is None:
        return None
    return {
        "decode_tokens_per_s": _stats(run.decode),
        "prompt_tokens_per_s": _stats(run.prompt),
        "samples": [
            {"decode_tokens_per_s": g.decode_tokens_per_s, "prompt_tokens_per_s": g.prompt_tokens_per_s}
            for g in run.generations
        ],
    }


def _fastest(r: BackendResult | None) -> dict[str, Any] | None:
    return None if r is None else {"backend": r.backend, "engine": r.engine, "decode_tokens_per_s": r.gpu.decode.median}


def to_dict(report: BenchReport) -> dict[str, Any]:
    """``passed`` per backend is null when it has no CPU side (no verdict), and so are its ratios."""
    return {
        "model": report.model,
        "gguf": report.gguf,
        "prompt": report.prompt,
        "repetitions": report.repetitions,
        "warmup": report.warmup,
        "num_predict": report.num_predict,
        "pass_ratio": report.pass_ratio,
        "passed": report.passed,
        "fastest": _fastest(report.fastest),
        "notes": list(report.notes),
        "harness_overhead": report.harness_overhead,
        "wall_seconds": report.wall_seconds,
        "backends": [
            {
                "backend": r.backend,
                "engine": r.engine,
                "url": r.url,
                "cpu_url": r.cpu_url,
                "version": r.version,
                "passed": r.passed if r.judged else None,
                "decode_ratio": r.decode_ratio,
                "prompt_ratio": r.prompt_ratio,
                "gpu": _run(r.gpu),
                "cpu": _run(r.cpu),
            }
            for r in report.results
        ],
    }


def to_markdown(report: BenchReport) -> str:
    lines = [
        f"# {report.title} benchmark: {report.model}, {report.repetitions} runs after {report.warmup} warm-up",
        "",
        (
            "| backend | engine | side | decode tok/s (median) | spread | prompt tok/s (median) | GPU/CPU decode | "
            f"pass (> {report.pass_ratio:g}x) | version |"
        ),
        "| --- | --- | --- | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    for r in report.results:
        for run in (r.gpu, r.cpu):
            if run is None:
                continue
            is_gpu = run.device == "gpu"
            ratio = (f"{r.decode_ratio:.2f}x" if r.decode_ratio is not None else "no CPU side") if is_gpu else ""
            verdict = (("yes" if r.passed else "no") if r.judged else "-") if is_gpu else ""
            lines.append(
                f"| {r.backend} | {r.engine} | {SIDES[run.device]} | {run.decode.median:.1f} | "
                f"{run.decode.spread:.0%} | {run.prompt.median:.1f} | {ratio} | {verdict} | "
                f"{r.version if is_gpu else ''} |"
            )
    lines.append("")
    fastest = report.fastest
    if fastest is not None:
        speed = f"{fastest.gpu.decode.median:.1f} tok/s decode on its GPU side"
        lines.append(f"fastest: {fastest.backend} ({fastest.engine}), {speed}")
    lines += [f"note: {n}" for n in report.notes]
    lines.append(f"note: {WHERE_NOTE}")
    lines.append(f"Harness overhead: {report.harness_overhead:.3%} of {report.wall_seconds:.1f} s.")
    return "\n".join(lines) + "\n"


def to_png(report: BenchReport, path: Path) -> None:
    # matplotlib only for the chart: its pyplot takes longer to import (~0.45 s) than the whole `xpu` CLI,
    # which loads this module (an entry point of xpu_tool.commands) for every command
    import matplotlib  # noqa: PLC0415 - only the chart needs it (see above)

    matplotlib.use("Agg")  # before pyplot: no display needed
    import matplotlib.pyplot as plt  # noqa: PLC0415 - after the backend is chosen, and only for the chart

    labels = [r.backend for r in report.results]
    gpu = [r.gpu.decode.median for r in report.results]
    cpu = [r.cpu.decode.median if r.cpu else 0.0 for r in report.results]
    fig, ax = plt.subplots(figsize=(max(4, 2 * len(labels) + 2), 4))
    xs = range(len(labels))
    ax.bar([x - 0.2 for x in xs], gpu, width=0.4, label="GPU side (the server as configured)")
    ax.bar([x + 0.2 for x in xs], cpu, width=0.4, label="CPU side (num_gpu 0, or the --cpu server)")
    ax.set_xticks(list(xs), labels)
    ax.set_ylabel("decode tokens/s (median)")
    ax.set_title(f"{report.title} {report.model}: GPU side against CPU side")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100, format="png")  # path may be a temporary name without .png
    plt.close(fig)


def check_out_dir(out: Path, keep: bool = False) -> None:
    """Refuse, before a benchmark runs, an --out that is not a directory this process can create and write.
    The directories made to try it are removed again unless ``keep``, so a refused run leaves nothing."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out}: not a directory")
    missing = [] if keep else [d for d in (out, *out.absolute().parents) if not d.exists()]
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=out, prefix=".xpu-bench-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise ConfigError(f"--out {out}: cannot write there ({exc.strerror or exc})") from None
    finally:
        for made in missing:  # deepest first
            with contextlib.suppress(OSError):
                made.rmdir()


def _write(path: Path, write: Callable[[Path], object]) -> None:
    try:
        write_atomically(path, write)
    except OSError as exc:  # the disk filled, or a name in --out is taken by a directory
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc}") from None


def write_reports(report: BenchReport, out: Path, stem: str = "ollama-bench") -> dict[str, Path]:
    """``stem``.json, .md and .png in ``out``: ollama-bench from `xpu bench ollama`, llm-bench from `xpu bench llm`."""
    check_out_dir(out, keep=True)
    paths = {"json": out / f"{stem}.json", "markdown": out / f"{stem}.md", "png": out / f"{stem}.png"}
    _write(paths["json"], lambda p: p.write_text(json.dumps(to_dict(report), indent=2) + "\n"))
    _write(paths["markdown"], lambda p: p.write_text(to_markdown(report)))
    _write(paths["png"], lambda p: to_png(report, p))
    return paths


def write_comfyui_report(bench: ComfyBench, out: Path) -> Path:
    """comfyui-bench.json in ``out`` (created when missing)."""
    check_out_dir(out, keep=True)
    path = out / "comfyui-bench.json"
    _write(path, lambda p: p.write_text(json.dumps(bench.to_dict(), indent=2) + "\n"))
    return path
