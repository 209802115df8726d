"""Input shaped the way a careless user or an attacker shapes it, through the real `xpu`: control
characters in an inventory, hosts that IDNA cannot encode, 100 000-character values, flake.lock
files whose nodes have the wrong type. Each is one line on stderr with its documented exit code
(2: bad input), no traceback and no internal error, and a value echoed in it is cut to a readable
length."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from xpu_tool import http
from xpu_tool.deadline import Deadline
from xpu_tool.http import HttpError

from .faults import fresh_tmpdir
from .test_cli import assert_one_line_error
from .test_upstream import lock_file, upstream
from .xpu_command import run_xpu

LINE = 400  # the longest a line of an error may be, whatever was given

TARGET = "targets:\n  a:\n"


@pytest.mark.parametrize(
    "text, message",
    [
        (TARGET + "    url: local://\0\n", "lab.yaml:3: malformed YAML: control character U+0000 is not allowed"),
        (TARGET + "    url: local://\x1b[2J\n", "lab.yaml:3: malformed YAML: control character U+001B is not allowed"),
        (
            TARGET + "    url: local://\n    user: a\x7f\n",
            "lab.yaml:4: malformed YAML: control character U+007F is not allowed",
        ),
        (TARGET + '    url: "local://\\0"\n', "lab.yaml:3: targets.a.url: control character U+0000 is not allowed"),
        (
            TARGET + '    url: local://\n    user: "ollama\\e[2J"\n',
            "lab.yaml:4: targets.a.user: control character U+001B is not allowed",
        ),
        (
            'targets:\n  "a\\e]0;owned\\a":\n    url: local://\n',
            "lab.yaml:2: targets: control character U+001B is not allowed in a key",
        ),
        (
            TARGET + "    url: local://\n    services:\n      ollama: http://box..lan:11434\n",
            "lab.yaml:5: targets.a.services.ollama: not a usable URL: its host cannot be encoded for DNS (IDNA)",
        ),
    ],
    ids=[
        "nul",
        "escape",
        "delete",
        "escaped-nul-in-a-value",
        "escaped-escape-in-a-value",
        "escape-in-a-key",
        "service-host-idna-cannot-encode",
    ],
)
def test_an_inventory_with_control_characters_is_one_line(text: str, message: str, tmp_path: Path) -> None:
    """Before: a raw NUL was "internal error: ReaderError" on two lines (exit 70); an escaped one, or
    a service host IDNA cannot encode, reached the code that uses it."""
    env, tmp = fresh_tmpdir(tmp_path)
    (tmp_path / "lab.yaml").write_text(text)
    run = run_xpu("doctor", "--inventory", "lab.yaml", env=env, cwd=tmp_path)
    assert_one_line_error(run, message)
    assert "\x1b" not in run.stderr and "\0" not in run.stderr
    assert list(tmp.iterdir()) == []


UMLAUTS = "http://" + "\u00fc" * 30_000


@pytest.mark.parametrize(
    "args",
    [
        ["check", "ollama", UMLAUTS],
        ["check", "comfyui", UMLAUTS + ":8188"],
        ["check", "ollama", "http://" + "a" * 64 + ".example:11434"],  # a DNS label has at most 63 characters
        ["check", "ollama", "http://box..lan:11434"],  # an empty label
        ["export", "--ollama", UMLAUTS],
        ["bench", "ollama", "--backend", f"a={UMLAUTS}"],
    ],
    ids=["30000-umlauts", "comfyui", "label-of-64", "empty-label", "export", "bench"],
)
def test_a_host_idna_cannot_encode_is_one_line(args: list[str], tmp_path: Path) -> None:
    """Before: `check ollama http://<30 000 x ü>` printed a 22-line traceback from the resolver's
    thread (idna UnicodeError) and then "internal error: KeyError: 'addrs'" (exit 70)."""
    env, tmp = fresh_tmpdir(tmp_path)
    run = run_xpu(*args, env=env, cwd=tmp_path)
    assert_one_line_error(run, "is not an http(s) URL (its host cannot be encoded for DNS")
    assert len(run.stderr) < LINE, f"{len(run.stderr)} characters"
    assert list(tmp.iterdir()) == []


@pytest.mark.parametrize(
    "url",
    [UMLAUTS + "/api/version", "http://box..lan/", "https://" + "a" * 64 + ".example/"],
    ids=["30000-umlauts", "empty-label", "label-of-64"],
)
def test_the_http_client_names_a_host_idna_cannot_encode(url: str) -> None:
    """The library refuses the URL itself (kind bad-url) before any lookup: no thread dies with a traceback."""
    died: list[BaseException | None] = []
    previous = threading.excepthook
    threading.excepthook = lambda hook: died.append(hook.exc_value)
    try:
        with pytest.raises(HttpError) as caught:
            http.request("GET", url, deadline=Deadline.after(5))
    finally:
        threading.excepthook = previous
    assert caught.value.kind == "bad-url" and "cannot be encoded for DNS" in str(caught.value)
    assert len(str(caught.value)) < LINE and died == []


LONG = "a" * 100_000


@pytest.mark.parametrize(
    "args, message",
    [
        (["doctor", "--user", LONG], "argument --user: 'aaaaaaaa"),
        (["doctor", "--target", LONG], "aaaaaaaa"),
        (["check", LONG, "http://127.0.0.1:9"], "invalid choice: 'aaaaaaaa"),
        (["check", "ollama", "http://127.0.0.1:9", "--timeout", LONG], "argument --timeout: invalid float value"),
        (["vm", "boot", "--debian-guest", "--memory", LONG], "argument --memory: invalid int value: 'aaaaaaaa"),
        (["vm", "boot", "--debian-guest", "--name", LONG], "argument --name: 'aaaaaaaa"),
        (["bench", "ollama", "--backend", LONG], "--backend"),
        (["upstream", "--lock", "/" + LONG], "aaaaaaaa"),
    ],
    ids=["user", "target", "service", "timeout", "memory", "vm-name", "backend", "lock"],
)
def test_a_value_of_100000_characters_is_cut_in_its_error(args: list[str], message: str, tmp_path: Path) -> None:
    """Before: `--user` of 100 000 characters came back whole in its error (100 KB on one line)."""
    env, tmp = fresh_tmpdir(tmp_path)
    run = run_xpu(*args, env=env, cwd=tmp_path)
    assert_one_line_error(run, message)
    assert len(run.stderr) < LINE, f"{len(run.stderr)} characters: {run.stderr[:LINE]}..."
    assert list(tmp.iterdir()) == []


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """A change to a flake.lock: the JSON value at the dotted ``path`` becomes ``value``."""

    def change(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        for key in parents:
            data = data[key]
        data[last] = value

    return change


@pytest.mark.parametrize(
    "change, message",
    [
        (_set("nodes.nixpkgs", []), "nodes.nixpkgs is a list, not an object"),
        (_set("nodes.mordrag", "mordrag"), "nodes.mordrag is a string, not an object"),
        (_set("nodes.nixpkgs.locked", ["rev"]), "nodes.nixpkgs.locked is a list, not an object"),
        (_set("nodes.nixpkgs.locked.rev", 7), "nodes.nixpkgs.locked.rev is a number, not a string"),
        (
            _set("nodes.root.inputs.nixpkgs", 7),
            "nodes.root.inputs.nixpkgs is a number, not a node name or a follows path",
        ),
        (_set("nodes.root.inputs.nixpkgs", "nixpkgs_2"), "nodes.root.inputs.nixpkgs names no node 'nixpkgs_2'"),
        (
            _set("nodes.root.inputs.nixpkgs", ["mordrag", "home-manager"]),
            "nodes.root.inputs.nixpkgs follows mordrag/home-manager, which is not an input",
        ),
        (_set("nodes.root.inputs.nixpkgs", ["nixpkgs"]), "nodes.root.inputs.nixpkgs follows itself"),
        (_set("nodes.root.inputs", ["nixpkgs"]), "nodes.root.inputs is a list, not an object"),
    ],
    ids=[
        "node-is-a-list",
        "node-is-a-string",
        "locked-is-a-list",
        "rev-is-a-number",
        "input-is-a-number",
        "input-names-no-node",
        "follows-nothing",
        "follows-itself",
        "inputs-is-a-list",
    ],
)
def test_a_malformed_lock_is_named_as_such(
    change: Callable[[dict[str, Any]], None], message: str, tmp_path: Path
) -> None:
    """Before: a node that is a list gave a table of "not locked" rows and exit 1; nothing was asked of GitHub."""
    lock = lock_file(tmp_path, "1" * 40, "2" * 40)
    data = json.loads(lock.read_text())
    change(data)
    lock.write_text(json.dumps(data))
    run = upstream(None, lock, "--timeout", "2")
    assert_one_line_error(run, f"{lock}: malformed flake.lock: {message}")


def test_a_root_input_that_follows_another_input_is_read_through_it(tmp_path: Path) -> None:
    """`inputs.nixpkgs.follows = "mordrag/nixpkgs"` locks as a path of input names: it is read, not malformed.
    Nothing answers at GitHub's address, so every row is an error row; none says "not locked"."""
    lock = lock_file(tmp_path, "1" * 40, "2" * 40)
    data = json.loads(lock.read_text())
    data["nodes"]["mordrag"]["inputs"] = {"nixpkgs": "nixpkgs_2"}
    data["nodes"]["nixpkgs_2"] = data["nodes"].pop("nixpkgs")
    data["nodes"]["root"]["inputs"]["nixpkgs"] = ["mordrag", "nixpkgs"]
    lock.write_text(json.dumps(data))
    run = upstream(None, lock, "--json", "--timeout", "2")
    assert run.returncode == 1 and "Traceback" not in run.stderr, run.stderr
    rows = json.loads(run.stdout)
    assert {r["input"]: r["pinned_rev"] for r in rows} == {"nixpkgs": "1" * 40, "mordrag": "2" * 40}
    assert all(r["error"] == "cannot connect" for r in rows)
