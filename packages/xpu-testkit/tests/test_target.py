"""Opening targets, and what only the local one shows. The verbs themselves, over every transport,
are test_target_contract.py's."""

from __future__ import annotations

import pytest

from xpu_tool.errors import ConfigError
from xpu_tool.target import Target, open_target


def test_local_environment_is_this_process(local: Target, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZES_ENABLE_SYSMAN", "1")
    assert local.environment()["ZES_ENABLE_SYSMAN"] == "1"


def test_testinfra_modules_are_reachable(local: Target) -> None:
    assert local.file("/proc/cmdline").exists
    assert local.system_info.type == "linux"


@pytest.mark.parametrize(
    "url, message",
    [
        ("ftp://box", "unknown target scheme 'ftp'"),
        ("box.example", "is not a URL"),
        ("ssh://", "names no host"),
    ],
)
def test_bad_target_urls(url: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        open_target(url)


def test_ssh_url_opens_without_connecting() -> None:
    target = open_target("ssh://root@arc-box.invalid:2222")
    assert target.url == "ssh://root@arc-box.invalid:2222" and not target.local


def test_target_schemes_are_the_transports() -> None:
    from xpu_tool.target import TARGET_SCHEMES
    from xpu_tool.transport import SCHEMES

    assert tuple(TARGET_SCHEMES) == SCHEMES
