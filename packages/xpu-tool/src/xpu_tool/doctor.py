"""Run every probe on a target, diagnose, and render the verdict."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

from .deadline import Deadline
from .diagnosis import Observations, diagnose
from .model import Finding, ProbeResult, Report, Severity, Status
from .probes.context import ProbeContext
from .probes.environment import EnvFacts, collect_env
from .probes.pci import SystemScan, scan_system
from .probes.reach import judge_reach
from .probes.registry import Collected, probes
from .probes.units import collect_units
from .target import TargetError
from .threads import in_daemon_thread

T = TypeVar("T")

DEADLINE_FIX = (
    "rerun with a longer --timeout; if it happens again, run the probe's command on the target by hand "
    "to see what hangs (a driver stuck in the kernel, a runtime waiting for a device)"
)


@dataclass(frozen=True)
class ObservedByDeadline:
    """What the probes saw by the deadline: the observations of those that finished, and the names
    of those that did not (``scanned``: whether the PCI scan, which every GPU rule reads, finished)."""

    observations: Observations
    unfinished: tuple[str, ...] = ()
    scanned: bool = True


def _wait(future: Future[T], deadline: Deadline | None) -> T | None:
    """The future's result, or None when the deadline passes first (its daemon thread is left behind)."""
    try:
        return future.result(None if deadline is None else max(0.0, deadline.left()))
    except FutureTimeout:
        return None


def observe(ctx: ProbeContext, deadline: Deadline | None = None) -> ObservedByDeadline:
    """Run every probe once on ctx.target, concurrently (each one only issues commands through the
    target; a console target runs them one at a time), each in a daemon thread: a probe still
    running at ``deadline`` is left behind, named in ``unfinished``, and never delays the exit.
    A target that cannot run a command at all (exit 127) is observed as that alone: nothing it
    says is evidence about the GPU. TargetError when it cannot run `true` by the deadline."""
    reach = _wait(
        in_daemon_thread(lambda: ctx.target.run("true", timeout=ctx.timeout), name="xpu-probe reach"), deadline
    )
    if reach is None:
        raise TargetError(
            f"cannot reach {ctx.target.url}: timed out (`true` did not finish within "
            f"{deadline.seconds if deadline else 0:g} s)"
        )
    unreachable = judge_reach(ctx.target, reach)
    if unreachable is not None:
        return ObservedByDeadline(
            Observations(SystemScan((), "", "", None), {"target": unreachable}, EnvFacts({}, False, ()))
        )
    collected = Collected(
        ctx,
        in_daemon_thread(scan_system, ctx, name="xpu-probe pci-scan"),
        in_daemon_thread(collect_env, ctx, name="xpu-probe env"),
        in_daemon_thread(collect_units, ctx, name="xpu-probe units"),
    )
    futures: dict[str, Future[ProbeResult]] = {
        p.name: in_daemon_thread(p.run, collected, name=f"xpu-probe {p.name}") for p in probes()
    }
    results = {name: _wait(future, deadline) for name, future in futures.items()}
    scanned = _wait(collected.scan, deadline)
    facts, found_units = _wait(collected.env, deadline), _wait(collected.units, deadline)
    observations = Observations(
        scanned or SystemScan((), "", "", None),
        {r.probe: r for r in results.values() if r is not None},
        facts or EnvFacts({}, False, ()),
        tuple(found_units or ()),
    )
    return ObservedByDeadline(
        observations, tuple(name for name, r in results.items() if r is None), scanned is not None
    )


def _unfinished(name: str, seconds: float) -> ProbeResult:
    return ProbeResult(
        name,
        Status.WARN,
        f"did not finish within {seconds:g} s",
        (),
        cause="a command of this probe did not end by the doctor's deadline",
        fix=DEADLINE_FIX,
    )


def run_doctor(ctx: ProbeContext, deadline: float | None = None) -> Report:
    """The doctor on one target; ``deadline``: the seconds it may take in all (None: as long as its
    probes' commands take, each bounded by ctx.timeout). Probes unfinished by then are reported as
    such, with one blocking finding naming them; while the PCI scan is among them, nothing is said
    about GPUs (an unfinished scan is no evidence of a missing GPU)."""
    limit = Deadline.after(deadline) if deadline is not None else None
    observed = observe(ctx, limit)
    obs = observed.observations
    if not observed.unfinished:
        return Report(ctx.target.url, tuple(obs.results.values()), tuple(diagnose(obs)))
    seconds = limit.seconds if limit else 0.0
    late = Finding(
        "doctor-deadline",
        Severity.FAIL,
        f"{len(observed.unfinished)} probe(s) did not finish within {seconds:g} s: {', '.join(observed.unfinished)}",
        tuple(f"{name}: still running at the deadline" for name in observed.unfinished),
        fix=DEADLINE_FIX,
    )
    findings = diagnose(obs) if observed.scanned else []
    results = tuple(obs.results.get(p.name) or _unfinished(p.name, seconds) for p in probes())
    return Report(ctx.target.url, results, (late, *findings))


def reports_to_dict(reports: Sequence[Report]) -> dict[str, Any]:
    """`xpu doctor --json`: the same shape for one target or many.

    ``usable`` is true when every target's stack is usable; ``reports`` has one report per target,
    in the order they were given.
    """
    return {"usable": all(r.usable for r in reports), "reports": [r.to_dict() for r in reports]}


_fill = partial(textwrap.fill, break_on_hyphens=False, break_long_words=False)

_MARK = {Status.OK: "ok", Status.WARN: "WARN", Status.FAIL: "FAIL", Status.ABSENT: "absent"}


def render_text(report: Report, *, width: int = 100) -> str:
    column = max([len("PROBE"), *(len(p.probe) for p in report.probes)]) + 2  # the longest probe name
    lines = [f"xpu doctor: {report.target}", "", f"{'PROBE':<{column}}{'STATUS':<8}SUMMARY"]
    for probe in report.probes:
        lines.append(f"{probe.probe:<{column}}{_MARK[probe.status]:<8}{probe.summary}")
    blocking = sum(1 for f in report.findings if f.severity is Severity.FAIL)
    warnings = sum(1 for f in report.findings if f.severity is Severity.WARN)
    lines += [
        "",
        f"FINDINGS: {blocking} blocking, {warnings} warning(s), {len(report.findings) - blocking - warnings} note(s)",
    ]
    indent = " " * 7
    for f in report.findings:
        lines.append(f"{f.severity.value.upper():<5}  {f.title}  [{f.id}]")
        for ev in f.evidence[:6]:
            lines.append(_fill(ev, width, initial_indent=indent + "- ", subsequent_indent=indent + "  "))
        lines.append(_fill(f"fix: {f.fix}", width, initial_indent=indent, subsequent_indent=indent + "     "))
        if f.nixos:
            lines.append(_fill(f"NixOS: {f.nixos}", width, initial_indent=indent, subsequent_indent=indent + "       "))
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
