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
from .deadline import Deadline
from .errors import ConfigError
from .http import HttpError

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
    Tracked(
        "intel-compute-runtime",
        "nixpkgs",
        "NixOS/nixpkgs",
        "nixos-unstable",
        "pkgs/by-name/in/intel-compute-runtime/package.nix",
    ),
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


FOLLOWS_DEPTH = 32  # input paths a lock may follow in a row; more is a circle
SHOWN = 240  # characters of a malformed lock's node and input names an error shows


def _kind(value: object) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number"
    )


class _Lock:
    """flake.lock's node graph, every value checked before it is used (a wrong one is named, exit 2)."""

    def __init__(self, path: Path, nodes: dict[str, object]) -> None:
        self.path = path
        self.nodes = nodes

    def malformed(self, what: str) -> ConfigError:
        """``what`` names nodes and inputs the file chose: shown escaped and cut, on one line."""
        shown = "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in what[:SHOWN])
        return ConfigError(f"{self.path}: malformed flake.lock: {shown}" + ("..." if len(what) > SHOWN else ""))

    def node(self, name: str, where: str) -> dict[str, object]:
        if name not in self.nodes:
            raise self.malformed(f"{where} names no node {name!r}")
        node = self.nodes[name]
        if not isinstance(node, dict):
            raise self.malformed(f"nodes.{name} is {_kind(node)}, not an object")
        return node

    def inputs(self, name: str, where: str) -> dict[str, object]:
        inputs = self.node(name, where).get("inputs", {})
        if not isinstance(inputs, dict):
            raise self.malformed(f"nodes.{name}.inputs is {_kind(inputs)}, not an object")
        return inputs

    def resolve(self, ref: object, where: str, root: str, depth: int = 0) -> str:
        """The node an input reference names: a node name, or a follows path of input names from the root."""
        if isinstance(ref, str):
            return ref
        if not (isinstance(ref, list) and all(isinstance(step, str) for step in ref)):
            raise self.malformed(f"{where} is {_kind(ref)}, not a node name or a follows path")
        if depth > FOLLOWS_DEPTH:
            raise self.malformed(f"{where} follows itself")
        node, named_at = root, where
        for step in ref:
            inputs = self.inputs(node, named_at)
            if step not in inputs:
                raise self.malformed(f"{where} follows {'/'.join(ref)}, which is not an input")
            named_at = f"nodes.{node}.inputs.{step}"
            node = self.resolve(inputs[step], named_at, root, depth + 1)
        return node

    def revision(self, name: str, where: str) -> str | None:
        """The revision node ``name`` (named at ``where``) is locked at; None if it has none."""
        locked = self.node(name, where).get("locked")
        if locked is None:
            return None
        if not isinstance(locked, dict):
            raise self.malformed(f"nodes.{name}.locked is {_kind(locked)}, not an object")
        rev = locked.get("rev")
        if rev is not None and not isinstance(rev, str):
            raise self.malformed(f"nodes.{name}.locked.rev is {_kind(rev)}, not a string")
        return rev


def pinned_revisions(lock: Path) -> dict[str, str]:
    """input name -> locked revision, from flake.lock (version 7: root's inputs name the nodes, or
    follow another input's input by a path of names). A node, input or revision of the wrong type is
    a ConfigError naming it; an input without a locked revision is left out (it is "not locked")."""
    try:
        data = json.loads(lock.read_text())
    except FileNotFoundError:
        raise ConfigError(f"no {lock}: run `nix flake lock` first (the lock is what this compares)") from None
    except (OSError, ValueError, RecursionError) as exc:
        raise ConfigError(f"{lock}: {http.quote(str(exc))}") from None
    nodes = data.get("nodes") if isinstance(data, dict) else None
    root = data.get("root", "root") if isinstance(data, dict) else None
    if not isinstance(nodes, dict) or not isinstance(root, str) or not isinstance(nodes.get(root), dict):
        raise ConfigError(f"{lock}: not a flake.lock (no nodes with a root node naming its inputs)")
    graph = _Lock(lock, nodes)
    revisions = {}
    for name, ref in graph.inputs(root, "root").items():
        where = f"nodes.{root}.inputs.{name}"
        rev = graph.revision(graph.resolve(ref, where, root), where)
        if rev is not None:
            revisions[name] = rev
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
            reply = http.get_json(
                f"{self.api}/repos/{repo}/commits/{branch}",
                deadline=deadline,
                headers={"Accept": "application/vnd.github+json"},
            )
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
        lines.append(
            f"| {r.name} | {r.input}@{r.pinned_rev[:7]} | {r.pinned or '(absent)'} | "
            f"{r.available or '(absent)'} (@{(r.head_rev or '')[:7]}) | {mark} |"
        )
    return "\n".join(lines) + "\n"
