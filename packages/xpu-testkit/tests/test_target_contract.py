"""The Target contract, once, over every transport: this machine (local://), a real sshd (ssh://), and
a real QEMU guest through the NixOS backdoor shell (backdoor://) and a serial login (serial://).

Each test states one promise of the verb set probes and test authors rely on: ``run`` with its
exit codes, streams and deadline; the files and facts (``read_text``, ``path_exists``, ``which``,
``environment``); and the NixOS test driver's verbs (``succeed``, ``fail``, ``wait_until_succeeds``,
``wait_until_fails``, ``wait_for_open_port``, ``wait_for_closed_port``, ``wait_for_unit``).
"""

from __future__ import annotations

import contextlib
import secrets
import shlex
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from xpu_testkit.process import free_port
from xpu_testkit.vm.guest import ROOT_PASSWORD
from xpu_testkit.vm.qemu import QemuVM, VmSpec
from xpu_tool.errors import ConfigError
from xpu_tool.target import CommandFailed, Target, console_target, open_target

from .conftest import running_sshd

TRANSPORTS = ("local", "ssh", "backdoor", "serial")


@dataclass(frozen=True)
class Transport:
    """A target under test, a scratch directory on it, and a TCP port known to be open there."""

    name: str
    target: Target
    scratch: str
    open_port: int


@pytest.fixture(scope="module")
def contract_vm(xpu_guest, xpu_accel) -> Iterator[QemuVM]:
    """One test guest for the backdoor and serial transports (its busybox httpd listens on 8080)."""
    spec = VmSpec(
        name=f"xpu-contract-{secrets.token_hex(4)}",
        kernel=xpu_guest.kernel,
        initrd=xpu_guest.initrd,
        append=xpu_guest.append,
        accel=xpu_accel,
    )
    with QemuVM(spec) as vm:  # booted on entry, stopped on exit
        assert vm.serial is not None
        vm.serial.password = ROOT_PASSWORD
        vm.serial.login(30)
        yield vm


@pytest.fixture(scope="module")
def listening_socket() -> Iterator[int]:
    """An open TCP port on this machine (the local and ssh transports both see it)."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        yield server.getsockname()[1]


@pytest.fixture(scope="module", params=TRANSPORTS)
def transport(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, listening_socket: int
) -> Iterator[Transport]:
    name: str = request.param
    scratch = f"/tmp/xpu-contract-{secrets.token_hex(4)}"
    with contextlib.ExitStack() as stack:
        if name == "local":
            target, port = open_target("local://"), listening_socket
        elif name == "ssh":
            url = stack.enter_context(running_sshd(tmp_path_factory.mktemp("sshd")))
            target, port = open_target(url), listening_socket
        else:
            vm: QemuVM = request.getfixturevalue("contract_vm")
            shell = vm.backdoor if name == "backdoor" else vm.serial
            assert shell is not None, name
            target, port = console_target(shell, f"{name}:{vm.spec.name}"), 8080
        target.succeed(f"mkdir -p {scratch}")
        yield Transport(name, target, scratch, port)
        target.run(f"rm -rf {scratch}")


# -- run ---------------------------------------------------------------------------------------


def test_exit_codes_and_streams_apart(transport: Transport) -> None:
    t = transport.target
    assert t.run("true").rc == 0
    assert t.run("false").rc == 1
    assert t.run("exit 3").rc == 3
    missing = t.run("no-such-command-xpu")
    assert missing.rc == 127 and "not found" in missing.stderr and missing.stdout == ""
    both = t.run("echo out; echo err >&2")
    assert (both.stdout, both.stderr) == ("out\n", "err\n")


def test_the_deadline_kills_the_command_and_the_target_stays_usable(transport: Transport) -> None:
    t = transport.target
    started = time.monotonic()
    slow = t.run("sleep 30", timeout=2)
    assert slow.timed_out and not slow.ok
    assert time.monotonic() - started < 15
    assert t.run("echo still here").stdout == "still here\n"


def test_binary_output_does_not_break_decoding(transport: Transport) -> None:
    out = transport.target.run("printf '\\377\\376ok'")
    assert out.ok and out.stdout.endswith("ok")


def test_shell_metacharacters_reach_the_command_literally(transport: Transport) -> None:
    t, scratch = transport.target, transport.scratch
    value = "a b; touch " + scratch + "/injected $(id) `id` 'q' \"d\" \\ * ?"
    assert t.run(f"printf %s {shlex.quote(value)}").stdout == value
    assert not t.path_exists(f"{scratch}/injected")


# -- files and facts ---------------------------------------------------------------------------


def test_files(transport: Transport) -> None:
    t, scratch = transport.target, transport.scratch
    t.succeed(f"printf 'hello\\n' > '{scratch}/a file'")
    assert t.read_text(f"{scratch}/a file") == "hello\n"
    assert t.read_text(f"{scratch}/missing") is None
    assert t.path_exists(f"{scratch}/a file") and not t.path_exists(f"{scratch}/missing")


def test_which_and_testinfra_exists_agree(transport: Transport) -> None:
    """``exists`` keeps testinfra's meaning (a command on PATH), so a testinfra suite's
    ``host.exists("sh")`` holds on a Target too; paths are ``path_exists``."""
    t = transport.target
    assert t.which("sh") is not None and t.exists("sh")
    assert t.which("no-such-command-xpu") is None and not t.exists("no-such-command-xpu")


def test_environment(transport: Transport) -> None:
    env = transport.target.environment()
    assert env.get("PATH")


# -- the NixOS test driver's verbs ----------------------------------------------------------------


def test_succeed_returns_stdout_and_raises_with_the_cause(transport: Transport) -> None:
    t = transport.target
    assert t.succeed("echo a", "echo b") == "a\nb\n"
    with pytest.raises(CommandFailed, match=r"`sh -c 'echo why >&2; exit 4'` exited 4: why") as err:
        t.succeed("true", "sh -c 'echo why >&2; exit 4'", "echo never")
    assert err.value.output is not None and err.value.output.rc == 4


def test_fail_returns_stdout_and_raises_when_a_command_succeeds(transport: Transport) -> None:
    t = transport.target
    assert t.fail("echo out; false", "exit 2") == "out\n"
    with pytest.raises(CommandFailed, match="`true` exited 0, expected it to fail"):
        t.fail("false", "true")
    with pytest.raises(CommandFailed, match="timed out"):
        t.fail("sleep 30", timeout=2)


def _third_try_succeeds(counter: str) -> str:
    """A command that fails twice, then succeeds: it counts its own runs in a file on the target."""
    return f"n=$(cat {counter} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {counter}; echo try $n; [ $n -ge 3 ]"


def test_wait_until_succeeds_retries(transport: Transport) -> None:
    t, counter = transport.target, f"{transport.scratch}/count-up"
    assert t.wait_until_succeeds(_third_try_succeeds(counter), timeout=60, interval=0.2) == "try 3\n"
    assert t.read_text(counter) == "3\n"


def test_wait_until_succeeds_gives_up_at_its_deadline(transport: Transport) -> None:
    started = time.monotonic()
    with pytest.raises(CommandFailed, match=r"did not succeed within 3 s: it last exited 1"):
        transport.target.wait_until_succeeds("false", timeout=3, interval=0.5)
    assert time.monotonic() - started < 3 + 10


def test_wait_until_fails(transport: Transport) -> None:
    t, counter = transport.target, f"{transport.scratch}/count-down"
    assert t.wait_until_fails(f"! ( {_third_try_succeeds(counter)} )", timeout=60, interval=0.2) == "try 3\n"
    with pytest.raises(CommandFailed, match="kept succeeding for 2 s"):
        t.wait_until_fails("true", timeout=2, interval=0.5)


def test_wait_for_open_and_closed_ports(transport: Transport) -> None:
    t = transport.target
    t.wait_for_open_port(transport.open_port, timeout=30)
    closed = free_port()
    t.wait_for_closed_port(closed, timeout=30)
    started = time.monotonic()
    with pytest.raises(CommandFailed, match="did not succeed within 2 s"):
        t.wait_for_open_port(closed, timeout=2)
    assert time.monotonic() - started < 2 + 10


def test_wait_for_unit_without_systemd_is_a_clear_failure_not_a_wait(transport: Transport) -> None:
    """None of these targets runs systemd as PID 1 (a container, a busybox guest): the verb says so at
    once instead of waiting out its deadline. Its active/failed paths run on NixOS
    (nixos-tests, and `pytest pytests/test_vm.py` against a NixOS test VM)."""
    started = time.monotonic()
    with pytest.raises(CommandFailed, match=r"cannot ask systemd about ollama.service: exited \d+"):
        transport.target.wait_for_unit("ollama.service", timeout=600)
    assert time.monotonic() - started < 30


def test_bad_port_is_a_config_error(transport: Transport) -> None:
    with pytest.raises(ConfigError, match="not a TCP port"):
        transport.target.wait_for_open_port(70000, timeout=1)
