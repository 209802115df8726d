"""Run every probe on a target, diagnose, and render the verdict."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from typing import Any

from .diagnosis import Observations, diagnose
from .model import ProbeResult, Report, Severity, Status
from .probes.context import ProbeContext
from .probes.environment import EnvFacts, collect_env, judge_env
from .probes.level_zero import probe_level_zero
from .probes.opencl import probe_opencl
from .probes.pci import SystemScan, judge_pci, scan_system
from .probes.reach import judge_reach
from .probes.render import judge_render
from .probes.services import collect_units, judge_units
from .probes.sycl import probe_sycl
from .probes.torch_xpu import probe_torch


def _icd_variables(env: EnvFacts) -> str | None:
    return " ".join(f"{k}={env.get(k)}" for k in ("OCL_ICD_VENDORS", "OCL_ICD_FILENAMES") if env.get(k)) or None


def observe(ctx: ProbeContext) -> Observations:
    """Run every probe once on ctx.target, concurrently (each one only issues commands through the
    target; a console target runs them one at a time). A target that cannot run a command at all
    (exit 127) is observed as that alone: nothing it says is evidence about the GPU."""
    unreachable = judge_reach(ctx.target, ctx.target.run("true", timeout=ctx.timeout))
    if unreachable is not None:
        return Observations(SystemScan((), "", "", None), {"target": unreachable}, EnvFacts({}, False, ()))
    with ThreadPoolExecutor(max_workers=8, thread_name_prefix="xpu-probe") as pool:
        scan = pool.submit(scan_system, ctx)
        env = pool.submit(collect_env, ctx)
        units = pool.submit(collect_units, ctx)
        probes: list[Future[ProbeResult]] = [
            pool.submit(lambda: judge_pci(scan.result())),
            pool.submit(lambda: judge_render(ctx, scan.result())),
            pool.submit(probe_level_zero, ctx),
            pool.submit(lambda: probe_sycl(ctx, env.result().get("ONEAPI_DEVICE_SELECTOR"))),
            pool.submit(lambda: probe_opencl(ctx, _icd_variables(env.result()))),
            pool.submit(probe_torch, ctx),
            pool.submit(lambda: judge_env(env.result())),
            pool.submit(lambda: judge_units(units.result())),
        ]
        results = [p.result() for p in probes]
    return Observations(scan.result(), {r.probe: r for r in results}, env.result(), tuple(units.result() or ()))


def run_doctor(ctx: ProbeContext) -> Report:
    obs = observe(ctx)
    return Report(ctx.target.url, tuple(obs.results.values()), tuple(diagnose(obs)))


def reports_to_dict(reports: Sequence[Report]) -> dict[str, Any]:
    """`xpu doctor --json`: the same shape for one target or many.

    ``usable`` is true when every target's stack is usable; ``reports`` has one report per target,
    in the order they were given.
    """
    return {"usable": all(r.usable for r in reports), "reports": [r.to_dict() for r in reports]}


_fill = partial(textwrap.fill, break_on_hyphens=False, break_long_words=False)

_MARK = {Status.OK: "ok", Status.WARN: "WARN", Status.FAIL: "FAIL", Status.ABSENT: "absent"}


def render_text(report: Report, *, width: int = 100) -> str:
    lines = [f"xpu doctor: {report.target}", "", f"{'PROBE':<14}{'STATUS':<8}SUMMARY"]
    for probe in report.probes:
        lines.append(f"{probe.probe:<14}{_MARK[probe.status]:<8}{probe.summary}")
    blocking = sum(1 for f in report.findings if f.severity is Severity.FAIL)
    warnings = sum(1 for f in report.findings if f.severity is Severity.WARN)
    lines += ["", f"FINDINGS: {blocking} blocking, {warnings} warning(s), "
                  f"{len(report.findings) - blocking - warnings} note(s)"]
    indent = " " * 7
    for f in report.findings:
        lines.append(f"{f.severity.value.upper():<5}  {f.title}  [{f.id}]")
        for ev in f.evidence[:6]:
            lines.append(_fill(ev, width, initial_indent=indent + "- ", subsequent_indent=indent + "  "))
        lines.append(_fill(f"fix: {f.fix}", width, initial_indent=indent, subsequent_indent=indent + "     "))
        if f.nixos:
            lines.append(_fill(f"NixOS: {f.nixos}", width, initial_indent=indent,
                                       subsequent_indent=indent + "       "))
        if f.refs:
            lines.append(f"{indent}see: {', '.join(f.refs)}")
    if report.finding("no-intel-gpu"):
        verdict = "no Intel GPU on this machine: GPU acceleration is not possible here"
    elif report.usable:
        verdict = "the Intel GPU stack is usable"
    else:
        verdict = "GPU acceleration is blocked by the findings above"
    lines += ["", f"VERDICT: {verdict}"]
    return "\n".join(lines)
