"""Typed results shared by every layer: probe results, findings and the doctor's report."""

from __future__ import annotations

import copy
import enum
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

SCHEMA_VERSION = 1


class Status(enum.StrEnum):
    """How a probe judged one part of the stack."""

    OK = "ok"
    WARN = "warn"
    FAIL = "fail"
    ABSENT = "absent"


class Severity(enum.StrEnum):
    """How much a finding matters: FAIL blocks GPU acceleration, WARN costs speed or stability."""

    FAIL = "fail"
    WARN = "warn"
    INFO = "info"


@dataclass(frozen=True)
class Facts:
    """What one probe saw, typed: each probe's own frozen dataclass derives from this one, and the
    rules, the metrics and the tests read its fields. ``to_dict`` is its JSON form (``data`` in
    ``xpu doctor --json``): the fields by name, nested dataclasses as objects. A probe that
    records nothing keeps this empty one."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


F = TypeVar("F", bound=Facts)


@dataclass(frozen=True)
class ProbeResult:
    """What one probe saw on one target: its verdict, the human-readable ``evidence`` that backs
    it, and its typed ``facts`` (the devices, codes and paths the diagnosis reads)."""

    probe: str
    status: Status
    summary: str
    evidence: tuple[str, ...] = ()
    cause: str | None = None
    fix: str | None = None
    facts: Facts = field(default_factory=Facts)

    def __post_init__(self) -> None:
        if self.status is not Status.OK and not (self.cause and self.fix):
            raise ValueError(f"probe {self.probe}: a {self.status.value} result needs a cause and a fix")

    @property
    def data(self) -> dict[str, Any]:
        """The facts in their JSON form (a copy: changing it never changes the facts)."""
        return copy.deepcopy(self.facts.to_dict())

    def facts_as(self, kind: type[F]) -> F | None:
        """The facts, if they are of ``kind`` (a probe that could not run records fewer)."""
        return self.facts if isinstance(self.facts, kind) else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "probe": self.probe,
            "status": self.status.value,
            "summary": self.summary,
            "evidence": list(self.evidence),
            "cause": self.cause,
            "fix": self.fix,
            "data": self.data,
        }


@dataclass(frozen=True)
class NixosSetting:
    """One NixOS option assignment the advice names: ``option`` a dotted path in
    ``nixosModules.default`` (nixpkgs' core options included), ``value`` its value as Nix source,
    read with ``pkgs``, ``lib`` and ``config`` in scope (e.g. ``[ "render" "video" ]``,
    ``lib.mkForce false``)."""

    option: str
    value: str

    def render(self) -> str:
        return f"{self.option} = {self.value};"

    def to_dict(self) -> dict[str, str]:
        return {"option": self.option, "value": self.value}


@dataclass(frozen=True)
class Finding:
    """A diagnosed problem: what is wrong, the evidence, and how to fix it (on NixOS if possible).

    ``settings`` are the NixOS option assignments that fix it, as data; ``nixos`` is the advice as
    text: the settings rendered, followed by ``nixos`` as given (a note, or the whole advice when it
    is prose with no settings)."""

    id: str
    severity: Severity
    title: str
    evidence: tuple[str, ...]
    fix: str
    nixos: str | None = None
    refs: tuple[str, ...] = ()
    settings: tuple[NixosSetting, ...] = ()

    def __post_init__(self) -> None:
        if self.settings:
            rendered = " ".join(s.render() for s in self.settings)
            if not (self.nixos or "").startswith(rendered):  # dataclasses.replace passes it rendered
                object.__setattr__(self, "nixos", f"{rendered} {self.nixos}" if self.nixos else rendered)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["severity"] = self.severity.value
        out["evidence"] = list(self.evidence)
        out["refs"] = list(self.refs)
        del out["settings"]
        out["nixos_settings"] = [s.to_dict() for s in self.settings]
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
