"""The Ollama end-to-end check: reachability, a model created offline, a generation, placement."""

from __future__ import annotations

import dataclasses
import re
import shlex
import tempfile
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConfigError
from ..model import Finding, Severity
from .ollama import Generation, OllamaClient, OllamaError, Placement, diagnose_text
from .tiny_gguf import write_tiny_llama

if TYPE_CHECKING:
    from ..target import Target

CHECK_MODEL = "xpu-check-tiny"


# systemd.unit(5): letters, digits and ":-_.\\", "@" before an instance; journalctl -u also takes
# glob patterns (`ollama*`). At most 255 characters.
UNIT_NAME = re.compile(r"[A-Za-z0-9:_.\\@*?\[\]-]{1,255}")


def check_unit_name(unit: str) -> str:
    """``unit`` if it is a systemd unit name (or a journalctl pattern of one); ConfigError otherwise."""
    if not UNIT_NAME.fullmatch(unit) or unit.count("@") > 1:
        raise ConfigError(f"{unit[:60]!r} is not a systemd unit name (letters, digits and :-_.\\@, "
                          "e.g. ollama.service)")
    return unit


def journal_command(unit: str, lines: int = 300) -> str:
    """The shell command that prints the unit's recent journal, message text only."""
    return f"journalctl --no-pager -o cat -n {int(lines)} -u {shlex.quote(check_unit_name(unit))}"


def journal_reader(target: "Target", unit: str = "ollama.service", lines: int = 300) -> Callable[[], str]:
    """A log_reader that reads the unit's journal on the target (empty when it cannot).
    The unit name is checked here, before anything runs (ConfigError)."""
    command = journal_command(unit, lines)

    def read() -> str:
        out = target.run(command, timeout=30)
        return out.stdout if out.ok else ""

    return read


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
        return self.generation is not None and bool(self.generation.text) and not any(
            f.severity is Severity.FAIL for f in self.findings)

    def to_dict(self) -> dict[str, Any]:
        """`xpu check ollama --json`."""
        return {"url": self.url, "ok": self.ok, "version": self.version, "created": self.created,
                "generation": dataclasses.asdict(self.generation) if self.generation else None,
                "placement": dataclasses.asdict(self.placement) if self.placement else None,
                "findings": [f.to_dict() for f in self.findings]}


def _unanswered(url: str, exc: OllamaError) -> Finding:
    """What a failed first call (/api/version) says about the server, from the error's kind."""
    if exc.kind == "unreachable":
        return Finding("ollama-unreachable", Severity.FAIL, f"Ollama at {url} does not answer", (str(exc),),
                       fix="start the service (systemctl status ollama) and check services.ollama.host/port and "
                       "the firewall")
    if exc.kind == "timeout":
        return Finding("ollama-timeout", Severity.FAIL, f"Ollama at {url} does not answer in time", (str(exc),),
                       fix="read the server log (journalctl -u ollama); check that a proxy in front of it does not "
                       "hold answers back")
    if exc.kind == "status":
        return Finding("ollama-http-error", Severity.FAIL, f"Ollama at {url} answers /api/version with HTTP "
                       f"{exc.status}", (str(exc),), fix="read the server log (journalctl -u ollama); check that the "
                       "URL names Ollama itself or a proxy that passes /api/")
    return Finding("ollama-api-error", Severity.FAIL, f"Ollama at {url} answers, but not as its API should "
                   f"({exc.kind})", (str(exc),), fix="check that the URL names Ollama (not another service) and that "
                   "a proxy in front of it passes /api/ unchanged (no redirects, no re-encoding)")


def check_ollama(url: str, *, gguf: Path | None = None, log_reader: Callable[[], str] = str,
                 expect_gpu: bool = False, timeout: float = 300.0) -> OllamaCheck:
    """Run the whole check; every failure becomes a finding, never an exception.

    ``log_reader`` returns the server's log text when the caller can read it (it names GPU
    failures; read after the generation); ``expect_gpu`` makes a model on the CPU a failure.
    """
    client = OllamaClient(url, read_timeout=timeout)
    try:
        version = client.version()
    except OllamaError as exc:
        return OllamaCheck(url, findings=(_unanswered(url, exc),))
    with tempfile.TemporaryDirectory() as tmp:
        model = gguf or write_tiny_llama(Path(tmp) / f"{CHECK_MODEL}.gguf").path
        try:
            client.create_from_gguf(CHECK_MODEL, model)
        except OllamaError as exc:
            return OllamaCheck(url, version, findings=(Finding(
                "ollama-create-failed", Severity.FAIL, "Ollama could not create a model from a GGUF file", (str(exc),),
                fix="check the server's free disk in OLLAMA_MODELS and its log"),))
    try:
        generation = client.generate(CHECK_MODEL, "Why is the sky blue?", num_predict=8, timeout=timeout)
    except OllamaError as exc:
        findings = diagnose_text(str(exc), log_reader()) or [Finding(
            "ollama-generate-failed", Severity.FAIL, "Ollama could not generate", (str(exc),),
            fix="read the server log (journalctl -u ollama)")]
        return OllamaCheck(url, version, True, findings=tuple(findings))
    placement = next((p for p in client.ps() if p.model.startswith(CHECK_MODEL)), None)
    findings = list(diagnose_text(log_reader()))
    if not generation.text:
        findings.append(Finding("ollama-empty-generation", Severity.FAIL, "Ollama returned no text", (str(generation),),
                                fix="read the server log"))
    if placement is None:
        findings.append(Finding("ollama-placement-unknown", Severity.WARN if expect_gpu else Severity.INFO,
                                "/api/ps does not list the model after generating", (), fix="check /api/ps by hand"))
    elif placement.offload != "gpu":
        findings.append(Finding(
            "ollama-not-on-gpu", Severity.FAIL if expect_gpu else Severity.INFO,
            f"The model runs {'partly ' if placement.offload == 'partial' else ''}on the CPU "
            f"({placement.gpu_share:.0%} in VRAM)", (f"/api/ps: size {placement.size}, size_vram {placement.size_vram}",),
            fix="check the backend's GPU discovery in the server log (ZES_ENABLE_SYSMAN=1, OLLAMA_IGPU_ENABLE=1)"))
    try:
        client.delete(CHECK_MODEL)
    except OllamaError:
        pass
    return OllamaCheck(url, version, True, generation, placement, tuple(findings))
