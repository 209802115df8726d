"""Rules about the services and who runs them: access to the render node (a user's groups, a
unit's own credentials), hardening that breaks run-time JIT (MemoryDenyWriteExecute), and a service
ordered before the GPU is ready."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..model import Finding, NixosSetting, Severity, Status
from ..probes.render import RenderFacts
from ..probes.units import INTEL_SERVICES
from .registry import Observations, rule

RENDER_GROUPS = '[ "render" "video" ]'


@rule
def render_access(obs: Observations) -> Iterable[Finding]:
    r = obs.results.get("render-nodes")
    facts = r.facts_as(RenderFacts) if r else None
    if r is None or facts is None or r.status not in (Status.FAIL, Status.WARN):
        return
    acl_only = any("uaccess" in n.reason for n in facts.nodes)
    yield Finding(
        "render-access",
        Severity.FAIL if r.status is Status.FAIL else Severity.WARN,
        f"{facts.user or 'The running user'} cannot open the GPU render node",
        r.evidence,
        fix=(r.fix or "")
        + ("; access through a logind ACL lasts only while that user is logged in locally" if acl_only else ""),
        **_render_advice(facts),
        refs=("pytorch/pytorch#148477",),
    )


def _render_advice(facts: RenderFacts) -> dict[str, Any]:
    """The NixOS settings that give the judged account the render node: a unit's own credentials for a
    service that runs with DynamicUser, else the account's groups."""
    if facts.unit:
        name = facts.unit.removesuffix(".service")
        note = f"(services.{name}.intel.enable = true sets both)" if name in INTEL_SERVICES else None
        return {
            "settings": (NixosSetting(f"systemd.services.{name}.serviceConfig.SupplementaryGroups", RENDER_GROUPS),),
            "nixos": note,
        }
    user = facts.user or "<user>"
    return {
        "settings": (NixosSetting(f"users.users.{user}.extraGroups", RENDER_GROUPS),),
        "nixos": f'(or hardware.intel-xpu.users = [ "{user}" ]); for a service: '
        f"systemd.services.<name>.serviceConfig.SupplementaryGroups = {RENDER_GROUPS};",
    }


@rule
def jit_hardening(obs: Observations) -> Iterable[Finding]:
    for unit in obs.units:
        if unit.memory_deny_write_execute:
            name = unit.unit.removesuffix(".service")
            yield Finding(
                "mdwe-blocks-jit",
                Severity.FAIL,
                f"{unit.unit} forbids writable+executable memory",
                (
                    f"{unit.unit}: MemoryDenyWriteExecute=yes",
                    'SYCL/oneDNN/PyTorch compile GPU kernels at run time ("could not create a primitive")',
                ),
                fix=f"turn MemoryDenyWriteExecute off for {unit.unit}",
                settings=(
                    NixosSetting(f"systemd.services.{name}.serviceConfig.MemoryDenyWriteExecute", "lib.mkForce false"),
                ),
            )


@rule
def service_ordering(obs: Observations) -> Iterable[Finding]:
    for unit in obs.units:
        if not unit.ordered_after_gpu:
            name = unit.unit.removesuffix(".service")
            yield Finding(
                "service-before-gpu",
                Severity.WARN,
                f"{unit.unit} may start before the GPU is ready",
                (f"After={' '.join(unit.after)}", "no .device unit or udev settle in its ordering"),
                fix="order the service after the GPU's render node exists",
                **_ordering_advice(name),
            )


def _ordering_advice(name: str) -> dict:
    if name in INTEL_SERVICES:
        return {
            "settings": (NixosSetting(f"services.{name}.intel.enable", "true"),),
            "nixos": "(orders it after dev-dri-intel-render.device, the render node's device unit: "
            "hardware.intel-xpu.renderNodeUnit)",
        }
    unit = "[ config.hardware.intel-xpu.renderNodeUnit ]"
    return {
        "settings": (
            NixosSetting(f"systemd.services.{name}.wants", unit),
            NixosSetting(f"systemd.services.{name}.after", unit),
        )
    }
