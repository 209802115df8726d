"""Can the target run commands at all? Exit 127 before any probe is about the way in, not the GPU.

A password in an ssh:// URL needs sshpass on this machine; every command needs ``sh`` and
``timeout`` on the target (Target.run wraps each in them). Without them every command exits 127
(command not found), which the probes would otherwise read as "nothing there".
"""

from __future__ import annotations

from dataclasses import dataclass

from ..model import Facts, ProbeResult, Status
from ..target import CommandOutput, Target

SSHPASS_FIX = (
    "install sshpass on this machine (Debian: apt-get install sshpass; NixOS: "
    "environment.systemPackages = [ pkgs.sshpass ];), or use an SSH key instead of a password in the URL"
)
PATH_FIX = "give the target sh and timeout (coreutils or busybox) on the PATH its commands run with"


@dataclass(frozen=True)
class ReachFacts(Facts):
    """How `true` ended on the target: its exit code, the last line of its stderr, and whether
    sshpass was what was missing."""

    rc: int
    stderr: str
    sshpass: bool


def judge_reach(target: Target, out: CommandOutput) -> ProbeResult | None:
    """A FAIL result when a command that cannot fail (``true``) was not found; None when it ran."""
    if not out.not_found:
        return None
    said = (out.stderr.strip().splitlines() or ["(nothing on stderr)"])[-1][:200]
    sshpass = "sshpass" in out.stderr
    return ProbeResult(
        "target",
        Status.FAIL,
        f"commands cannot run on {target.url}: exit 127 (command not found)",
        (f"`true` through the target exited 127: {said}",),
        cause="sshpass is missing for the password in the target URL"
        if sshpass
        else "the shell or timeout that wraps every command is not on the target's PATH",
        fix=SSHPASS_FIX if sshpass else PATH_FIX,
        facts=ReachFacts(out.rc, said, sshpass),
    )
