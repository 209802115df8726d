"""The pytest plugin, run in a nested pytest (pytester) with the real doctor underneath."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from xpu_tool.doctor import run_doctor
from xpu_tool.probes.context import ProbeContext
from xpu_tool.target import open_target

HARDWARE_TEST = """
import pytest

@pytest.mark.xpu_hardware
def test_needs_gpu(xpu_report):
    assert xpu_report.usable, "no usable Intel GPU"

def test_host_is_a_target(xpu_host, xpu_target_spec):
    assert xpu_host.url == xpu_target_spec.url
    assert xpu_host.run("echo hi").stdout == "hi\\n"
    assert xpu_host.file("/proc/cmdline").exists  # testinfra's modules still work
"""


def test_hardware_tests_skip_without_flag(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(HARDWARE_TEST)
    result = pytester.runpytest("-rs")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["*needs an Intel GPU: run with --hardware*"])


@pytest.mark.this_machine
def test_hardware_tests_carry_the_doctors_verdict(pytester: pytest.Pytester) -> None:
    """With --hardware the GPU test passes exactly where the doctor finds this machine usable, and a
    failure carries the doctor's report (on a machine without an Intel GPU: "no-intel-gpu")."""
    report = run_doctor(ProbeContext(open_target("local://")))
    pytester.makepyfile(HARDWARE_TEST)
    result = pytester.runpytest("--hardware")
    if report.usable:
        result.assert_outcomes(passed=2)
        return
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*xpu doctor*", f"*{report.findings[0].id}*", "*VERDICT: *"])
    if report.finding("no-intel-gpu") is not None:
        result.stdout.fnmatch_lines(["*VERDICT: no Intel GPU on this machine*"])


TESTINFRA_SUITE = """
import pytest

# markers of the suite's own, with names other plugins use too: the xpu plugin leaves them alone
@pytest.mark.hardware
@pytest.mark.slow
@pytest.mark.vm
@pytest.mark.nix
def test_testinfra_host_is_testinfras(host):
    assert host.exists("sh")                      # testinfra: a command on PATH
    assert not host.exists("no-such-command-xpu")
    assert host.file("/proc/cmdline").exists
    assert host.run("echo hi").stdout == "hi\\n"
    assert type(host).__module__ == "testinfra.host"
"""


def test_a_plain_testinfra_suite_is_unchanged_by_the_plugin(pytester: pytest.Pytester) -> None:
    """The plugin is loaded (its options parse), a testinfra suite's ``host`` is still testinfra's, and
    the suite's own ``hardware``/``slow``/``vm``/``nix`` markers mean nothing to the plugin (its
    markers are ``xpu_*``): the test runs without ``--hardware``."""
    pytester.makepyfile(TESTINFRA_SUITE)
    pytester.makeini("[pytest]\nmarkers =\n    hardware: ours\n    slow: ours\n    vm: ours\n    nix: ours\n")
    result = pytester.runpytest("--xpu-strict-skips", "--strict-markers", "-v")
    result.assert_outcomes(passed=1)
    assert "xpu_testkit" in {name for name, _ in pytester.parseconfig().pluginmanager.list_name_plugin()}


def test_the_plugin_can_be_disabled(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(TESTINFRA_SUITE)
    result = pytester.runpytest("-p", "no:xpu_testkit")
    result.assert_outcomes(passed=1)
    result = pytester.runpytest("-p", "no:xpu_testkit", "--hardware")
    assert result.ret == pytest.ExitCode.USAGE_ERROR  # its options are gone with it


def test_targets_from_the_inventory_parametrize_host(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(HARDWARE_TEST)
    pytester.makefile(".yaml", lab="targets:\n  bench-a: {url: 'local://'}\n  bench-b: {url: 'local://'}\n")
    result = pytester.runpytest("--xpu-inventory", "lab.yaml", "-v")
    result.assert_outcomes(passed=2, skipped=2)
    result.stdout.fnmatch_lines(["*test_host_is_a_target?bench-a? PASSED*", "*test_host_is_a_target?bench-b? PASSED*"])


@pytest.mark.parametrize(
    "args, message",
    [
        (["--xpu-target", "ftp://box"], "*unknown target scheme 'ftp'*"),
        (["--xpu-target", "nowhere"], "*--xpu-target 'nowhere' is neither a URL nor a name in the inventory*"),
        (["--xpu-inventory", "missing.yaml"], "*cannot read inventory missing.yaml*"),
    ],
)
def test_bad_options_are_usage_errors(pytester: pytest.Pytester, args: list[str], message: str) -> None:
    pytester.makepyfile(HARDWARE_TEST)
    result = pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])
    assert "Traceback" not in result.stderr.str()


def test_malformed_inventory_names_the_line(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(HARDWARE_TEST)
    pytester.makefile(".yaml", lab="targets:\n  a:\n    url: local://\n    expect: {min_gpus: -1}\n")
    result = pytester.runpytest("--xpu-inventory", "lab.yaml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*lab.yaml:4: targets.a.expect.min_gpus: expected a non-negative decimal integer like 2, not '-1'*"]
    )


def test_strict_skips_fail_skipped_tests_but_not_hardware_gating(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        HARDWARE_TEST
        + """
def test_optional_component():
    pytest.skip("clinfo is not installed")

@pytest.mark.xpu_allowed_skip("nixpkgs cannot be fetched here")
def test_allowed():
    pytest.skip("nix build cannot fetch nixpkgs")
"""
    )
    result = pytester.runpytest("--xpu-strict-skips", "-rfs")
    result.assert_outcomes(passed=1, skipped=2, failed=1)
    result.stdout.fnmatch_lines(["*skipped under --xpu-strict-skips*clinfo is not installed*"])


def test_markers_are_registered(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--markers")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(
        [
            "@pytest.mark.xpu_hardware:*",
            "@pytest.mark.xpu_boots_vm:*",
            "@pytest.mark.xpu_nix:*",
            "@pytest.mark.xpu_slow:*",
            "@pytest.mark.xpu_allowed_skip(reason):*",
        ]
    )


PYTEST_FLOOR = "8.0.0"  # pyproject.toml: pytest>=8.0


def test_the_plugin_works_on_the_oldest_pytest_it_declares(tmp_path: Path) -> None:
    """This file's other tests, run by pytest 8.0.0 (bootstrap.sh installs it apart, in
    XPU_PYTEST_FLOOR, and it shadows the suite's pytest on PYTHONPATH)."""
    floor = os.environ.get("XPU_PYTEST_FLOOR")
    if not floor:
        pytest.skip("XPU_PYTEST_FLOOR is not set: pip install --target DIR pytest==8.0.0 and point it there")
    env = dict(os.environ, PYTHONPATH=floor)
    version = subprocess.run(
        [sys.executable, "-c", "import pytest; print(pytest.__version__)"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert version.stdout.strip() == PYTEST_FLOOR, version.stderr
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "pytester",
            "-p",
            "no:cacheprovider",
            "-q",
            "-k",
            "not oldest_pytest",
            str(Path(__file__)),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert " passed" in run.stdout.splitlines()[-1] and "failed" not in run.stdout.splitlines()[-1]


def test_another_plugins_generic_options_coexist(pytester: pytest.Pytester) -> None:
    """A suite (or plugin) with options of its own named --target, --inventory and --strict-skips, as
    embedded-testing and inventory plugins have: no option conflict, and the values are its own."""
    pytester.makeconftest("""
        def pytest_addoption(parser):
            parser.addoption("--target", default="esp32")
            parser.addoption("--inventory", default="hosts.ini")
            parser.addoption("--strict-skips", action="store_true")
    """)
    pytester.makepyfile("""
        def test_own_options(request):
            assert request.config.getoption("--target") == "rp2040"
            assert request.config.getoption("--inventory") == "hosts.ini"
            assert request.config.getoption("--strict-skips") is True
    """)
    result = pytester.runpytest("--target", "rp2040", "--strict-skips")
    result.assert_outcomes(passed=1)
