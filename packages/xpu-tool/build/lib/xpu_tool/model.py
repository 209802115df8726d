"""Typed results shared by every layer: probe results, findings and the doctor's report."""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from typing import Any

SCHEMA_VERSION = 1


class Status(str, enum.Enum):
    """How a probe judged one part of the stack."""

    OK = "ok"
    WARN = "warn"
    FAIL = "fail"
    ABSENT = "absent"


class Severity(str, enum.Enum):
    """How much a finding matters: FAIL blocks GPU acceleration, WARN costs speed or stability."""

    FAIL = "fail"
    WARN = "warn"
    INFO = "info"


@dataclass(frozen=True)
class ProbeResult:
    """What one probe saw on one target.

    ``data`` holds the structured facts (devices, codes, paths) the diagnosis layer reads;
    ``evidence`` holds the human-readable lines that back the verdict.
    """

    probe: str
    status: Status
    summary: str
    evidence: tuple[str, ...] = ()
    cause: str | None = None
    fix: str | None = None
    data: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.status is not Status.OK and not (self.cause and self.fix):
            raise ValueError(f"probe {self.probe}: a {self.status.value} result needs a cause and a fix")

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["status"] = self.status.value
        out["evidence"] = list(self.evidence)
        return out


@dataclass(frozen=True)
class Finding:
    """A diagnosed problem: what is wrong, the evidence, and how to fix it (on NixOS if possible)."""

    id: str
    severity: Severity
    title: str
    evidence: tuple[str, ...]
    fix: str
    nixos: str | None = None
    refs: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["severity"] = self.severity.value
        out["evidence"] = list(self.evidence)
        out["refs"] = list(self.refs)
        return out


@dataclass(frozen=True)
class Report:
    """The doctor's verdict on one target."""

    target: str
    probes: tuple[ProbeResult, ...]
    findings: tuple[Finding, ...]

    @property
    def usable(self) -> bool:
        """True when no finding blocks GPU acceleration."""
        return not any(f.severity is Severity.FAIL for f in self.findings)

    def probe(self, name: str) -> ProbeResult:
        for result in self.probes:
            if result.probe == name:
                return result
        raise KeyError(name)

    def finding(self, finding_id: str) -> Finding | None:
        return next((f for f in self.findings if f.id == finding_id), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "target": self.target,
            "usable": self.usable,
            "probes": [p.to_dict() for p in self.probes],
            "findings": [f.to_dict() for f in self.findings],
        }
