"""`xpu upstream`: the versions this flake pins against what its inputs offer now.

For the maintainer's monthly look (docs/operations.md, "Upgrading"): for each tracked package it
reads `version = "..."` from the package file at the revision flake.lock pins and at the head of
the input's branch (GitHub's API for the head, raw.githubusercontent.com for the files).
``--timeout`` bounds the whole comparison (every request shares one deadline); what it leaves
unread becomes "timed out" rows.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from . import http
from .errors import ConfigError
from .http import Deadline, HttpError

VERSION = re.compile(r'^\s*version\s*=\s*"([^"]+)"', re.MULTILINE)
SHA = re.compile(r"^[0-9a-f]{40}$")
MAX_FILE = 4 * 1024 * 1024


@dataclass(frozen=True)
class Tracked:
    name: str
    input: str  # the flake input (a node of flake.lock)
    repo: str
    branch: str
    path: str


TRACKED = (
    Tracked("ollama", "nixpkgs", "NixOS/nixpkgs", "nixos-unstable", "pkgs/by-name/ol/ollama/package.nix"),
    Tracked("level-zero", "nixpkgs", "NixOS/nixpkgs", "nixos-unstable", "pkgs/by-name/le/level-zero/package.nix"),
    Tracked("intel-compute-runtime", "nixpkgs", "NixOS/nixpkgs", "nixos-unstable",
            "pkgs/by-name/in/intel-compute-runtime/package.nix"),
    Tracked("ollama-sycl", "mordrag", "MordragT/nixos", "master", "pkgs/by-name/ollama-sycl/default.nix"),
    Tracked("llama-cpp-sycl", "mordrag", "MordragT/nixos", "master", "pkgs/by-name/llama-cpp-sycl/default.nix"),
    Tracked("torch (XPU)", "mordrag", "MordragT/nixos", "master", "pkgs/by-lang/intel-python/torch/default.nix"),
)


@dataclass(frozen=True)
class Comparison:
    name: str
    input: str
    pinned_rev: str
    head_rev: str | None
    pinned: str | None  # None: the file is not at that revision
    available: str | None
    error: str | None = None

    @property
    def changed(self) -> bool:
        return self.error is None and self.pinned != self.available

    def to_dict(self) -> dict[str, str | bool | None]:
        """One row of `xpu upstream --json` (a list of these)."""
        return dict(asdict(self), changed=self.changed)


def pinned_revisions(lock: Path) -> dict[str, str]:
    """input name -> locked revision, from flake.lock (version 7: root's inputs name the nodes)."""
    try:
        data = json.loads(lock.read_text())
    except FileNotFoundError:
        raise ConfigError(f"no {lock}: run `nix flake lock` first (the lock is what this compares)") from None
    except (OSError, ValueError, RecursionError) as exc:
        raise ConfigError(f"{lock}: {http.quote(str(exc))}") from None
    nodes = data.get("nodes") if isinstance(data, dict) else None
    root = nodes.get(data.get("root", "root")) if isinstance(nodes, dict) else None
    roots = root.get("inputs", {}) if isinstance(root, dict) else None
    if not isinstance(roots, dict):
        raise ConfigError(f"{lock}: not a flake.lock (no nodes with a root node naming its inputs)")
    revisions = {}
    for name, node in roots.items():
        locked = nodes.get(node, {}).get("locked") if isinstance(node, str) and isinstance(nodes.get(node), dict) else None
        if isinstance(locked, dict) and isinstance(locked.get("rev"), str):
            revisions[name] = locked["rev"]
    return revisions


class UpstreamError(Exception):
    """One lookup that gave no usable answer; the message is the row's short error."""


@dataclass(frozen=True)
class GitHub:
    api: str = "https://api.github.com"
    raw: str = "https://raw.githubusercontent.com"
    timeout: float = 30.0

    def head(self, repo: str, branch: str, deadline: Deadline) -> str:
        try:
            reply = http.get_json(f"{self.api}/repos/{repo}/commits/{branch}", deadline=deadline,
                                  headers={"Accept": "application/vnd.github+json"})
        except HttpError as exc:
            raise UpstreamError(_short(exc)) from None
        sha = reply.get("sha")
        if not isinstance(sha, str) or not SHA.match(sha):
            raise UpstreamError(f"GitHub's answer has no commit sha: {http.quote(json.dumps(sha), 60)}")
        return sha

    def version(self, repo: str, rev: str, path: str, deadline: Deadline) -> str | None:
        try:
            reply = http.request("GET", f"{self.raw}/{repo}/{rev}/{path}", deadline=deadline, max_bytes=MAX_FILE)
            if reply.status == 404:
                return None
            reply.raise_for_status()
        except HttpError as exc:
            raise UpstreamError(_short(exc)) from None
        found = VERSION.search(reply.text)
        return found.group(1) if found else None


def compare(lock: Path, github: GitHub, tracked: tuple[Tracked, ...] = TRACKED) -> list[Comparison]:
    try:
        deadline = Deadline.after(github.timeout)
    except ValueError:
        raise ConfigError(f"--timeout must be a finite number of seconds above 0, not {github.timeout!r}") from None
    revisions = pinned_revisions(lock)
    heads: dict[tuple[str, str], str | UpstreamError] = {}
    out = []
    for t in tracked:
        pinned_rev = revisions.get(t.input)
        if pinned_rev is None:
            out.append(Comparison(t.name, t.input, "", None, None, None, error=f"{t.input} is not locked"))
            continue
        key = (t.repo, t.branch)
        if key not in heads:
            try:
                heads[key] = github.head(t.repo, t.branch, deadline)
            except UpstreamError as exc:
                heads[key] = exc
        head = heads[key]
        if isinstance(head, UpstreamError):
            out.append(Comparison(t.name, t.input, pinned_rev, None, None, None, error=str(head)))
            continue
        try:
            pinned = github.version(t.repo, pinned_rev, t.path, deadline)
            available = github.version(t.repo, head, t.path, deadline)
        except UpstreamError as exc:
            out.append(Comparison(t.name, t.input, pinned_rev, head, None, None, error=str(exc)))
            continue
        out.append(Comparison(t.name, t.input, pinned_rev, head, pinned, available))
    return out


def _short(exc: HttpError) -> str:
    if exc.kind == "timeout":
        return "timed out"
    if exc.kind == "unreachable":
        return "cannot connect"
    if exc.kind == "status":
        return f"HTTP {exc.status}"
    return str(exc)


def to_markdown(rows: list[Comparison]) -> str:
    lines = ["| package | input | pinned | available | |", "| --- | --- | --- | --- | --- |"]
    for r in rows:
        if r.error:
            lines.append(f"| {r.name} | {r.input} | | | error: {r.error} |")
            continue
        mark = "update" if r.changed else ""
        lines.append(f"| {r.name} | {r.input}@{r.pinned_rev[:7]} | {r.pinned or '(absent)'} | "
                     f"{r.available or '(absent)'} (@{(r.head_rev or '')[:7]}) | {mark} |")
    return "\n".join(lines) + "\n"
