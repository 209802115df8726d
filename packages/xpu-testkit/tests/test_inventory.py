"""Inventory YAML: parsed into typed targets; every mistake reported with its file and line."""

from __future__ import annotations

import pytest

from xpu_tool.errors import ConfigError
from xpu_tool.inventory import load_inventory, parse_inventory

GOOD = """\
targets:
  arc-box:
    url: ssh://root@arc-box.lan
    user: ollama
    expect:
      runtimes: [level_zero, sycl]
      min_gpus: 2
      gpu: Arc A770
    services:
      ollama: http://arc-box.lan:11434
  here:
    url: local://
"""


def test_parse() -> None:
    inv = parse_inventory(GOOD, "lab.yaml")
    box = inv.get("arc-box")
    assert box is not None
    assert (box.url, box.user, box.expect.runtimes, box.expect.min_gpus, box.expect.gpu) == (
        "ssh://root@arc-box.lan",
        "ollama",
        ("level_zero", "sycl"),
        2,
        "Arc A770",
    )
    assert box.services == {"ollama": "http://arc-box.lan:11434"}
    here = inv.get("here")
    assert here is not None and here.expect.runtimes == ("level_zero", "sycl", "opencl")


@pytest.mark.parametrize(
    "text, message",
    [
        (
            "targets:\n  a:\n    url: ftp://x\n",
            r"lab.yaml:3: targets.a.url: expected a URL starting with local:// or ssh://",
        ),
        ("targets:\n  a:\n    url: local://\n    colour: red\n", r"lab.yaml:4: targets.a: unknown key 'colour'"),
        ("targets:\n  a:\n    user: x\n", r"lab.yaml:3: targets.a: missing 'url'"),
        (
            "targets:\n  a:\n    url: local://\n    expect:\n      runtimes: [cuda]\n",
            r"lab.yaml:5: .*unknown runtime 'cuda'",
        ),
        (
            "targets:\n  a:\n    url: local://\n    expect: {min_gpus: two}\n",
            r"lab.yaml:4: targets.a.expect.min_gpus: expected an integer",
        ),
        (
            "targets:\n  a:\n    url: local://\n    services: {ollama: 11434}\n",
            r"lab.yaml:4: targets.a.services.ollama: expected a non-empty string",
        ),
        ("targets: [a, b]\n", r"lab.yaml:1: targets: expected a mapping"),
        ("hosts: {}\n", r"lab.yaml:1: inventory: unknown key 'hosts'"),
        ("", r"lab.yaml: empty inventory"),
        ("targets:\n  a: {url: local://\n", r"lab.yaml:3: malformed YAML"),
        ("targets:\n\ta: 1\n", r"lab.yaml:2: malformed YAML"),
        (
            "targets:\n  a:\n    url: local://\n    expect: {min_gpus: 017}\n",
            r"lab.yaml:4: .*min_gpus: expected a non-neg",
        ),
        ("targets:\n  a:\n    url: local://\n    expect: {min_gpus: 1:30}\n", r"lab.yaml:4: .*like 2, not '1:30'"),
        ("targets:\n  a:\n    url: local://\n    expect: {min_gpus: 0x2}\n", r"lab.yaml:4: .*like 2, not '0x2'"),
        ("targets: {}\n", r"lab.yaml:1: targets: no targets"),
        ("targets: " + "[" * 32 + "]" * 32 + "\n", r"lab.yaml:1: YAML nested deeper than 32 levels"),
        ("? " + "x" * 1_000_000 + "\n: 1\n", r"lab.yaml:1: inventory: unknown key 'x{80}' \(allowed"),
        ("#" * (1 << 20) + "\n", r"lab.yaml: larger than 1024 KiB"),
    ],
)
def test_errors_name_the_line(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_inventory(text, "lab.yaml")


PASSTHROUGH = """\
targets:
  lab:
    url: local://
    passthrough:
      pci: "0000:03:00.0"
      vm: {run_script: /nix/store/x-nixos-vm/bin/run-xpu-test-vm}
      memory_mb: 8192
      expect_device: Arc A770
      force: true
"""


def test_decimal_integers_and_the_deepest_allowed_nesting_parse() -> None:
    text = "targets:\n  a:\n    url: local://\n    expect: {min_gpus: 0}\n"
    assert parse_inventory(text, "lab.yaml").targets[0].expect.min_gpus == 0
    nested = "targets:\n  a:\n    url: local://\n    services: " + "[" * 29 + "]" * 29 + "\n"
    with pytest.raises(ConfigError, match=r"lab.yaml:4: targets.a.services: expected a mapping"):
        parse_inventory(nested, "lab.yaml")  # 3 levels above 29: 32 in all, the bound


def test_passthrough_section() -> None:
    p = parse_inventory(PASSTHROUGH, "lab.yaml").targets[0].passthrough
    assert p is not None
    assert (p.pci, p.run_script, p.memory_mb, p.expect_device, p.force) == (
        "0000:03:00.0",
        "/nix/store/x-nixos-vm/bin/run-xpu-test-vm",
        8192,
        "Arc A770",
        True,
    )


@pytest.mark.parametrize(
    "old, new, message",
    [
        ('pci: "0000:03:00.0"', "pci: 03:00", r"lab.yaml:5: targets.lab.passthrough.pci: expected a PCI address"),
        (
            "vm: {run_script: /nix/store/x-nixos-vm/bin/run-xpu-test-vm}",
            "vm: {}",
            r"lab.yaml:6: .*either run_script or kernel",
        ),
        ("force: true", "force: maybe", r"lab.yaml:9: targets.lab.passthrough.force: expected true or false"),
    ],
)
def test_passthrough_errors(old: str, new: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_inventory(PASSTHROUGH.replace(old, new), "lab.yaml")


def test_unreadable_file(tmp_path) -> None:
    with pytest.raises(ConfigError, match=r"cannot read inventory .*missing.yaml"):
        load_inventory(tmp_path / "missing.yaml")
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_inventory(binary)
