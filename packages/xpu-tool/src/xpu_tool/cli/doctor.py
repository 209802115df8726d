"""``xpu doctor``: probe machines' Intel GPU stacks and diagnose problems."""

from __future__ import annotations

import argparse
import os

from ..doctor import render_text, reports_to_dict, run_doctor
from ..errors import ConfigError
from ..inventory import load_inventory
from ..probes.context import ProbeContext
from ..target import open_target
from ..target_resolution import resolve_targets
from .common import check_timeout, print_json, user_name
from .exit_codes import for_outcome

DEADLINE = 60.0  # seconds per target, each command included


def add_parser(sub: argparse._SubParsersAction) -> None:
    doctor = sub.add_parser("doctor", help="probe a machine's Intel GPU stack and diagnose problems")
    doctor.add_argument(
        "--target",
        action="append",
        default=[],
        metavar="URL|NAME",
        help="local:// (default), ssh://[user@]host[:port], or a name from --inventory; repeatable",
    )
    doctor.add_argument("--inventory", metavar="FILE", help="YAML inventory of targets")
    doctor.add_argument(
        "--json", action="store_true", help='print {"usable": ..., "reports": [one report per target]} as JSON'
    )
    doctor.add_argument(
        "--user", type=user_name, help="judge render-node access for this user (default: the running user)"
    )
    doctor.add_argument(
        "--sysroot", default="", metavar="DIR", help="read /sys, /proc and /dev below DIR (a recorded machine layout)"
    )
    doctor.add_argument(
        "--timeout",
        type=float,
        metavar="SECONDS",
        help=f"the longest the doctor may take on each target, its commands included (+1 s to "
        f"unwind; default {DEADLINE:g}); a probe still running then is reported as unfinished. "
        "Given, it also bounds opening a console target whose URL has no timeout= (else 30 s)",
    )


def run(args: argparse.Namespace) -> int:
    inventory = load_inventory(args.inventory) if args.inventory else None
    timeout = check_timeout(args.timeout) if args.timeout is not None else DEADLINE
    if args.sysroot and not os.path.isdir(args.sysroot):
        raise ConfigError(f"--sysroot {args.sysroot}: not a directory")
    specs = resolve_targets(args.target, inventory)
    # every URL checked before probing any
    targets = [(open_target(s.url, args.timeout), args.user or s.user) for s in specs]
    reports = [
        run_doctor(ProbeContext(t, sysroot=args.sysroot, user=user, timeout=timeout), deadline=timeout)
        for t, user in targets
    ]
    if args.json:
        print_json(reports_to_dict(reports))
    else:
        print("\n\n".join(render_text(r) for r in reports))
    return for_outcome(all(r.usable for r in reports))
