"""The Target layer on the local testinfra backend: the verb set every probe relies on."""

from __future__ import annotations

import time

import pytest

from xpu_testkit.errors import ConfigError
from xpu_testkit.target import Target, open_target


def test_exit_codes_and_streams_apart(local: Target) -> None:
    assert local.run("true").rc == 0
    assert local.run("false").rc == 1
    missing = local.run("no-such-command-xpu")
    assert missing.rc == 127 and "not found" in missing.stderr
    both = local.run("echo out; echo err >&2")
    assert (both.stdout, both.stderr) == ("out\n", "err\n")


def test_timeout_kills_the_command(local: Target) -> None:
    started = time.monotonic()
    out = local.run("sleep 30", timeout=1)
    assert out.timed_out and not out.ok
    assert time.monotonic() - started < 10


def test_binary_output_does_not_break_decoding(local: Target) -> None:
    out = local.run("printf '\\377\\376ok'")
    assert out.ok and out.stdout.endswith("ok")


def test_files_and_environment(local: Target, tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / "a file"
    f.write_text("hello\n")
    assert local.read_text(str(f)) == "hello\n"
    assert local.read_text(str(tmp_path / "missing")) is None
    assert local.exists(str(f)) and not local.exists(str(tmp_path / "missing"))
    monkeypatch.setenv("ZES_ENABLE_SYSMAN", "1")
    assert local.environment()["ZES_ENABLE_SYSMAN"] == "1"


def test_testinfra_modules_are_reachable(local: Target) -> None:
    assert local.file("/proc/cmdline").exists
    assert local.system_info.type == "linux"


@pytest.mark.parametrize("url, message", [
    ("ftp://box", "unknown target scheme 'ftp'"),
    ("box.example", "is not a URL"),
    ("ssh://", "names no host"),
])
def test_bad_target_urls(url: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        open_target(url)


def test_ssh_url_opens_without_connecting() -> None:
    target = open_target("ssh://root@arc-box.invalid:2222")
    assert target.url == "ssh://root@arc-box.invalid:2222" and not target.local
