"""The NixOS advice matches the modules: every option the doctor or a service check names exists
in nixosModules.default (on nixpkgs' real module files, nixos-tests/eval/advice.nix) and its type
takes the advised value; `--user` naming a DynamicUser unit is judged by the unit's credentials."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from xpu_tool.diagnosis import INTEL_SERVICES, Observations, diagnose, render_access
from xpu_tool.model import Finding, NixosSetting, ProbeResult, Status
from xpu_tool.probes.pci import scan_system
from xpu_tool.probes.render import judge_render
from xpu_tool.probes.torch_xpu import TorchFacts
from xpu_tool.probes.units import parse_systemctl_show
from xpu_tool.services.comfyui.check import diagnose_error
from xpu_tool.services.ollama.client import SIGNATURES

from .test_diagnosis import A770, OLLAMA_UNIT, UHD630, observe, ze

REPO = Path(__file__).resolve().parents[3]
SOURCE = REPO / "packages" / "xpu-tool" / "src" / "xpu_tool"
MACHINES = sorted(p.stem for p in (Path(__file__).parent / "machines").glob("*.yaml"))
OTHER_UNIT = OLLAMA_UNIT.replace("Id=ollama.service", "Id=my-llm.service")
# `xpu doctor --user ollama` against nixpkgs' ollama unit: DynamicUser, no User=
DYNAMIC_UNIT = OLLAMA_UNIT.replace("SupplementaryGroups=render", "SupplementaryGroups=render video")


def _extra(obs: Observations) -> Observations:
    """The probes test_diagnosis does not run, in the states whose findings carry advice."""
    extra = [
        ProbeResult("sycl", Status.ABSENT, "no SYCL", cause="no sycl-ls", fix="install"),
        ProbeResult("opencl", Status.FAIL, "no GPU", cause="no ICD", fix="install"),
        ProbeResult("vulkan", Status.ABSENT, "no vulkaninfo", cause="missing", fix="install"),
        ProbeResult(
            "torch", Status.FAIL, "no XPU", cause="CPU torch", fix="install", facts=TorchFacts(ran=True, available=True)
        ),
    ]
    return Observations(obs.scan, {**obs.results, **{r.probe: r for r in extra}}, obs.env, obs.units)


def advised_findings(ctx_for) -> list[Finding]:
    """Findings from every recorded machine in the states that trigger each rule, and the service
    checks' findings."""
    findings: list[Finding] = []
    for machine in MACHINES:
        for user in (None, "nobody"):
            ctx = ctx_for(machine, user)
            variants = [
                observe(ctx, nixos_libs=("libigdrcl.so",)),
                observe(ctx, level_zero=ze(A770), units=OLLAMA_UNIT + "\n" + OTHER_UNIT),
                observe(ctx, level_zero=ze(UHD630, A770), variables={"ZE_ENABLE_NULL_DRIVER": "1"}),
                observe(ctx, level_zero=ze(A770), sycl="", variables={"ONEAPI_DEVICE_SELECTOR": "opencl:*"}),
            ]
            for obs in variants:
                findings += diagnose(obs) + diagnose(_extra(obs))
    findings += [f for _, f in SIGNATURES]
    for message in ("FP64 not supported", "could not create a primitive", "Permission denied: /dev/dri/renderD128"):
        findings += diagnose_error({"exception_type": "RuntimeError", "exception_message": message})
    return findings


# -- option paths named anywhere in the tool's text (prose included): they must exist --------------
OPTION_PATH = re.compile(
    r"(?<![\w.\-/])(?:hardware|services|systemd|users|boot|environment|networking)\.[A-Za-z0-9_<>{}.\-]*[A-Za-z0-9_>}]"
)
NOT_OPTIONS = {"services.registry", "services.UnitFacts", "environment.EnvFacts", "systemd.unit"}


def named_paths() -> set[str]:
    """Every option path the source's strings name, placeholders instantiated."""
    paths = set()
    for file in SOURCE.rglob("*.py"):
        for found in OPTION_PATH.findall(file.read_text()):
            if found in NOT_OPTIONS:
                continue
            match = re.sub(r"^(systemd\.services|users\.users)\.(<[^>]+>|\{[^}]+\})", r"\1.example", found)
            if match.startswith("services.{"):
                paths |= {re.sub(r"^services\.\{[^}]+\}", f"services.{name}", match) for name in INTEL_SERVICES}
            else:
                paths.add(match)
    return paths


def concrete(option: str) -> str:
    return re.sub(r"<[^>]+>", "example", option)


@pytest.fixture(scope="module")
def judge():
    nix = shutil.which("nix-instantiate")
    if nix is None:
        pytest.skip("nix-instantiate is not installed (apt-get install nix-bin)")
    env = {
        v: os.environ.get(v, "") for v in ("XPU_NIXPKGS_LIB", "XPU_NIXPKGS", "XPU_HOME_MANAGER", "XPU_NIXOS_HARDWARE")
    }
    if not all(env.values()):
        pytest.skip("set XPU_NIXPKGS_LIB, XPU_NIXPKGS, XPU_HOME_MANAGER, XPU_NIXOS_HARDWARE (source /tmp/env.sh)")

    def run(settings: list[tuple[str, str | None]]) -> list[dict]:
        items = " ".join(
            f"{{ option = {json.dumps(o)}; value = {'null' if v is None else f'({{ pkgs, lib, config }}: {v})'}; }}"
            for o, v in settings
        )
        expr = f"""
          let
            lib = import {env["XPU_NIXPKGS_LIB"]}/lib;
            upstream = import {REPO}/nixos-tests/eval/upstream.nix {{
              nixpkgs = {env["XPU_NIXPKGS"]}; homeManager = {env["XPU_HOME_MANAGER"]};
              nixosHardware = {env["XPU_NIXOS_HARDWARE"]};
            }};
          in import {REPO}/nixos-tests/eval/advice.nix {{ inherit lib upstream; }} [ {items} ]
        """
        out = subprocess.run(
            [nix, "--eval", "--strict", "--json", "-E", expr], capture_output=True, text=True, timeout=300, check=False
        )
        assert out.returncode == 0, out.stderr
        advice: list[dict] = json.loads(out.stdout)
        return advice

    return run


def test_every_advised_setting_exists_and_takes_its_value(ctx_for, judge) -> None:
    findings = advised_findings(ctx_for)
    settings = {s for f in findings for s in f.settings}
    # every rule and check that advises a setting was reached
    assert {f.id for f in findings if f.settings} >= {
        "kernel-driver", "level-zero-no-driver", "sycl-not-checked", "opencl-no-gpu", "render-access",
        "ollama-igpu-dropped", "vulkan-not-checked", "no-free-vram-data", "device-selection", "mdwe-blocks-jit",
        "service-before-gpu", "fp64-emulation", "torch-no-xpu", "ollama-no-sycl-gpu",
    }  # fmt: skip
    wanted = sorted({(concrete(s.option), s.value) for s in settings})
    results = judge(wanted)
    bad = [r for r in results if not (r["exists"] and r["accepts"])]
    assert not bad, json.dumps(bad, indent=2)
    # the text rendered from them is what the JSON's `nixos` string carries
    for f in findings:
        for s in f.settings:
            assert s.render() in (f.nixos or "") and f.to_dict()["nixos_settings"]


def test_every_option_the_text_names_exists(judge) -> None:
    paths = named_paths()
    assert {
        "hardware.intel-xpu.syclTools",
        "users.users.example.extraGroups",
        "services.llama-cpp.intel.enable",
    } <= paths
    results = judge([(p, None) for p in sorted(paths)])
    missing = [r["option"] for r in results if not r["exists"]]
    assert not missing, missing


def test_the_check_rejects_wrong_advice(judge) -> None:
    """The judge itself: a missing option, a wrong value, an advised path below a leaf."""
    got = judge(
        [
            ("hardware.intel-xpu.doesNotExist", "true"),
            ("hardware.intel-xpu.syclTools", '"yes"'),
            ("hardware.intel-xpu.forceProbe", '[ "7D45" ]'),
            ("hardware.intel-xpu.enable.deeper", "true"),
        ]
    )
    assert [(r["exists"], r["accepts"]) for r in got] == [(False, None), (True, False), (True, False), (False, None)]


@pytest.mark.xpu_allowed_skip("nixpkgs' pkgs/ cannot be had here (the shared upstream holds its module files only)")
def test_packages_the_advice_names_are_in_nixpkgs() -> None:
    nixpkgs = os.environ.get("XPU_NIXPKGS")
    if not nixpkgs or not (Path(nixpkgs) / "pkgs").is_dir():
        pytest.skip("XPU_NIXPKGS is not a nixpkgs checkout with pkgs/")
    names = {m for f in SOURCE.rglob("*.py") for m in re.findall(r"pkgs\.([a-z][\w-]*)", f.read_text())}
    by_name = Path(nixpkgs) / "pkgs" / "by-name"
    missing = [n for n in names if not (by_name / n[:2] / n).is_dir()]
    assert not missing or not by_name.is_dir(), missing


def test_the_sycl_ls_advice_names_the_option() -> None:
    from xpu_tool.diagnosis import sycl

    obs = Observations(
        scan=None,  # type: ignore[arg-type]  # the SYCL advice reads only the results
        results={"sycl": ProbeResult("sycl", Status.ABSENT, "no SYCL", cause="c", fix="f")},
        env=None,  # type: ignore[arg-type]  # nor the environment
    )
    (finding,) = sycl(obs)
    assert NixosSetting("hardware.intel-xpu.syclTools", "true") in finding.settings


# -- --user against a unit with DynamicUser ---------------------------------------------------------


def fake_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, getent: str | None) -> None:
    """`id` that knows no ollama account (the unit is stopped: no nss-systemd entry), `getent` as given."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "id").write_text("#!/bin/sh\necho \"id: '$2': no such user\" >&2\nexit 1\n")
    (tmp_path / "group").write_text(getent or "")
    script = (
        f'#!/bin/sh\nshift\nst=0\nfor g; do grep "^$g:" {tmp_path / "group"} || st=2; done\nexit $st\n'
        if getent is not None
        else "#!/bin/sh\nexit 2\n"
    )
    (bin_dir / "getent").write_text(script)
    for f in bin_dir.iterdir():
        f.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")


def test_dynamic_user_is_judged_by_the_units_groups(ctx_for, tmp_path, monkeypatch) -> None:
    ctx = ctx_for("arc-a770-i915", "ollama")
    scan = scan_system(ctx)
    node = scan.node(next(g.render for g in scan.gpus if g.render))
    assert node is not None
    fake_commands(tmp_path, monkeypatch, f"render:x:{node.gid}:\nvideo:x:26:\n")
    r = judge_render(ctx, scan, parse_systemctl_show(DYNAMIC_UNIT))
    assert r.status is Status.OK, r
    assert "ollama.service runs with DynamicUser" in r.evidence[0]
    assert r.data["unit"] == "ollama.service"
    # without the render group in SupplementaryGroups: a FAIL about the unit, with the unit's fix
    r = judge_render(ctx, scan, parse_systemctl_show(DYNAMIC_UNIT.replace("render video", "video")))
    assert "SupplementaryGroups=video" in r.evidence[0]
    assert r.status is Status.FAIL and "DynamicUser" in r.summary and "does not exist" not in r.summary
    obs = Observations(scan, {"render-nodes": r}, None)  # type: ignore[arg-type]  # render_access reads no env
    (finding,) = render_access(obs)
    assert finding.settings == (
        NixosSetting("systemd.services.ollama.serviceConfig.SupplementaryGroups", '[ "render" "video" ]'),
    )


def test_dynamic_user_whose_groups_cannot_be_resolved_is_a_warning(ctx_for, tmp_path, monkeypatch) -> None:
    ctx = ctx_for("arc-a770-i915", "ollama")
    fake_commands(tmp_path, monkeypatch, None)
    r = judge_render(ctx, scan_system(ctx), parse_systemctl_show(DYNAMIC_UNIT))
    assert r.status is Status.WARN and r.summary.startswith("cannot judge ollama: ollama.service runs with DynamicUser")


def test_no_account_and_no_unit_is_still_a_failure(ctx_for, tmp_path, monkeypatch) -> None:
    ctx = ctx_for("arc-a770-i915", "ollama")
    fake_commands(tmp_path, monkeypatch, "")
    r = judge_render(ctx, scan_system(ctx), [])
    assert r.status is Status.FAIL and "does not exist" in r.summary


def test_units_name_no_dead_unit() -> None:
    (unit,) = parse_systemctl_show(DYNAMIC_UNIT.replace("After=network.target", "After=intel-gpu-ready.service"))
    assert not unit.ordered_after_gpu and unit.dynamic_user and unit.user == "ollama"
    assert "intel-gpu-ready" not in (SOURCE / "probes" / "units.py").read_text()
