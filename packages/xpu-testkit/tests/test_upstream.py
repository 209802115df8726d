"""`xpu upstream` against the GitHub double (doubles/github.py names each recorded sample)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from xpu_testkit.doubles.github import MORDRAG_2025_11_26, MORDRAG_2026_07_02, NIXPKGS_OLLAMA_REV, GitHubDouble
from xpu_testkit.process import free_port
from xpu_tool.http import MARGIN

from .misbehaving import Behaviour, MisbehavingServer, answer, endless_chunks, silent, trickle
from .xpu_command import run_xpu, timed_run_xpu


def lock_file(tmp_path: Path, nixpkgs: str, mordrag: str) -> Path:
    """A flake.lock of this flake, in the shape Nix writes (version 7; the node layout as in
    MordragT's own flake.lock at 6442b7e)."""

    def node(owner: str, repo: str, rev: str) -> dict:
        return {
            "locked": {
                "lastModified": 1782936463,
                "narHash": "sha256-" + "A" * 43 + "=",
                "owner": owner,
                "repo": repo,
                "rev": rev,
                "type": "github",
            },
            "original": {"owner": owner, "repo": repo, "type": "github"},
        }

    lock = {
        "nodes": {
            "nixpkgs": node("NixOS", "nixpkgs", nixpkgs),
            "mordrag": dict(node("MordragT", "nixos", mordrag), inputs={"nixpkgs": ["nixpkgs"]}),
            "root": {"inputs": {"nixpkgs": "nixpkgs", "mordrag": "mordrag"}},
        },
        "root": "root",
        "version": 7,
    }
    path = tmp_path / "flake.lock"
    path.write_text(json.dumps(lock))
    return path


def upstream_args(github: str, lock: Path, *extra: str) -> list[str]:
    """`xpu upstream` with ``lock``, asking the GitHub at ``github`` (API and raw files)."""
    return ["upstream", "--lock", str(lock), "--github-api", github, "--github-raw", github, *extra]


def upstream(double: GitHubDouble | None, lock: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    url = double.url if double else f"http://127.0.0.1:{free_port()}"
    return run_xpu(*upstream_args(url, lock, *extra))


@pytest.fixture
def github():
    heads = {("NixOS/nixpkgs", "nixos-unstable"): NIXPKGS_OLLAMA_REV, ("MordragT/nixos", "master"): MORDRAG_2026_07_02}
    with GitHubDouble(heads=heads) as double:
        yield double


def test_reports_what_moved_since_the_lock(github: GitHubDouble, tmp_path: Path) -> None:
    run = upstream(github, lock_file(tmp_path, NIXPKGS_OLLAMA_REV, MORDRAG_2025_11_26), "--json")
    assert run.returncode == 0, run.stderr
    rows = {r["name"]: r for r in json.loads(run.stdout)}
    assert (
        rows["llama-cpp-sycl"]["pinned"],
        rows["llama-cpp-sycl"]["available"],
        rows["llama-cpp-sycl"]["changed"],
    ) == ("7157", "7610", True)
    assert (rows["ollama-sycl"]["pinned"], rows["ollama-sycl"]["available"], rows["ollama-sycl"]["changed"]) == (
        "0.3.10",
        "0.3.10",
        False,
    )
    # the torch package file is not in MordragT's tree at the pinned commit
    assert (rows["torch (XPU)"]["pinned"], rows["torch (XPU)"]["available"]) == (None, "2.9.1")
    assert (rows["ollama"]["pinned"], rows["ollama"]["available"], rows["ollama"]["changed"]) == (
        "0.1.44",
        "0.1.44",
        False,
    )
    assert rows["ollama"]["head_rev"] == NIXPKGS_OLLAMA_REV and rows["llama-cpp-sycl"]["head_rev"] == MORDRAG_2026_07_02
    # one head lookup per input branch, then the files at both revisions
    heads = [p for p in github.requests if p.startswith("/repos/")]
    assert sorted(heads) == ["/repos/MordragT/nixos/commits/master", "/repos/NixOS/nixpkgs/commits/nixos-unstable"]


def test_markdown_marks_updates(github: GitHubDouble, tmp_path: Path) -> None:
    run = upstream(github, lock_file(tmp_path, NIXPKGS_OLLAMA_REV, MORDRAG_2025_11_26))
    assert run.returncode == 0, run.stderr
    [line] = [ln for ln in run.stdout.splitlines() if ln.startswith("| llama-cpp-sycl ")]
    assert "| 7157 | 7610 (@6442b7e) | update |" in line and "mordrag@1421800" in line


def test_an_unreachable_github_is_an_error_row_and_exit_1(tmp_path: Path) -> None:
    run = upstream(None, lock_file(tmp_path, NIXPKGS_OLLAMA_REV, MORDRAG_2025_11_26), "--json", "--timeout", "5")
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert {r["error"] for r in json.loads(run.stdout)} == {"cannot connect"}


def test_a_slow_github_times_out(tmp_path: Path) -> None:
    with GitHubDouble(heads={}, delay=3) as slow:
        run = upstream(slow, lock_file(tmp_path, NIXPKGS_OLLAMA_REV, MORDRAG_2025_11_26), "--json", "--timeout", "1")
    assert run.returncode == 1
    assert {r["error"] for r in json.loads(run.stdout)} == {"timed out"}


def test_an_input_missing_from_the_lock_is_named(github: GitHubDouble, tmp_path: Path) -> None:
    lock = lock_file(tmp_path, NIXPKGS_OLLAMA_REV, MORDRAG_2025_11_26)
    data = json.loads(lock.read_text())
    del data["nodes"]["root"]["inputs"]["mordrag"]
    lock.write_text(json.dumps(data))
    run = upstream(github, lock, "--json")
    assert run.returncode == 1
    errors = {r["name"]: r["error"] for r in json.loads(run.stdout)}
    assert errors["ollama-sycl"] == "mordrag is not locked" and errors["ollama"] is None


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "run `nix flake lock` first"),
        ("{not json", "flake.lock:"),
    ],
)
def test_bad_lock_is_one_line_and_exit_2(content: str | None, message: str, tmp_path: Path) -> None:
    lock = tmp_path / "flake.lock"
    if content is not None:
        lock.write_text(content)
    run = upstream(None, lock)
    assert run.returncode == 2 and message in run.stderr and len(run.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "content",
    ["[]", '{"nodes": []}', '{"nodes": {"root": {"inputs": [1]}}}', "[" * 100_000],
    ids=["list", "nodes-list", "inputs-list", "deep"],
)
def test_a_lock_of_the_wrong_shape_is_one_line_and_exit_2(content: str, tmp_path: Path) -> None:
    lock = tmp_path / "flake.lock"
    lock.write_text(content)
    run = upstream(None, lock)
    assert run.returncode == 2 and "Traceback" not in run.stderr, run.stderr
    assert len(run.stderr.strip().splitlines()) == 1 and len(run.stderr) < 400


@pytest.mark.parametrize(
    "behaviour", [endless_chunks(b"x" * 100), trickle(0.05), silent], ids=["endless-body", "slow-body", "silent"]
)
def test_timeout_bounds_the_whole_comparison(behaviour: Behaviour, tmp_path: Path) -> None:
    """Fourteen requests would each take the whole --timeout; they share it instead."""
    with MisbehavingServer(behaviour) as peer:
        lock = lock_file(tmp_path, NIXPKGS_OLLAMA_REV, MORDRAG_2025_11_26)
        run, elapsed = timed_run_xpu(*upstream_args(peer.url, lock, "--json", "--timeout", "2"), timeout=60)
    assert elapsed < 2 + MARGIN + 1.5, f"{elapsed:.1f} s"  # 1.5 s: starting Python and importing xpu_testkit
    assert run.returncode == 1 and {r["error"] for r in json.loads(run.stdout)} == {"timed out"}


@pytest.mark.parametrize(
    "reply, error",
    [
        ([{"sha": NIXPKGS_OLLAMA_REV}], "expected a JSON object, got list"),
        ({"sha": 42}, "GitHub's answer has no commit sha: '42'"),
        ({"sha": "; rm -rf /"}, "no commit sha"),
    ],
    ids=["list", "number", "not-a-sha"],
)
def test_a_github_answer_of_the_wrong_shape_is_an_error_row(reply: object, error: str, tmp_path: Path) -> None:
    with MisbehavingServer(answer(reply)) as peer:
        lock = lock_file(tmp_path, NIXPKGS_OLLAMA_REV, MORDRAG_2025_11_26)
        run = run_xpu(*upstream_args(peer.url, lock, "--json", "--timeout", "10"), timeout=60)
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert all(error in r["error"] for r in json.loads(run.stdout))


@pytest.mark.parametrize("timeout", ["nan", "inf", "-inf"])
def test_a_timeout_that_is_no_number_of_seconds_is_one_line_and_exit_2(timeout: str, tmp_path: Path) -> None:
    run = upstream(None, lock_file(tmp_path, NIXPKGS_OLLAMA_REV, MORDRAG_2025_11_26), f"--timeout={timeout}")
    assert run.returncode == 2 and f"--timeout {float(timeout)}: must be" in run.stderr, run.stderr
    assert len(run.stderr.strip().splitlines()) == 1
