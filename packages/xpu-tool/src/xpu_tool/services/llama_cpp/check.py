"""`xpu check llama-cpp`: a short generation that proves work happened (the server's own token
counts and timings) and where it ran, from the server's own log (the device it used, the layers
it offloaded); every failure is a finding, never an exception. The findings are made in
``findings``; ``--log FILE`` is read by ``logfile``."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...deadline import Deadline
from ...errors import ConfigError
from ...model import Finding, Severity
from ..journal import local_journal
from ..registry import Option, ServiceState, reason, service
from .client import Completion, LlamaCppClient, LlamaCppError, Props
from .findings import empty_log, gpu_build_without_device, judge_evidence, no_answer
from .log import Device, LogEvidence, parse_log
from .logfile import read_log_file

PROMPT = "Why is the sky blue?"
N_PREDICT = 16
NO_JOURNAL = re.compile(r"^\s*(?:-- No entries --)?\s*$")  # journalctl's answer for a unit with no lines


@dataclass(frozen=True)
class LlamaCppCheck:
    url: str
    health: str | None = None
    props: Props | None = None
    models: tuple[str, ...] = ()
    completion: Completion | None = None
    evidence: LogEvidence | None = None  # None: no log was read
    findings: tuple[Finding, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return (
            self.completion is not None
            and self.completion.worked
            and not any(f.severity is Severity.FAIL for f in self.findings)
        )

    @property
    def unreachable(self) -> bool:
        """Nothing could be reached at the URL (connection refused, the host does not resolve)."""
        return any(f.id == "llama-cpp-unreachable" for f in self.findings)

    @property
    def unanswered(self) -> bool:
        """No answer to report but why (its one finding)."""
        return self.unreachable

    @property
    def device(self) -> Device | None:
        """The device the model was put on, by the log (the first non-CPU one)."""
        ev = self.evidence
        return next((d for d in ev.used if d.kind != "cpu"), None) if ev else None

    def to_dict(self) -> dict[str, Any]:
        """`xpu check llama-cpp --json`."""
        ev = self.evidence
        return {
            "url": self.url,
            "ok": self.ok,
            "health": self.health,
            "props": dataclasses.asdict(self.props) if self.props else None,
            "models": list(self.models),
            "completion": dataclasses.asdict(self.completion) if self.completion else None,
            "log": None
            if ev is None
            else {
                "found": [dataclasses.asdict(d) for d in ev.found],
                "used": [dataclasses.asdict(d) for d in ev.used],
                "offloaded": list(ev.offloaded) if ev.offloaded else None,
                "backends": list(ev.backends),
            },
            "findings": [f.to_dict() for f in self.findings],
        }

    def lines(self) -> list[str]:
        """`xpu check llama-cpp`'s text: the server, what it generated, where its log says it ran, the findings."""
        props = self.props
        model = Path(props.model_path).name if props and props.model_path else (self.models[0] if self.models else "")
        build = f"build {props.build_info}" if props and props.build_info else "build unknown"
        out = [f"llama-cpp {self.url}: {build}" + (f", model {model}" if model else "")]
        c = self.completion
        if c is not None:
            t = c.timings
            timed = (
                f" in {t.predicted_ms:.0f} ms ({t.predicted_per_second:.1f} tok/s; prompt: {t.prompt_n} tokens "
                f"in {t.prompt_ms:.0f} ms)"
                if t is not None
                else " (no timings)"
            )
            out.append(f"  generated {c.tokens_predicted} tokens{timed}: {c.content[:60]!r}")
        ev = self.evidence
        if ev is not None and ev.has_evidence:
            used = ", ".join(d.label for d in ev.used) or "not named"
            offload = f", offloaded {ev.offloaded[0]}/{ev.offloaded[1]} layers" if ev.offloaded else ""
            backends = ", ".join(ev.backends)
            out.append(f"  log: device {used}{offload}" + (f" (backends: {backends})" if backends else ""))
        for f in self.findings:
            out.append(f"  {f.severity.value.upper()}: {f.title} -> {f.fix}")
            out += [f"      {line}" for line in f.evidence[:3]]
            if f.nixos:
                out.append(f"      NixOS: {f.nixos}")
        return out


def check_llama_cpp(
    url: str,
    *,
    expect_gpu: bool = False,
    log_reader: Callable[[], str] | None = None,
    timeout: float = 300.0,
    log_source: str = "the server's log",
) -> LlamaCppCheck:
    """Run the whole check within ``timeout`` seconds (+ xpu_tool.http.MARGIN).

    ``log_reader`` returns the server's log text (read after the generation, so a journal has its
    lines); without one, where it ran is unknown (a failure with ``expect_gpu``). ``log_source`` names
    it when it is empty ("the journal of UNIT", "the log FILE").
    """
    client = LlamaCppClient(url, Deadline.after(timeout))
    url = client.shown_url  # from here on, the URL as shown: no password
    try:
        health = client.wait_until_ready()
    except LlamaCppError as exc:
        return LlamaCppCheck(url, findings=(no_answer(url, exc),))
    try:
        props, models = client.props(), client.models()
    except LlamaCppError as exc:
        return LlamaCppCheck(
            url,
            health,
            findings=(
                Finding(
                    "llama-cpp-api-error",
                    Severity.FAIL,
                    f"llama-server at {url} answers, but not as its API should ({exc.kind})",
                    (str(exc),),
                    fix="check that the URL names llama-server and that a proxy passes its API unchanged",
                ),
            ),
        )
    try:
        completion = client.complete(PROMPT, n_predict=N_PREDICT)
    except LlamaCppError as exc:
        return LlamaCppCheck(
            url,
            health,
            props,
            models,
            findings=(
                Finding(
                    "llama-cpp-generate-failed",
                    Severity.FAIL,
                    "llama-server could not generate",
                    (str(exc),),
                    fix="read the server log (journalctl -u llama-cpp)",
                ),
            ),
        )
    findings = []
    if not completion.worked:
        timings = dataclasses.asdict(completion.timings) if completion.timings else "absent"
        findings.append(
            Finding(
                "llama-cpp-no-tokens",
                Severity.FAIL,
                "llama-server answered /completion without generating",
                (f"tokens_predicted {completion.tokens_predicted}, timings {timings}",),
                fix="read the server log; a server that predicts no tokens did no work",
            )
        )
    if log_reader is None:
        findings += judge_evidence(None, expect_gpu=expect_gpu)
        return LlamaCppCheck(url, health, props, models, completion, None, tuple(findings))
    text = log_reader()
    evidence = parse_log(text)
    if NO_JOURNAL.match(text):
        findings.append(empty_log(log_source, expect_gpu=expect_gpu))
    else:
        no_device = gpu_build_without_device(text, evidence)
        findings += judge_evidence(evidence, expect_gpu=expect_gpu, no_device_backend=no_device)
    return LlamaCppCheck(url, health, props, models, completion, evidence, tuple(findings))


def check_llama_cpp_quickly(url: str, timeout: float) -> ServiceState:
    """`xpu export`'s check: /health (ok, not loading) and /props within ``timeout`` seconds in all; the
    version is /props' build_info. No models: where a model sits is only in the server's log."""
    client = LlamaCppClient(url, Deadline.after(timeout))
    url = client.shown_url  # from here on, the URL as shown: no password
    try:
        status = client.health()
        props = client.props()
    except LlamaCppError as exc:
        return ServiceState("llama-cpp", url, False, error=reason(exc.kind, exc.status))
    if status != "ok":
        return ServiceState("llama-cpp", url, False, error="error")
    return ServiceState("llama-cpp", url, True, props.build_info[:100])


OPTIONS = (
    Option(
        "--journal",
        "read this systemd unit's journal on this machine to see the device it used (e.g. llama-cpp.service)",
        metavar="UNIT",
    ),
    Option(
        "--log",
        "read a saved llama-server log (its last 4 MiB) instead of a journal, to see the device it used",
        metavar="FILE",
    ),
)


@service(
    "llama-cpp",
    title="llama-server",
    example_url="http://127.0.0.1:8080",
    quick=check_llama_cpp_quickly,
    options=OPTIONS,
    summary="generate 16 tokens; the device and offload from the server's own log",
)
def run_check(
    url: str, *, expect_gpu: bool = False, timeout: float = 300.0, journal: str | None = None, log: str | None = None
) -> LlamaCppCheck:
    if journal is not None and log is not None:
        raise ConfigError("give --journal UNIT or --log FILE, not both")
    reader: Callable[[], str] | None = local_journal(journal) if journal is not None else None
    source = f"the journal of {journal}" if journal is not None else f"the log {log}"
    if log is not None:
        text = read_log_file(Path(log))  # before the check: a bad file is a usage error, not a failed check

        def reader() -> str:
            return text

    return check_llama_cpp(url, expect_gpu=expect_gpu, log_reader=reader, timeout=timeout, log_source=source)
