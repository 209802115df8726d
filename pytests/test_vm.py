"""The flake's NixOS test VM, built with `nix build` and driven through its backdoor console.

Needs Nix with access to nixpkgs (or a binary cache). Where `nix build` cannot fetch nixpkgs
(no network, as on the development and CI machines), the test skips with Nix's own reason:
the one skip CI accepts.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from xpu_testkit.vm.qemu import QemuVM, VmSpec
from xpu_tool.doctor import run_doctor
from xpu_tool.model import Status
from xpu_tool.probes.context import ProbeContext
from xpu_tool.target import console_target

REPO = Path(__file__).resolve().parents[1]
FETCH_FAILURES = ("unable to download", "Couldn't resolve host", "cannot fetch", "unable to fetch")


def flake_ref(repo: Path) -> str:
    """The flake as Nix should copy it: a git checkout as git+file (its tracked files, about 2 MB),
    since `path:` copies the whole directory into the store, the gitignored .venv (GBs) included,
    once per run."""
    return f"git+file://{repo}" if (repo / ".git").exists() else f"path:{repo}"


def nix_build(attr: str) -> Path:
    nix = shutil.which("nix")
    if nix is None:
        pytest.skip("nix is not installed (Debian: apt-get install nix-bin)")
    run = subprocess.run(
        [
            nix,
            "build",
            "--no-link",
            "--json",
            "--extra-experimental-features",
            "nix-command flakes",
            f"{flake_ref(REPO)}#{attr}",
        ],
        capture_output=True,
        text=True,
        timeout=3 * 3600,
        check=False,
    )
    if run.returncode != 0:
        errors = [line for line in run.stderr.splitlines() if line.startswith("error:")]
        last = (errors or run.stderr.strip().splitlines() or ["?"])[-1]
        if any(f in run.stderr for f in FETCH_FAILURES):
            pytest.skip(f"nix build cannot fetch nixpkgs here: {last}")
        pytest.fail(f"nix build {attr} failed: {last}")
    return Path(json.loads(run.stdout)[0]["outputs"]["out"])


@pytest.mark.xpu_nix
def test_the_flake_nix_builds_is_the_checkouts_tracked_files(tmp_path: Path) -> None:
    """What `nix build` copies for the VM test: in a git checkout the tracked files only, so an
    ignored file (here a stand-in for .venv) never reaches the store."""
    nix = shutil.which("nix-instantiate")
    if nix is None:
        pytest.skip("nix-instantiate is not installed (Debian: apt-get install nix-bin)")
    ref = flake_ref(REPO)
    assert ref == f"git+file://{REPO}", "the repository is a git checkout"
    made_venv = not (REPO / ".venv").exists()
    ignored = REPO / ".venv" / "xpu-flake-ref-probe"
    ignored.parent.mkdir(exist_ok=True)
    ignored.write_text("must not be copied")
    try:
        run = subprocess.run(
            [
                nix,
                "--eval",
                "--json",
                "--store",
                f"local?root={tmp_path}",
                "-E",
                f'(builtins.fetchGit "{REPO}").outPath',
            ],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    finally:
        ignored.unlink()
        if made_venv:
            ignored.parent.rmdir()
    assert run.returncode == 0, run.stderr
    copied = tmp_path / json.loads(run.stdout).lstrip("/")
    assert (copied / "flake.nix").is_file()
    assert not (copied / ".venv").exists()
    size = sum(f.stat().st_size for f in copied.rglob("*") if f.is_file())
    assert size < 50 * 2**20, f"the flake source is {size >> 20} MiB"


@pytest.mark.xpu_boots_vm
@pytest.mark.xpu_nix
@pytest.mark.xpu_slow
@pytest.mark.xpu_allowed_skip("nix build needs nixpkgs, which cannot be fetched on machines without network")
def test_nixos_vm_from_the_flake() -> None:
    vm_out = nix_build("nixosConfigurations.xpu-test-vm.config.system.build.vm")
    scripts = sorted((vm_out / "bin").glob("run-*-vm"))
    assert scripts, f"no run script in {vm_out}/bin"
    with QemuVM(VmSpec(name="xpu-test-vm", run_script=scripts[0], boot_timeout=900)) as vm:
        assert vm.backdoor is not None  # the spec asks for one (VmSpec.backdoor), and starting waited for it
        target = console_target(vm.backdoor, "xpu-test-vm")
        assert target.run("systemctl is-system-running --wait", timeout=600).stdout.strip() in ("running", "degraded")
        assert target.which("xpu"), "the flake's xpu command is installed in the VM"
        report = run_doctor(ProbeContext(target, timeout=120))
        ze = report.probe("level-zero")
        assert ze.data.get("via") == "xpu"  # the target's own xpu command ran the collector
        assert ze.status in (Status.FAIL, Status.ABSENT)  # a VM without a GPU: no Level Zero driver
        assert report.finding("no-intel-gpu") is not None
