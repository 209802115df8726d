"""`xpu upstream`: the versions this flake pins against what its inputs offer now.

For the maintainer's monthly look (docs/operations.md, "Upgrading"): for each tracked package it
reads `version = "..."` from the package file at the revision flake.lock pins and at the head of
the input's branch (GitHub's API for the head, raw.githubusercontent.com for the files).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import requests

from .errors import ConfigError

VERSION = re.compile(r'^\s*version\s*=\s*"([^"]+)"', re.MULTILINE)


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


def pinned_revisions(lock: Path) -> dict[str, str]:
    """input name -> locked revision, from flake.lock (version 7: root's inputs name the nodes)."""
    try:
        data = json.loads(lock.read_text())
    except FileNotFoundError:
        raise ConfigError(f"no {lock}: run `nix flake lock` first (the lock is what this compares)") from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{lock}: {exc}") from None
    nodes = data.get("nodes", {})
    roots = nodes.get(data.get("root", "root"), {}).get("inputs", {})
    revisions = {}
    for name, node in roots.items():
        if isinstance(node, str) and "rev" in nodes.get(node, {}).get("locked", {}):
            revisions[name] = nodes[node]["locked"]["rev"]
    return revisions


@dataclass(frozen=True)
class GitHub:
    api: str = "https://api.github.com"
    raw: str = "https://raw.githubusercontent.com"
    timeout: float = 30.0

    def head(self, repo: str, branch: str) -> str:
        reply = requests.get(f"{self.api}/repos/{repo}/commits/{branch}", timeout=self.timeout,
                             headers={"Accept": "application/vnd.github+json"})
        reply.raise_for_status()
        return str(reply.json()["sha"])

    def version(self, repo: str, rev: str, path: str) -> str | None:
        reply = requests.get(f"{self.raw}/{repo}/{rev}/{path}", timeout=self.timeout)
        if reply.status_code == 404:
            return None
        reply.raise_for_status()
        found = VERSION.search(reply.text)
        return found.group(1) if found else None


def compare(lock: Path, github: GitHub, tracked: tuple[Tracked, ...] = TRACKED) -> list[Comparison]:
    revisions = pinned_revisions(lock)
    heads: dict[tuple[str, str], str | Exception] = {}
    out = []
    for t in tracked:
        pinned_rev = revisions.get(t.input)
        if pinned_rev is None:
            out.append(Comparison(t.name, t.input, "", None, None, None, error=f"{t.input} is not locked"))
            continue
        key = (t.repo, t.branch)
        if key not in heads:
            try:
                heads[key] = github.head(t.repo, t.branch)
            except (requests.RequestException, KeyError, ValueError) as exc:
                heads[key] = exc
        head = heads[key]
        if isinstance(head, Exception):
            out.append(Comparison(t.name, t.input, pinned_rev, None, None, None, error=_short(head)))
            continue
        try:
            pinned = github.version(t.repo, pinned_rev, t.path)
            available = github.version(t.repo, head, t.path)
        except requests.RequestException as exc:
            out.append(Comparison(t.name, t.input, pinned_rev, head, None, None, error=_short(exc)))
            continue
        out.append(Comparison(t.name, t.input, pinned_rev, head, pinned, available))
    return out


def _short(exc: Exception) -> str:
    if isinstance(exc, requests.Timeout):
        return "timed out"
    if isinstance(exc, requests.ConnectionError):
        return "cannot connect"
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        return f"HTTP {exc.response.status_code}"
    return type(exc).__name__


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
