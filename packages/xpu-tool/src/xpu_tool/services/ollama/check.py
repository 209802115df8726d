"""The Ollama end-to-end check: reachability, a model created offline, a generation, placement."""

from __future__ import annotations

import contextlib
import dataclasses
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...deadline import Deadline
from ...model import Finding, Severity
from .. import api
from ..journal import local_journal
from ..registry import Option, ServiceState, reason, service
from ..tiny_gguf import write_tiny_llama
from .client import Generation, OllamaClient, OllamaError, Placement, diagnose_text

CHECK_MODEL = "xpu-check-tiny"


@dataclass(frozen=True)
class OllamaCheck:
    url: str
    version: str | None = None
    created: bool = False
    generation: Generation | None = None
    placement: Placement | None = None
    findings: tuple[Finding, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return (
            self.generation is not None
            and bool(self.generation.text)
            and not any(f.severity is Severity.FAIL for f in self.findings)
        )

    @property
    def unreachable(self) -> bool:
        """Nothing could be reached at the URL (connection refused, the host does not resolve)."""
        return any(f.id == "ollama-unreachable" for f in self.findings)

    @property
    def unanswered(self) -> bool:
        """No answer to report but why (its one finding)."""
        return self.unreachable

    def to_dict(self) -> dict[str, Any]:
        """`xpu check ollama --json`."""
        return {
            "url": self.url,
            "ok": self.ok,
            "version": self.version,
            "created": self.created,
            "generation": dataclasses.asdict(self.generation) if self.generation else None,
            "placement": dataclasses.asdict(self.placement) if self.placement else None,
            "findings": [f.to_dict() for f in self.findings],
        }

    def lines(self) -> list[str]:
        """`xpu check ollama`'s text: what answered, what it generated, where it ran, the findings."""
        head = f"ollama {self.url}: version {self.version or 'unknown'}, " + (
            "test model created" if self.created else "test model not created"
        )
        out = [head]
        g = self.generation
        if g is not None:
            out.append(f"  generated {g.eval_count} tokens at {g.decode_tokens_per_s:.1f} tok/s: {g.text[:60]!r}")
        if self.placement is not None:
            out.append(f"  placement: {self.placement.offload} ({self.placement.gpu_share:.0%} in VRAM)")
        out += [f"  {f.severity.value.upper()}: {f.title} -> {f.fix}" for f in self.findings]
        return out


NO_ANSWER = {
    "unreachable": (
        "Ollama at {url} does not answer",
        "start the service (systemctl status ollama) and check services.ollama.host/port and the firewall",
    ),
    "timeout": (
        "Ollama at {url} does not answer in time",
        "read the server log (journalctl -u ollama); check that a proxy in front of it does not hold answers back",
    ),
    "status": (
        "Ollama at {url} answers /api/version with HTTP {status}",
        "read the server log (journalctl -u ollama); check that the URL names Ollama itself or a proxy that passes "
        "/api/",
    ),
    "other": (
        "Ollama at {url} answers, but not as its API should ({kind})",
        "check that the URL names Ollama (not another service) and that a proxy in front of it passes /api/ "
        "unchanged (no redirects, no re-encoding)",
    ),
}


def _unanswered(url: str, exc: OllamaError) -> Finding:
    """What a failed first call (/api/version) says about the server, from the error's kind."""
    return api.no_answer("ollama", url, exc, NO_ANSWER)


def check_ollama(
    url: str,
    *,
    gguf: Path | None = None,
    log_reader: Callable[[], str] = str,
    expect_gpu: bool = False,
    timeout: float = 300.0,
) -> OllamaCheck:
    """Run the whole check; every failure becomes a finding, never an exception.

    ``log_reader`` returns the server's log text when the caller can read it (it names GPU
    failures; read after the generation); ``expect_gpu`` makes a model on the CPU a failure.
    """
    client = OllamaClient(url, read_timeout=timeout)
    url = client.shown_url  # from here on, the URL as shown: no password
    try:
        version = client.version()
    except OllamaError as exc:
        return OllamaCheck(url, findings=(_unanswered(url, exc),))
    with tempfile.TemporaryDirectory() as tmp:
        model = gguf or write_tiny_llama(Path(tmp) / f"{CHECK_MODEL}.gguf").path
        try:
            client.create_from_gguf(CHECK_MODEL, model)
        except OllamaError as exc:
            return OllamaCheck(
                url,
                version,
                findings=(
                    Finding(
                        "ollama-create-failed",
                        Severity.FAIL,
                        "Ollama could not create a model from a GGUF file",
                        (str(exc),),
                        fix="check the server's free disk in OLLAMA_MODELS and its log",
                    ),
                ),
            )
    try:
        generation = client.generate(CHECK_MODEL, "Why is the sky blue?", num_predict=8, timeout=timeout)
    except OllamaError as exc:
        findings = diagnose_text(str(exc), log_reader()) or [
            Finding(
                "ollama-generate-failed",
                Severity.FAIL,
                "Ollama could not generate",
                (str(exc),),
                fix="read the server log (journalctl -u ollama)",
            )
        ]
        return OllamaCheck(url, version, True, findings=tuple(findings))
    placement = next((p for p in client.ps() if p.model.startswith(CHECK_MODEL)), None)
    findings = list(diagnose_text(log_reader()))
    if not generation.text:
        findings.append(
            Finding(
                "ollama-empty-generation",
                Severity.FAIL,
                "Ollama returned no text",
                (str(generation),),
                fix="read the server log",
            )
        )
    if placement is None:
        findings.append(
            Finding(
                "ollama-placement-unknown",
                Severity.WARN if expect_gpu else Severity.INFO,
                "/api/ps does not list the model after generating",
                (),
                fix="check /api/ps by hand",
            )
        )
    elif placement.offload != "gpu":
        findings.append(
            Finding(
                "ollama-not-on-gpu",
                Severity.FAIL if expect_gpu else Severity.INFO,
                f"The model runs {'partly ' if placement.offload == 'partial' else ''}on the CPU "
                f"({placement.gpu_share:.0%} in VRAM)",
                (f"/api/ps: size {placement.size}, size_vram {placement.size_vram}",),
                fix="check the backend's GPU discovery in the server log (ZES_ENABLE_SYSMAN=1, OLLAMA_IGPU_ENABLE=1)",
            )
        )
    with contextlib.suppress(OllamaError):
        client.delete(CHECK_MODEL)
    return OllamaCheck(url, version, True, generation, placement, tuple(findings))


def check_ollama_quickly(url: str, timeout: float) -> ServiceState:
    """`xpu export`'s check: version and loaded models, both within ``timeout`` seconds in all."""
    client = OllamaClient(url, read_timeout=timeout, deadline=Deadline.after(timeout))
    url = client.shown_url  # from here on, the URL as shown: no password
    try:
        version = client.version()
        models = tuple((p.model, (p.size_vram / p.size) if p.size else 0.0) for p in client.ps())
    except OllamaError as exc:
        return ServiceState("ollama", url, False, error=reason(exc.kind, exc.status))
    return ServiceState("ollama", url, True, version, models=models)


JOURNAL = Option(
    "--journal",
    "read this systemd unit's journal on this machine to explain failures (e.g. ollama.service)",
    metavar="UNIT",
)


@service(
    "ollama",
    title="Ollama",
    example_url="http://127.0.0.1:11434",
    quick=check_ollama_quickly,
    options=(JOURNAL,),
    summary="create a tiny model offline, generate, and read where it ran (/api/ps)",
)
def run_check(url: str, *, expect_gpu: bool = False, timeout: float = 300.0, journal: str | None = None) -> OllamaCheck:
    return check_ollama(url, expect_gpu=expect_gpu, log_reader=local_journal(journal), timeout=timeout)
