"""Can the user who runs the AI services open the GPU's DRM render node?"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from ..model import ProbeResult, Status
from .context import ProbeContext
from .pci import RenderNode, SystemScan
from .registry import Collected, probe

RW = 0o6


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


def parse_getfacl(text: str) -> dict[tuple[str, str], str]:
    """``getfacl -n`` output as {(tag, qualifier): perms}, e.g. {("user", "1000"): "rw-"}."""
    entries: dict[tuple[str, str], str] = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        parts = line.split(":")
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


def judge_render(ctx: ProbeContext, scan: SystemScan) -> ProbeResult:
    """Judge access to the render node of every Intel GPU that has one."""
    wanted = [(g, scan.node(g.render)) for g in scan.gpus if g.render]
    if not wanted:
        return ProbeResult(
            "render-nodes",
            Status.ABSENT,
            "no Intel GPU render node",
            (),
            cause="no Intel GPU with a bound DRM driver exposes /dev/dri/renderD*",
            fix="see the pci result: bind i915 or xe to the GPU",
            data={"user": ctx.user, "nodes": []},
        )
    who = lookup_identity(ctx, ctx.user) if ctx.user else None
    if ctx.user and who is None:
        return ProbeResult(
            "render-nodes",
            Status.FAIL,
            f"user {ctx.user} does not exist on the target",
            (),
            cause=f"`id {ctx.user}` failed on {ctx.target.url}",
            fix="pass --user with an existing account (the one that runs Ollama or ComfyUI)",
            data={"user": ctx.user, "nodes": []},
        )
    evidence: list[str] = []
    results: list[dict[str, object]] = []
    for gpu, node in wanted:
        if node is None:
            evidence.append(f"{gpu.render} of {gpu.address}: missing from /dev/dri")
            results.append({"node": gpu.render, "gpu": gpu.address, "accessible": False, "reason": "missing"})
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
        results.append(
            {
                "node": node.name,
                "gpu": gpu.address,
                "accessible": ok,
                "reason": reason,
                "group": node.group,
                "acl": node.acl,
            }
        )
    user = ctx.user or "the running user"
    data = {"user": ctx.user, "nodes": results}
    open_count = sum(1 for r in results if r["accessible"])
    if open_count == len(results):
        return ProbeResult(
            "render-nodes", Status.OK, f"{user} can open every Intel render node", tuple(evidence), data=data
        )
    groups = sorted({str(r.get("group")) for r in results if not r["accessible"] and r.get("group")}) or ["render"]
    status = Status.FAIL if open_count == 0 else Status.WARN
    return ProbeResult(
        "render-nodes",
        status,
        f"{user} cannot open {len(results) - open_count} of {len(results)} render nodes",
        tuple(evidence),
        cause=f"{user} is not in the group owning the node ({', '.join(groups)})",
        fix=f"add {user} to the {' and '.join(groups)} group(s); for a service, SupplementaryGroups",
        data=data,
    )


@probe("render-nodes", order=20)
def run(collected: Collected) -> ProbeResult:
    scan: SystemScan = collected.scan.result()
    return judge_render(collected.ctx, scan)
