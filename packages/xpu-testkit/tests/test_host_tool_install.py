"""The host tool installed alone, the way a host gets it: `pip install packages/xpu-tool` into a new
environment (a built wheel, not an editable checkout, with the suite's pinned versions). It pulls
no plotting, numpy, model-writing library or test kit, and its `xpu` diagnoses this machine and
checks the real IPEX-LLM Ollama as the full installation does.

Building the environment takes about 20 s with pip's cache warm (PyPI the first time).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from xpu_testkit.services.ipex_ollama import IpexOllamaServer

from .xpu_command import run_xpu

REPO = Path(__file__).resolve().parents[3]
TEST_KIT_ONLY = {"numpy", "matplotlib", "gguf", "xpu-testkit"}


@dataclass(frozen=True)
class LeanInstall:
    root: Path

    def xpu(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.root / "bin" / "xpu"), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=self.root,
            check=False,
        )

    def distributions(self) -> set[str]:
        run = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "--python",
                str(self.root / "bin" / "python"),
                "list",
                "--format",
                "json",
                "--disable-pip-version-check",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        return {d["name"].lower().replace("_", "-") for d in json.loads(run.stdout)}


@pytest.fixture(scope="module")
def lean(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LeanInstall]:
    work = tmp_path_factory.mktemp("xpu-tool-alone")
    root = work / "venv"
    # a copy of the package's source: setuptools builds in the project directory (build/, egg-info)
    source = shutil.copytree(
        REPO / "packages" / "xpu-tool",
        work / "xpu-tool",
        ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"),
    )
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True, timeout=120)
    # the running interpreter's pip installs into the new environment (no ensurepip needed)
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(root / "bin" / "python"),
            "install",
            "--disable-pip-version-check",
            "-q",
            "-c",
            str(REPO / "constraints.txt"),
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert run.returncode == 0, f"pip install packages/xpu-tool failed:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
    yield LeanInstall(root)


def test_installing_the_host_tool_pulls_nothing_of_the_test_kit(lean: LeanInstall) -> None:
    installed = lean.distributions()
    assert "xpu-tool" in installed
    assert not installed & TEST_KIT_ONLY, f"the host tool pulled {sorted(installed & TEST_KIT_ONLY)}"


def test_the_host_tool_lists_its_own_commands_only(lean: LeanInstall) -> None:
    run = lean.xpu("--help")
    assert run.returncode == 0, run.stderr
    commands = run.stdout.split("{", 1)[1].split("}", 1)[0].split(",")
    assert commands == ["doctor", "collect", "check", "export", "upstream"]


def test_a_test_kit_command_names_the_test_kit(lean: LeanInstall) -> None:
    run = lean.xpu("bench", "ollama", "--backend", "gpu=http://127.0.0.1:9")
    assert run.returncode == 2
    assert run.stdout == ""
    assert run.stderr.count("\n") == 1 and "comes with the test kit" in run.stderr, run.stderr


def _probes(doctor_json: str) -> dict[str, tuple[str, str]]:
    report = json.loads(doctor_json)["reports"][0]
    return {p["probe"]: (p["status"], p["summary"]) for p in report["probes"]}


def test_the_host_tool_alone_diagnoses_this_machine(lean: LeanInstall) -> None:
    """The probes that look at the machine (PCI, render nodes, the Level Zero loader, OpenCL's ICD
    loader, the environment, the units) say what the full installation's say; SYCL and torch look
    at the Python environment, and the host tool brings no torch."""
    run = lean.xpu("doctor", "--json")
    assert run.returncode in (0, 1), run.stderr
    full = run_xpu("doctor", "--json", timeout=300)
    assert json.loads(run.stdout)["usable"] == json.loads(full.stdout)["usable"]
    got, want = _probes(run.stdout), _probes(full.stdout)
    machine = ("pci", "render-nodes", "level-zero", "opencl", "environment", "services")
    assert {p: got[p] for p in machine} == {p: want[p] for p in machine}
    assert got["torch"][0] == "absent", got["torch"]


def test_the_host_tool_alone_checks_the_real_ollama(lean: LeanInstall, xpu_ipex_ollama: IpexOllamaServer) -> None:
    """`xpu check ollama` writes its tiny model and has the real IPEX-LLM Ollama create and run it,
    with no numpy or gguf: the verdict is the full installation's."""
    run = lean.xpu("check", "ollama", xpu_ipex_ollama.url, "--json")
    full = run_xpu("check", "ollama", xpu_ipex_ollama.url, "--json", timeout=300)
    assert run.returncode == full.returncode, run.stderr
    got, want = json.loads(run.stdout), json.loads(full.stdout)
    assert got["created"] is True
    assert {f["id"] for f in got["findings"]} == {f["id"] for f in want["findings"]}
