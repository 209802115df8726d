"""The pytest plugin, run in a nested pytest (pytester) with the real doctor underneath."""

from __future__ import annotations

import pytest

HARDWARE_TEST = """
import pytest

@pytest.mark.hardware
def test_needs_gpu(xpu_report):
    assert xpu_report.usable, "no usable Intel GPU"

def test_host_is_a_target(host, xpu_target_spec):
    assert host.url == xpu_target_spec.url
    assert host.run("echo hi").stdout == "hi\\n"
    assert host.file("/proc/cmdline").exists  # testinfra's modules still work
"""


def test_hardware_tests_skip_without_flag(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(HARDWARE_TEST)
    result = pytester.runpytest("-rs")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["*needs an Intel GPU: run with --hardware*"])


def test_hardware_without_gpu_fails_with_the_diagnosis(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(HARDWARE_TEST)
    result = pytester.runpytest("--hardware")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*xpu doctor*", "*no-intel-gpu*", "*VERDICT: no Intel GPU on this machine*"])


def test_targets_from_the_inventory_parametrize_host(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(HARDWARE_TEST)
    pytester.makefile(".yaml", lab="targets:\n  bench-a: {url: 'local://'}\n  bench-b: {url: 'local://'}\n")
    result = pytester.runpytest("--inventory", "lab.yaml", "-v")
    result.assert_outcomes(passed=2, skipped=2)
    result.stdout.fnmatch_lines(["*test_host_is_a_target?bench-a? PASSED*", "*test_host_is_a_target?bench-b? PASSED*"])


@pytest.mark.parametrize("args, message", [
    (["--target", "ftp://box"], "*unknown target scheme 'ftp'*"),
    (["--target", "nowhere"], "*--target 'nowhere' is neither a URL nor a name in the inventory*"),
    (["--inventory", "missing.yaml"], "*cannot read inventory missing.yaml*"),
])
def test_bad_options_are_usage_errors(pytester: pytest.Pytester, args: list[str], message: str) -> None:
    pytester.makepyfile(HARDWARE_TEST)
    result = pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])
    assert "Traceback" not in result.stderr.str()


def test_malformed_inventory_names_the_line(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(HARDWARE_TEST)
    pytester.makefile(".yaml", lab="targets:\n  a:\n    url: local://\n    expect: {min_gpus: -1}\n")
    result = pytester.runpytest("--inventory", "lab.yaml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*lab.yaml:4: targets.a.expect.min_gpus: expected a non-negative integer*"])


def test_strict_skips_fail_skipped_tests_but_not_hardware_gating(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(HARDWARE_TEST + """
def test_optional_component():
    pytest.skip("clinfo is not installed")

@pytest.mark.xpu_allowed_skip("nixpkgs cannot be fetched here")
def test_allowed():
    pytest.skip("nix build cannot fetch nixpkgs")
""")
    result = pytester.runpytest("--strict-skips", "-rfs")
    result.assert_outcomes(passed=1, skipped=2, failed=1)
    result.stdout.fnmatch_lines(["*skipped under --strict-skips*clinfo is not installed*"])


def test_markers_are_registered(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.hardware:*", "@pytest.mark.vm:*", "@pytest.mark.nix:*", "@pytest.mark.slow:*"])
