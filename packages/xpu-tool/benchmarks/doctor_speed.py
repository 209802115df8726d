#!/usr/bin/env python3
"""How long `xpu --version` and `xpu doctor` take on this machine, with a given Python's packages.

    python benchmarks/doctor_speed.py                                  # this interpreter's environment
    python benchmarks/doctor_speed.py --python .venv-comfyui/bin/python  # e.g. one with PyPI's CUDA torch

The doctor runs as `PYTHON -m xpu_tool doctor --json` in a fresh process each time (what a user
waits for, imports included), so its torch probe looks at that Python's torch. When that Python
lacks xpu-tool's own dependencies (pytest-testinfra, PyYAML, ...), they are linked in from this
interpreter's environment through PYTHONPATH; packages that Python has (torch, numpy) stay its own.
Goals (issue 12): the doctor under 2 s, `xpu --version` under 150 ms. Prints the times; it is a
measurement, not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
ENTRY = "import sys; from xpu_tool.__main__ import main; sys.exit(main())"  # what a console script does


def _name(requirement: str) -> str:
    return re.split(r"[ ;<>=!~\[(]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def closure(root: str) -> set[str]:
    """``root`` and every distribution it requires (extras and environment markers ignored)."""
    seen: set[str] = set()
    todo = [root]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        seen.add(name)
        todo += [_name(r) for r in dist.requires or [] if "extra ==" not in r]
    return seen


def installed(python: str) -> set[str]:
    code = (
        "import importlib.metadata as m, json; "
        "print(json.dumps([d.metadata['Name'] for d in m.distributions() if d.metadata['Name']]))"
    )
    out = subprocess.run([python, "-c", code], capture_output=True, text=True, check=True).stdout
    return {n.lower().replace("_", "-") for n in json.loads(out)}


def link_missing(python: str, into: Path) -> list[str]:
    """Symlink the xpu-tool dependencies ``python`` lacks (from this environment) into ``into``."""
    missing = sorted(closure("xpu-tool") - installed(python) - {"xpu-tool"})
    for name in missing:
        dist = metadata.distribution(name)
        tops = {Path(str(f)).parts[0] for f in dist.files or [] if not str(f).startswith("..")}
        for top in tops - {"__pycache__"}:
            source = Path(str(dist.locate_file(top)))
            if source.exists() and not (into / top).exists():
                (into / top).symlink_to(source)
    return missing


def timed(argv: list[str], env: dict[str, str], runs: int) -> tuple[list[float], subprocess.CompletedProcess[str]]:
    times = []
    run = None
    for _ in range(runs):
        started = time.perf_counter()
        run = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=300, check=False)
        times.append(time.perf_counter() - started)
    assert run is not None
    return times, run


def row(label: str, times: list[float], goal: float | None = None) -> str:
    line = f"{label:<44} first {times[0]:6.3f} s  median {statistics.median(times):6.3f} s  max {max(times):6.3f} s"
    if goal is None:
        return line
    return line + f"  (goal < {goal:g} s: {'ok' if statistics.median(times) < goal else 'OVER'})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--python", default=sys.executable, help="the interpreter whose packages the doctor sees")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="xpu-bench-deps-") as deps:
        missing = link_missing(args.python, Path(deps))
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), deps])}
        env.pop("XPU_TORCH_IMPORT", None)
        print(f"python: {args.python}")
        if missing:
            print(f"linked in from {sys.prefix}: {', '.join(missing)}")
        version, _ = timed([args.python, "-c", ENTRY, "--version"], env, args.runs)
        print(row("xpu --version (console-script entry)", version, 0.150))
        module, _ = timed([args.python, "-m", "xpu_tool", "--version"], env, args.runs)
        print(row("python -m xpu_tool --version", module, 0.150))
        doctor, run = timed([args.python, "-m", "xpu_tool", "doctor", "--json"], env, args.runs)
        print(row("xpu doctor", doctor, 2.0))
        report = json.loads(run.stdout)["reports"][0]
        torch = next((p for p in report["probes"] if p["probe"] == "torch"), None)
        if torch is not None:
            print(f"  torch probe: {torch['summary']}; {'; '.join(torch['evidence'][:2])}")
        asked, _ = timed(
            [args.python, "-m", "xpu_tool", "doctor", "--json"], {**env, "XPU_TORCH_IMPORT": "1"}, min(args.runs, 2)
        )
        print(row("xpu doctor, XPU_TORCH_IMPORT=1 (comparison)", asked))
    return 0


if __name__ == "__main__":
    sys.exit(main())
