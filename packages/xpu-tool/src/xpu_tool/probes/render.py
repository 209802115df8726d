"""Can the user who runs the AI services open the GPU's DRM render node?"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Any

from ..model import Facts, ProbeResult, Status
from .context import ProbeContext
from .pci import RenderNode, SystemScan
from .registry import Collected, probe
from .units import UnitFacts

RW = 0o6


@dataclass(frozen=True)
class NodeAccess:
    """Whether the user can open one Intel GPU's render node, and why."""

    node: str | None
    gpu: str
    accessible: bool
    reason: str
    group: str | None = None  # the node's group, when the node exists
    acl: bool | None = None  # whether it carries an ACL, when the node exists

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"node": self.node, "gpu": self.gpu, "accessible": self.accessible, "reason": self.reason}
        if self.group is not None or self.acl is not None:
            out.update(group=self.group, acl=self.acl)
        return out


@dataclass(frozen=True)
class RenderFacts(Facts):
    """The render-nodes probe's facts: whose access was judged (``unit``: the DynamicUser unit it was
    judged by), and each node's verdict."""

    user: str | None
    nodes: tuple[NodeAccess, ...] = ()
    unit: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"user": self.user, "nodes": [n.to_dict() for n in self.nodes]}
        if self.unit is not None:
            out.update(unit=self.unit, dynamic_user=True)
        return out


@dataclass(frozen=True)
class Identity:
    name: str
    uid: int
    gids: frozenset[int]


def lookup_identity(ctx: ProbeContext, user: str) -> Identity | None:
    out = ctx.target.run(f"id -u {shlex.quote(user)} && id -G {shlex.quote(user)}", timeout=ctx.timeout)
    lines = out.stdout.split("\n")
    if not out.ok or len(lines) < 2:
        return None
    try:
        return Identity(user, int(lines[0]), frozenset(int(g) for g in lines[1].split()))
    except ValueError:
        return None


def group_ids(ctx: ProbeContext, names: tuple[str, ...]) -> frozenset[int] | None:
    """The gids of the named groups (``getent group``), or None when any cannot be resolved."""
    if not names:
        return frozenset()
    out = ctx.target.run(f"getent group {' '.join(shlex.quote(n) for n in names)}", timeout=ctx.timeout)
    gids = {}
    for line in out.stdout.splitlines():
        parts = line.split(":")
        if len(parts) >= 3 and parts[2].strip().isdigit():
            gids[parts[0]] = int(parts[2])
    if not out.ok or set(names) - set(gids):
        return None
    return frozenset(gids.values())


def dynamic_unit(user: str, units: list[UnitFacts] | None) -> UnitFacts | None:
    """The loaded unit that runs as ``user`` with DynamicUser=yes: its account exists only while it runs."""
    return next((u for u in units or () if u.dynamic_user and u.user == user), None)


def parse_getfacl(text: str) -> dict[tuple[str, str], str]:
    """``getfacl -n`` output as {(tag, qualifier): perms}, e.g. {("user", "1000"): "rw-"}."""
    entries: dict[tuple[str, str], str] = {}
    for raw in text.splitlines():
        parts = raw.split("#", 1)[0].strip().split(":")
        if len(parts) == 3:
            entries[(parts[0], parts[1])] = parts[2]
    return entries


def _rw(perms: str) -> bool:
    return perms.startswith("rw")


def can_open(node: RenderNode, who: Identity, acl: dict[tuple[str, str], str] | None = None) -> tuple[bool, str]:
    """Whether ``who`` may open ``node`` read-write, by POSIX mode bits and ACL entries."""
    if who.uid == 0:
        return True, "root"
    mask = acl.get(("mask", ""), "rwx") if acl else "rwx"
    if who.uid == node.uid:
        return bool(node.mode >> 6 & RW == RW), f"owner {node.owner}"
    if acl and _rw(acl.get(("user", str(who.uid)), "---")) and _rw(mask):
        return True, f"ACL entry for uid {who.uid} (logind uaccess: only while that user has a local session)"
    if node.gid in who.gids and node.mode >> 3 & RW == RW:
        return True, f"member of group {node.group}"
    if acl:
        for (tag, qual), perms in acl.items():
            if tag == "group" and qual and int(qual) in who.gids and _rw(perms) and _rw(mask):
                return True, f"ACL entry for group {qual}"
    if node.mode & RW == RW:
        return True, "world read-write"
    return False, f"not owner, not in group {node.group} (mode {node.mode:04o})"


def judge_render(ctx: ProbeContext, scan: SystemScan, units: list[UnitFacts] | None = None) -> ProbeResult:
    """Judge access to the render node of every Intel GPU that has one.

    ``--user`` naming no account but a unit's DynamicUser (nixpkgs' ollama and llama-cpp units) is
    judged by that unit's own credentials: no fixed uid (never the node's owner), the groups in its
    SupplementaryGroups; when those cannot be resolved the verdict is a WARN that says so."""
    wanted = [(g, scan.node(g.render)) for g in scan.gpus if g.render]
    if not wanted:
        return ProbeResult(
            "render-nodes",
            Status.ABSENT,
            "no Intel GPU render node",
            (),
            cause="no Intel GPU with a bound DRM driver exposes /dev/dri/renderD*",
            fix="see the pci result: bind i915 or xe to the GPU",
            facts=RenderFacts(ctx.user),
        )
    who = lookup_identity(ctx, ctx.user) if ctx.user else None
    unit = dynamic_unit(ctx.user, units) if ctx.user else None
    unit_note: list[str] = []
    if ctx.user and unit is not None:
        groups = unit.supplementary_groups
        gids = group_ids(ctx, groups)
        credentials = (
            f"{unit.unit} runs with DynamicUser as {unit.user}, SupplementaryGroups={' '.join(groups) or '(none)'}"
        )
        if gids is None:
            return ProbeResult(
                "render-nodes",
                Status.WARN,
                f"cannot judge {ctx.user}: {unit.unit} runs with DynamicUser",
                (credentials,),
                cause=f"`getent group {' '.join(groups)}` did not resolve every group on {ctx.target.url}, and a "
                "DynamicUser account has no fixed uid or groups of its own to read",
                fix=f'give {unit.unit} the render and video groups: SupplementaryGroups = [ "render" "video" ]',
                facts=RenderFacts(ctx.user, unit=unit.unit),
            )
        # a dynamic uid (61184-65519) is never a node's owner nor in a logind ACL: judge the groups alone
        who = Identity(ctx.user, -1, gids)
        unit_note.append(f"judged by the unit's own credentials: {credentials}")
    if ctx.user and who is None:
        return ProbeResult(
            "render-nodes",
            Status.FAIL,
            f"user {ctx.user} does not exist on the target",
            (),
            cause=f"`id {ctx.user}` failed on {ctx.target.url}",
            fix="pass --user with an existing account (the one that runs Ollama or ComfyUI), or the name of a "
            "loaded unit's DynamicUser (ollama, llama-cpp)",
            facts=RenderFacts(ctx.user),
        )
    evidence: list[str] = list(unit_note)
    results: list[NodeAccess] = []
    for gpu, node in wanted:
        if node is None:
            evidence.append(f"{gpu.render} of {gpu.address}: missing from /dev/dri")
            results.append(NodeAccess(gpu.render, gpu.address, False, "missing"))
            continue
        if who is None:
            ok, reason = node.accessible_by_runner, "tested with open permissions as the running user"
        else:
            acl = None
            if node.acl:
                out = ctx.target.run(f"getfacl -n {shlex.quote(ctx.sysroot + node.path)}", timeout=ctx.timeout)
                acl = parse_getfacl(out.stdout) if out.ok else None
            ok, reason = can_open(node, who, acl)
        label = f"{node.path} {node.owner}:{node.group} {node.mode:04o}{' +acl' if node.acl else ''}"
        evidence.append(f"{label}: {'can' if ok else 'cannot'} open ({reason})")
        results.append(NodeAccess(node.name, gpu.address, ok, reason, node.group, node.acl))
    user = ctx.user or "the running user"
    facts = RenderFacts(ctx.user, tuple(results), unit.unit if unit is not None else None)
    if unit is not None:
        user = f"{ctx.user} ({unit.unit}, DynamicUser)"
    open_count = sum(1 for r in results if r.accessible)
    if open_count == len(results):
        return ProbeResult(
            "render-nodes", Status.OK, f"{user} can open every Intel render node", tuple(evidence), facts=facts
        )
    owners = sorted({r.group for r in results if not r.accessible and r.group}) or ["render"]
    status = Status.FAIL if open_count == 0 else Status.WARN
    return ProbeResult(
        "render-nodes",
        status,
        f"{user} cannot open {len(results) - open_count} of {len(results)} render nodes",
        tuple(evidence),
        cause=f"{user} is not in the group owning the node ({', '.join(owners)})",
        fix=f"add {' and '.join(owners)} to {unit.unit}'s SupplementaryGroups"
        if unit is not None
        else f"add {user} to the {' and '.join(owners)} group(s); for a service, SupplementaryGroups",
        facts=facts,
    )


@probe("render-nodes", order=20)
def run(collected: Collected) -> ProbeResult:
    scan: SystemScan = collected.scan.result()
    units: list[UnitFacts] | None = collected.units.result() if collected.ctx.user else None
    return judge_render(collected.ctx, scan, units)
