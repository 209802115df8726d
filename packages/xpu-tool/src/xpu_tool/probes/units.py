"""systemd units of the AI services: hardening and ordering that break Intel GPU use."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Any

from ..model import Facts, ProbeResult, Status
from .context import ProbeContext
from .registry import Collected, probe

# The services whose NixOS module this flake extends with an `intel` option set, and whose units
# this probe reads. The same names as the service registry's (a test holds them equal): probes sit
# below services, so they cannot ask it.
INTEL_SERVICES = ("ollama", "comfyui", "llama-cpp")
SERVICE_UNITS = tuple(f"{name}.service" for name in INTEL_SERVICES)
PROPERTIES = (
    "Id",
    "LoadState",
    "ActiveState",
    "MemoryDenyWriteExecute",
    "After",
    "Environment",
    "SupplementaryGroups",
    "DynamicUser",
    "User",
    "DevicePolicy",
)


@dataclass(frozen=True)
class UnitFacts:
    unit: str
    active: str
    memory_deny_write_execute: bool
    after: tuple[str, ...]
    environment: dict[str, str]
    supplementary_groups: tuple[str, ...]
    user: str
    dynamic_user: bool = False

    @property
    def ordered_after_gpu(self) -> bool:
        return any(a.endswith(".device") or a == "systemd-udev-settle.service" for a in self.after)

    def to_dict(self) -> dict[str, Any]:
        return {
            "unit": self.unit,
            "active": self.active,
            "mdwe": self.memory_deny_write_execute,
            "after": list(self.after),
            "environment": self.environment,
            "groups": list(self.supplementary_groups),
            "user": self.user,
            "dynamic_user": self.dynamic_user,
        }


@dataclass(frozen=True)
class UnitsFacts(Facts):
    """The services probe's facts: the AI services' units that are loaded."""

    units: tuple[UnitFacts, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"units": [u.to_dict() for u in self.units]}


def parse_systemctl_show(text: str) -> list[UnitFacts]:
    """``systemctl show -p ... UNIT...``: one KEY=VALUE block per unit, blocks split by blank lines."""
    units = []
    for block in text.strip().split("\n\n"):
        props = dict(line.split("=", 1) for line in block.splitlines() if "=" in line)
        if not props.get("Id") or props.get("LoadState") != "loaded":
            continue
        env = {}
        for item in shlex.split(props.get("Environment", "")):
            key, _, value = item.partition("=")
            env[key] = value
        units.append(
            UnitFacts(
                unit=props["Id"],
                active=props.get("ActiveState", ""),
                memory_deny_write_execute=props.get("MemoryDenyWriteExecute") == "yes",
                after=tuple(props.get("After", "").split()),
                environment=env,
                supplementary_groups=tuple(props.get("SupplementaryGroups", "").split()),
                # DynamicUser without User=: systemd names the user after the unit
                user=props.get("User", "")
                or (props["Id"].removesuffix(".service") if props.get("DynamicUser") == "yes" else "root"),
                dynamic_user=props.get("DynamicUser") == "yes",
            )
        )
    return units


def collect_units(ctx: ProbeContext) -> list[UnitFacts] | None:
    """The service units' facts, or None when the target has no systemd."""
    if not ctx.target.which("systemctl"):
        return None
    out = ctx.target.run(f"systemctl show -p {','.join(PROPERTIES)} {' '.join(SERVICE_UNITS)}", timeout=ctx.timeout)
    return parse_systemctl_show(out.stdout) if out.ok else None


def judge_units(units: list[UnitFacts] | None) -> ProbeResult:
    if not units:
        why = "the target has no systemd" if units is None else "no ollama, comfyui or llama-cpp unit is loaded"
        return ProbeResult(
            "services",
            Status.ABSENT,
            "no Ollama, ComfyUI or llama.cpp systemd unit",
            (why,),
            cause=why,
            fix="enable them on NixOS: services.ollama.enable / services.comfyui.enable / services.llama-cpp.enable",
            facts=UnitsFacts(),
        )
    evidence = [
        f"{u.unit} ({u.active}): user {u.user}{' (DynamicUser)' if u.dynamic_user else ''}, "
        f"groups {' '.join(u.supplementary_groups) or '-'}, "
        f"MemoryDenyWriteExecute={'yes' if u.memory_deny_write_execute else 'no'}, After={' '.join(u.after)}"
        for u in units
    ]
    return ProbeResult(
        "services", Status.OK, f"{len(units)} service unit(s) found", tuple(evidence), facts=UnitsFacts(tuple(units))
    )


@probe("services", order=90)
def run(collected: Collected) -> ProbeResult:
    units: list[UnitFacts] | None = collected.units.result()
    return judge_units(units)
