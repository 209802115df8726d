"""The flake's Nix files: every one parses, and the overlay exposes the package set.

Nix 2.8 (Debian's nix-bin) parses and evaluates plain Nix; nixpkgs itself cannot be had here, so
whole-flake evaluation runs in `nix flake check` on a machine with Nix and nixpkgs.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
NIX_FILES = sorted(p for p in REPO.rglob("*.nix") if ".venv" not in p.parts and ".git" not in p.parts)

pytestmark = pytest.mark.xpu_nix


@pytest.fixture(scope="module")
def nix_instantiate() -> str:
    path = shutil.which("nix-instantiate")
    if path is None:
        pytest.skip("nix-instantiate is not installed (apt-get install nix-bin)")
    return path


def test_there_are_nix_files() -> None:
    assert REPO / "flake.nix" in NIX_FILES


@pytest.mark.parametrize("path", NIX_FILES, ids=[str(p.relative_to(REPO)) for p in NIX_FILES])
def test_parses(path: Path, nix_instantiate: str) -> None:
    run = subprocess.run(
        [nix_instantiate, "--parse", str(path)], capture_output=True, text=True, timeout=60, check=False
    )
    assert run.returncode == 0, run.stderr


def python_package_set(base: str, extension: str = "_: _: { }") -> str:
    """A Nix expression: the Python package set that `base` (a function of the finished set)
    becomes under the overlay's pythonPackagesExtensions and then `extension`, as nixpkgs
    composes them."""
    return f"""(let
          extensions = ((import {REPO}/overlays/intel-xpu.nix) {{ }} {{ pythonPackagesExtensions = [ ]; }})
            .pythonPackagesExtensions ++ [ ({extension}) ];
          compose = acc: ext: self: let super = acc self; in super // ext self super;
          f = builtins.foldl' compose ({base}) extensions;
          fix = f fix;
        in fix)"""


def test_overlay_adds_the_package_set(nix_instantiate: str) -> None:
    """Apply the overlay to a stand-in `final` whose callPackage records what it was given."""
    expr = f"""
      let
        overlay = import {REPO}/overlays/intel-xpu.nix;
        callPackage = path: args: {{ inherit path; }};
        final = {{
          inherit callPackage;
          python3Packages = {
        python_package_set(
            'self: { inherit callPackage; toPythonApplication = d: d // { path = "application:" + toString d.path; }; }'
        )
    };
        }};
        prev = {{ level-zero = {{ path = "nixpkgs-level-zero"; }}; hello = {{ path = "no"; }}; }};
      in builtins.mapAttrs (_: v: toString v.path) (overlay final prev).intel-xpu
    """
    run = subprocess.run(
        [nix_instantiate, "--eval", "--strict", "--json", "-E", expr],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == {
        "ollama-ipex-llm": f"{REPO}/packages/ollama-ipex-llm/package.nix",
        # the Python package set's, as applications
        "xpu-tool": f"application:{REPO}/packages/xpu-tool/package.nix",
        "xpu-testkit": f"application:{REPO}/packages/xpu-testkit/package.nix",
        "level-zero": "nixpkgs-level-zero",  # nixpkgs' pieces it has; others are left out
        "benchmarks": f"{REPO}/packages/ipex-benchmarks/package.nix",
    }


MORDRAG_STUB = """{
  packages.x86_64-linux = { ollama-sycl = "ollama-sycl-drv"; llama-cpp-sycl = "llama-cpp-sycl-drv"; other = 1; };
  legacyPackages.x86_64-linux = { intel-python = "intel-python-drv"; intel-sycl.llvm = "intel-llvm-drv"; };
}"""


def _overlays_applied(nix: str, mordrag: str) -> object:
    """overlays.default's order: intel-xpu, then mordrag on top (what composeManyExtensions does)."""
    return eval_nix(
        nix,
        f"""
      let
        ours = import {REPO}/overlays/intel-xpu.nix;
        theirs = import {REPO}/overlays/mordrag.nix ({mordrag});
        callPackage = path: args: "built:" + baseNameOf (dirOf path);
        final = {{ inherit callPackage; stdenv.hostPlatform.system = "x86_64-linux";
                   lib.makeOverridable = f: args: "made";
                   python3Packages =
                     {python_package_set("self: { inherit callPackage; toPythonApplication = d: d; }")}; }};
        first = ours final {{ }} // {{ comfyui = "nixpkgs-comfyui"; }};
      # comfyui is packages/comfyui-ipex over nixpkgs' comfyui: comfyui-package-cases.nix evaluates it
      in builtins.mapAttrs (n: v: if n == "comfyui" && v != null then "built:comfyui-ipex" else v)
        (theirs final first).intel-xpu
    """,
    )


def test_mordrag_overlay_adds_its_sycl_builds(nix_instantiate: str) -> None:
    assert _overlays_applied(nix_instantiate, MORDRAG_STUB) == {
        "ollama-ipex-llm": "built:ollama-ipex-llm",
        "xpu-tool": "built:xpu-tool",
        "xpu-testkit": "built:xpu-testkit",
        "benchmarks": "built:ipex-benchmarks",
        "ollama-sycl": "ollama-sycl-drv",
        "llama-cpp-sycl": "llama-cpp-sycl-drv",
        "python": "intel-python-drv",
        "comfyui": "built:comfyui-ipex",
        "sycl-tools": "intel-llvm-drv",
    }


def test_mordrag_overlay_leaves_out_what_the_flake_lacks(nix_instantiate: str) -> None:
    """A MordragT revision without these outputs (or without this system) evaluates; what it lacks
    is null (the modules read `pkgs.intel-xpu.<name> or null` and assert, naming the package)."""
    got = _overlays_applied(nix_instantiate, '{ packages.aarch64-linux.ollama-sycl = "x"; }')
    assert got == {
        "ollama-ipex-llm": "built:ollama-ipex-llm",
        "xpu-tool": "built:xpu-tool",
        "xpu-testkit": "built:xpu-testkit",
        "benchmarks": "built:ipex-benchmarks",
        "ollama-sycl": None,
        "llama-cpp-sycl": None,
        "python": None,
        "sycl-tools": None,
        "comfyui": None,
    }


THROWING_MORDRAG = 'throw "MordragT\'s flake was evaluated"'


def test_mordrag_overlay_reads_mordrag_only_for_its_own_packages(nix_instantiate: str) -> None:
    """With a MordragT flake that throws when read at all, pkgs.intel-xpu's names and this flake's
    own packages evaluate (nothing of MordragT's is read for them); reading one of MordragT's
    packages does read it, and fails: the stand-in is not inert."""
    expr = f"""
      let
        theirs = import {REPO}/overlays/mordrag.nix ({THROWING_MORDRAG});
        final = {{ lib = {{ makeOverridable = f: a: f a; }}; stdenv.hostPlatform.system = "x86_64-linux"; }};
        set = (theirs final {{ comfyui = "nixpkgs-comfyui"; intel-xpu.xpu-tool = "ours"; }}).intel-xpu;
      in {{ names = builtins.attrNames set; inherit (set) xpu-tool; }}
    """
    assert eval_nix(nix_instantiate, expr) == {
        "names": ["comfyui", "llama-cpp-sycl", "ollama-sycl", "python", "sycl-tools", "xpu-tool"],
        "xpu-tool": "ours",
    }
    for name in ("llama-cpp-sycl", "comfyui"):
        run = subprocess.run(
            [
                nix_instantiate,
                "--eval",
                "--strict",
                "-E",
                expr.replace("{ names = builtins.attrNames set; inherit (set) xpu-tool; }", f"set.{name}"),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert run.returncode != 0 and "MordragT's flake was evaluated" in run.stderr, (name, run.stderr)


# -- module evaluation on the real upstream module files --------------------------------------------
#
# The harness loads nixpkgs' library and the upstream module files from checkouts named by
# environment variables (bootstrap.sh points them at ../shared/upstream; a user at their own
# nixpkgs, home-manager and nixos-hardware). Without them these tests skip here; in CI the suite
# runs with --xpu-strict-skips, so a missing checkout fails there.

UPSTREAM_PATHS = {
    "XPU_NIXPKGS_LIB": "lib/default.nix",
    "XPU_NIXPKGS": "nixos/modules/services/misc/ollama.nix",
    "XPU_HOME_MANAGER": "modules/services/ollama.nix",
    "XPU_NIXOS_HARDWARE": "common/gpu/intel/default.nix",
}


def eval_nix(nix: str, expr: str) -> object:
    # read-write: the documented cases write README blocks to the store (builtins.toFile)
    run = subprocess.run(
        [nix, "--read-write-mode", "--eval", "--strict", "--json", "-E", expr],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def eval_nix_attrs(nix: str, expr: str) -> dict[str, Any]:
    """eval_nix of an expression whose value is an attribute set: a JSON object."""
    got = eval_nix(nix, expr)
    assert isinstance(got, dict), got
    return got


def eval_nix_list(nix: str, expr: str) -> list[Any]:
    """eval_nix of an expression whose value is a list."""
    got = eval_nix(nix, expr)
    assert isinstance(got, list), got
    return got


@pytest.fixture(scope="module")
def upstream() -> dict[str, Path]:
    paths = {}
    for var, probe in UPSTREAM_PATHS.items():
        value = os.environ.get(var)
        if not value or not (Path(value) / probe).is_file():
            pytest.skip(f"set {var} to a checkout with {probe} (bootstrap.sh uses ../shared/upstream)")
        paths[var] = Path(value).resolve()
    return paths


def _with_upstream(upstream: dict[str, Path], body: str) -> str:
    return f"""
      let
        lib = import {upstream["XPU_NIXPKGS_LIB"]}/lib;
        upstream = import {REPO}/nixos-tests/eval/upstream.nix {{
          nixpkgs = {upstream["XPU_NIXPKGS"]};
          homeManager = {upstream["XPU_HOME_MANAGER"]};
          nixosHardware = {upstream["XPU_NIXOS_HARDWARE"]};
        }};
        harness = import {REPO}/nixos-tests/eval/harness.nix {{ inherit lib upstream; }};
      in {body}
    """


def test_module_evaluation_cases(nix_instantiate: str, upstream: dict[str, Path]) -> None:
    """Every case in nixos-tests/eval/*-cases.nix (the same cases `nix flake check` evaluates), on
    nixpkgs' real services.ollama, services.comfyui, services.llama-cpp, hardware.graphics and
    assertions, Home Manager's services.ollama and nixos-hardware's common/gpu/intel."""
    results = eval_nix(
        nix_instantiate, _with_upstream(upstream, f"import {REPO}/nixos-tests/eval/run.nix {{ inherit lib upstream; }}")
    )
    assert isinstance(results, dict) and len(results) >= 49
    assert {name.split("/")[0] for name in results} == {
        "intel-gpu",
        "ollama",
        "comfyui",
        "comfyui-package",
        "llama-cpp",
        "monitoring",
        "home-manager-ollama",
        "home-manager-comfyui",
        "documented",
    }
    failed = {name: r for name, r in results.items() if not r["ok"]}
    assert not failed, json.dumps(failed, indent=2)


FLAKE_WITH_STAND_IN_INPUTS = """
  let
    lib = import {lib}/lib;
    upstream = import {repo}/nixos-tests/eval/upstream.nix {{
      nixpkgs = {nixpkgs}; homeManager = {home_manager}; nixosHardware = {nixos_hardware};
    }};
    standInSystem = import {repo}/nixos-tests/eval/stand-ins/nixos-system.nix {{ inherit lib upstream; }};
    # nixosSystem as the stand-in, with whatever a test adds to every machine
    nixosSystem = {{ modules, ... }}: standInSystem {{ modules = modules ++ [ ({extra}) ]; }};
    pkgs = import {inputs}/nixpkgs {{ }};
    inputs = {{
      nixpkgs = {{
        outPath = {inputs}/nixpkgs; lib = lib // {{ inherit nixosSystem; }}; legacyPackages.x86_64-linux = pkgs;
      }};
      mordrag = {{ }};
      home-manager = {{
        outPath = {home_manager};
        lib.homeManagerConfiguration = import {repo}/nixos-tests/eval/stand-ins/home-manager-configuration.nix {{
          inherit lib upstream;
        }};
      }};
      nixos-hardware.outPath = {nixos_hardware};
    }};
    flake = import {repo}/flake.nix;
    self = flake.outputs (inputs // {{ inherit self; }}) // {{ outPath = {repo}; }};
    cases = builtins.attrNames (import {repo}/nixos-tests/eval/run.nix {{ inherit lib upstream; }});
  in {{
    inherit cases;
    checks = builtins.mapAttrs (_: c: {{ inherit (c) name script; report = c.env.report or null; }})
      {{ inherit (self.checks.x86_64-linux) eval-modules eval-modules-nixos drift-stand-ins; }};
    # each VM check: what its runNixOSTest (the stand-in returns its argument) was given
    vmChecks = builtins.mapAttrs (_: c: {{
      imports = map (i: if builtins.isPath i then toString i else i.name) c.imports;
      defaultsAreOurs = map (i: i == self.nixosModules.default) c.defaults.imports;
    }}) (lib.filterAttrs (n: _: lib.hasPrefix "vm-" n) self.checks.x86_64-linux);
  }}
"""


def _flake_checks(nix: str, upstream: dict[str, Path], tmp: Path, extra: str = "{ }") -> dict[str, Any]:
    """flake.nix's eval checks, with its inputs replaced: nixpkgs is the checkout's nixos/ beside
    a default.nix giving the stand-in package set (with a runCommand that returns its script),
    and lib.nixosSystem the stand-in of stand-ins/nixos-system.nix."""
    nixpkgs = tmp / "nixpkgs"
    nixpkgs.mkdir(exist_ok=True)
    if not (nixpkgs / "nixos").exists():
        (nixpkgs / "nixos").symlink_to(upstream["XPU_NIXPKGS"] / "nixos")
    (nixpkgs / "default.nix").write_text(f"""
      {{ ... }}:
      let
        lib = import {upstream["XPU_NIXPKGS_LIB"]}/lib;
        kernelPackages = import {REPO}/nixos-tests/eval/stand-ins/kernel-packages.nix {{ inherit lib; }};
      in import {REPO}/nixos-tests/eval/stand-ins/pkgs.nix {{ inherit lib; }} {{ }} // {{
        stdenv.hostPlatform.system = "x86_64-linux";
        # extensible, with an overridable kernel, as boot.kernelPackages' apply needs
        linuxPackages = kernelPackages "6.18.2";
        linuxPackages_latest = kernelPackages "6.17.1";
        runCommand = name: env: script: {{ inherit name env script; }};
        testers.runNixOSTest = test: test;
      }}
    """)
    return eval_nix_attrs(
        nix,
        FLAKE_WITH_STAND_IN_INPUTS.format(
            lib=upstream["XPU_NIXPKGS_LIB"],
            nixpkgs=upstream["XPU_NIXPKGS"],
            home_manager=upstream["XPU_HOME_MANAGER"],
            nixos_hardware=upstream["XPU_NIXOS_HARDWARE"],
            repo=REPO,
            inputs=tmp,
            extra=extra,
        ),
    )


def test_flake_checks_run_every_case_on_both_harnesses(
    nix_instantiate: str, upstream: dict[str, Path], tmp_path: Path
) -> None:
    """checks.eval-modules (harness.nix) and checks.eval-modules-nixos (harness-nixos.nix through
    nixpkgs.lib.nixosSystem) both evaluate run.nix's whole case set and pass. Here nixosSystem is a
    stand-in (the same files as harness.nix plus a bare machine's own definitions, which
    harness-nixos.nix must subtract); only `nix flake check` has all of NixOS judge the cases."""
    got = _flake_checks(nix_instantiate, upstream, tmp_path)
    assert len(got["cases"]) >= 49
    for name in ("eval-modules", "eval-modules-nixos"):
        assert got["checks"][name]["script"] == f"echo {len(got['cases'])} cases > $out"


def test_the_flake_checks_the_core_stand_ins_against_nixos_and_home_manager(
    nix_instantiate: str, upstream: dict[str, Path], tmp_path: Path
) -> None:
    """checks.drift-stand-ins, evaluated with stand-in inputs: nixosSystem is the stand-in (the
    same declarations as the stand-ins, so nothing differs) and homeManagerConfiguration too
    (stand-ins/home-manager-configuration.nix). There the Home Manager approximations that
    known-approximations.nix lists do not differ, so the check fails naming them stale: what it
    does on a real Home Manager once a stand-in is made exact and the entry is left behind."""
    got = _flake_checks(nix_instantiate, upstream, tmp_path)
    check = got["checks"]["drift-stand-ins"]
    lines = check["script"].strip().splitlines()
    assert check["name"] == "drift-stand-ins" and lines[-1].strip() == "exit 1"
    assert lines[0].strip() == 'echo "stand-ins differ from the real declarations: home-manager" >&2'
    assert lines[1].strip() == 'echo "$report" >&2'
    assert json.loads(check["report"]) == {"home-manager": {"unexplained": [], "stale": sorted(KNOWN_HOME_MANAGER)}}


def test_every_vm_test_is_a_check_on_the_flakes_modules(
    nix_instantiate: str, upstream: dict[str, Path], tmp_path: Path
) -> None:
    """flake.nix evaluated (stand-in inputs, runNixOSTest returning what it is given): one vm-<name>
    check per nixos-tests/vm/<name>.nix, each importing that file (or, for Home Manager, the test it
    returns) with this flake's nixosModules.default on every node."""
    got = _flake_checks(nix_instantiate, upstream, tmp_path)
    assert set(got["vmChecks"]) == {f"vm-{p.stem}" for p in VM_TESTS}
    for path in VM_TESTS:
        check = got["vmChecks"][f"vm-{path.stem}"]
        assert check["defaultsAreOurs"] == [True]
        [imported] = check["imports"]
        assert imported == str(path) or imported == f"intel-xpu-{path.stem}", (path, imported)


def test_the_nixos_check_fails_naming_the_cases_nixos_refuses(
    nix_instantiate: str, upstream: dict[str, Path], tmp_path: Path
) -> None:
    """A NixOS that refuses every machine with the GPU stack on: each case that expects no failed
    assertion fails the nixosSystem check, by name, while the stand-in check passes."""
    refuse = """{ config, ... }: { assertions = [ {
      assertion = !(config.hardware.intel-xpu.enable or false); message = "refused by NixOS"; } ]; }"""
    got = _flake_checks(nix_instantiate, upstream, tmp_path, extra=refuse)
    plain, nixos = got["checks"]["eval-modules"], got["checks"]["eval-modules-nixos"]
    assert plain["script"] == f"echo {len(got['cases'])} cases > $out"
    first = nixos["script"].strip().splitlines()[0]
    assert first.startswith('echo "module evaluation cases failed: ') and nixos["script"].rstrip().endswith("exit 1")
    failed = set(first.split(": ", 1)[1].rstrip('" >&2').split())
    assert {"intel-gpu/defaults", "ollama/vulkan-by-default", "documented/example-basic-setup"} <= failed
    assert failed <= set(got["cases"])
    assert "intel-gpu/xe-force-probe" not in failed  # it does not look at assertions


def test_every_documented_configuration_is_a_case(nix_instantiate: str, upstream: dict[str, Path]) -> None:
    """README.md's nix blocks and examples/*: one case each (documented-cases.nix finds them)."""
    import re

    results = eval_nix_list(
        nix_instantiate,
        _with_upstream(
            upstream,
            f"""
      builtins.attrNames (import {REPO}/nixos-tests/eval/documented-cases.nix {{ inherit harness lib upstream; }})""",
        ),
    )
    blocks = len(re.findall(r"^```nix$", (REPO / "README.md").read_text(), flags=re.M))
    examples = {p.name for p in (REPO / "examples").iterdir() if p.is_dir()}
    assert set(results) == (
        {f"example-{e}" for e in examples}
        | {f"readme-block-{i}" for i in range(1, blocks + 1)}
        | {"example-basic-setup-without-mordrag"}
    )
    assert blocks >= 3 and examples >= {"basic-setup", "advanced-workflows"}


# NixOS's own messages, which quote option names in U+2018 and U+2019 (typographic single quotes)
GRUB_ASSERTION = "You must set the option \u2018boot.loader.grub.devices\u2019"
ROOT_ASSERTION = "The \u2018fileSystems\u2019 option does not specify your root file system."


def test_the_template_is_a_whole_machine(nix_instantiate: str, upstream: dict[str, Path]) -> None:
    """examples/basic-setup as `nixos-rebuild` sees it: its flake's modules, the user's
    hardware-configuration.nix as a typical one, nothing of a machine turned off (wholeMachine).
    It evaluates clean; without its boot loader NixOS's GRUB assertion fires, without the hardware
    file its root file system one: the case cannot pass by hiding them. The template ships no
    hardware file of its own (the user generates it)."""
    assert {p.name for p in (REPO / "examples/basic-setup").iterdir()} == {
        "flake.nix",
        "configuration.nix",
        "README.md",
    }
    got = eval_nix_attrs(
        nix_instantiate,
        _with_upstream(
            upstream,
            f"""
      let
        flake = import {REPO}/examples/basic-setup/flake.nix;
        machine = (flake.outputs {{
          nixpkgs.lib = lib // {{ nixosSystem = args: args; }};
          intel-xpu = {{ nixosModules.default.imports = map (f: {REPO}/modules/nixos + "/${{f}}")
            [ "intel-gpu.nix" "ollama.nix" "comfyui.nix" "llama-cpp.nix" "monitoring.nix" ];
            overlays.default = _: _: {{ }}; }};
        }}).nixosConfigurations.ai-box;
        isHardware = m: builtins.isPath m && baseNameOf m == "hardware-configuration.nix";
        typical = {REPO}/nixos-tests/eval/typical-hardware-configuration.nix;
        modules = map (m: if isHardware m then typical else m) machine.modules;
        assertions = modules: (harness {{ wholeMachine = true; inherit modules; }}).failedAssertions;
      in {{
        listsHardware = builtins.any isHardware machine.modules;
        asShipped = assertions modules;
        noBootLoader = assertions (modules ++ [ {{ boot.loader.systemd-boot.enable = lib.mkForce false; }} ]);
        noHardware = assertions (builtins.filter (m: m != typical) modules);
      }}""",
        ),
    )
    assert got["listsHardware"] and got["asShipped"] == []
    assert [m for m in got["noBootLoader"] if m.startswith(GRUB_ASSERTION)] and len(got["noBootLoader"]) == 1
    assert got["noHardware"] == [ROOT_ASSERTION]


def test_the_nixos_check_judges_the_examples_as_whole_machines(
    nix_instantiate: str, upstream: dict[str, Path], tmp_path: Path
) -> None:
    """checks.eval-modules-nixos with the stand-in nixosSystem (GRUB by default, as NixOS): every
    machine without systemd-boot fails it, yet only the examples' cases do, since only they are whole
    machines; for the README's fragments the harness still chooses no boot loader. Only a real
    `nix flake check` has all of NixOS's assertions judge the examples (and `nixos-rebuild build`
    whether they build)."""
    got = _flake_checks(
        nix_instantiate,
        upstream,
        tmp_path,
        extra="{ lib, ... }: { boot.loader.systemd-boot.enable = lib.mkForce false; }",
    )
    assert got["checks"]["eval-modules"]["script"] == f"echo {len(got['cases'])} cases > $out"
    first = got["checks"]["eval-modules-nixos"]["script"].strip().splitlines()[0]
    failed = set(first.split(": ", 1)[1].rstrip('" >&2').split())
    # (the case comparing two evaluations of the template fails alike on both sides)
    assert failed == {f"documented/example-{p.name}" for p in (REPO / "examples").iterdir() if p.is_dir()}


def test_check_only_inputs_stay_out_of_users_lock_files(nix_instantiate: str) -> None:
    """flake.nix's inputs besides nixpkgs and mordrag are the checks' alone: every user-facing
    output (nixosModules, homeManagerModules, overlays, templates) evaluates with them throwing,
    and every example points them at itself (`follows = ""`: not fetched, nothing in its
    flake.lock). The examples take intel-xpu from the same place, the user's copy, that the docs
    name, and no placeholder OWNER is left."""
    got = eval_nix_attrs(
        nix_instantiate,
        f"""
      let
        flake = import {REPO}/flake.nix;
        checkOnly = builtins.filter (n: n != "nixpkgs" && n != "mordrag") (builtins.attrNames flake.inputs);
        gone = n: throw "the check-only input ${{n}} was read";
        self = flake.outputs ({{
          inherit self;
          nixpkgs.lib = {{ composeManyExtensions = l: final: prev: {{ }}; }};
          mordrag = {{ }};
        }} // builtins.listToAttrs (map (n: {{ name = n; value = gone n; }}) checkOnly));
        userFacing = {{ inherit (self) nixosModules homeManagerModules overlays templates; }};
        example = name: (import ({REPO}/examples + "/${{name}}/flake.nix")).inputs.intel-xpu;
        examples = builtins.attrNames (builtins.readDir {REPO}/examples);
      in {{
        inherit checkOnly;
        userFacing = builtins.deepSeq (builtins.mapAttrs (_: builtins.attrNames) userFacing) true;
        examples = builtins.listToAttrs (map (name: {{ inherit name; value = {{
          inherit (example name) url;
          follows = builtins.mapAttrs (_: i: i.follows or null) (example name).inputs;
        }}; }}) examples);
      }}""",
    )
    assert set(got["checkOnly"]) == {"home-manager", "nixos-hardware"} and got["userFacing"]
    for name, ex in got["examples"].items():
        assert ex["url"] == "git+file:///opt/intel-xpu", name
        assert {n: ex["follows"].get(n) for n in got["checkOnly"]} == dict.fromkeys(got["checkOnly"], ""), name
        assert ex["follows"]["nixpkgs"] == "nixpkgs"
    for path in [REPO / "docs/nixos.md", *(REPO / "examples").rglob("*")]:
        if path.is_file():
            assert "OWNER" not in path.read_text(), path
    assert "git+file:///opt/intel-xpu" in (REPO / "docs/nixos.md").read_text()
    assert "git+file:///opt/intel-xpu" in (REPO / "examples/basic-setup/README.md").read_text()


def test_every_assertion_has_a_case_that_fires_it(nix_instantiate: str, upstream: dict[str, Path]) -> None:
    """Each `message = ` of the modules' assertions appears in some case's failedAssertions."""
    import re

    results = eval_nix_attrs(
        nix_instantiate, _with_upstream(upstream, f"import {REPO}/nixos-tests/eval/run.nix {{ inherit lib upstream; }}")
    )
    fired = " ".join(m for r in results.values() for m in r["got"].get("failedAssertions", []))
    sources = "".join(p.read_text() for p in sorted((REPO / "modules").rglob("*.nix")))
    # the string literals a `message =` gives, in every branch of an if
    messages = [
        m.replace('\\"', '"')
        for block in re.findall(r"message =(.*?);\n", sources, flags=re.S)
        for m in re.findall(r'"((?:[^"\\]|\\.)*)"|\'\'(.*?)\'\'', block, flags=re.S)
        for m in m
        if m
    ]
    assert len(messages) >= 12
    for message in messages:
        prefix = re.split(r"\$\{", message.strip().splitlines()[0])[0].strip()  # '' strings lose their indent
        assert prefix and prefix in fired, f"no case fires the assertion starting {prefix!r}"


def test_the_old_nixpkgs_acceleration_is_told_apart_from_the_removed_one(
    nix_instantiate: str, upstream: dict[str, Path]
) -> None:
    """Current nixpkgs declares services.ollama.acceleration as a removed option (invisible);
    the stand-in of the old file declares it as a real one. Only the latter is refused."""
    got = eval_nix(
        nix_instantiate,
        _with_upstream(
            upstream,
            f"""
      let
        options = module:
          (lib.evalModules {{ modules = [ module {{ _module.check = false; _module.args.pkgs = {{ }}; }} ]; }}).options;
        acceleration = o: {{
          declared = o.services.ollama ? acceleration; visible = o.services.ollama.acceleration.visible or true;
        }};
      in {{
        current = acceleration (options upstream.nixos.ollama);
        old = acceleration (options {REPO}/nixos-tests/eval/stand-ins/old-nixpkgs-ollama.nix);
      }}""",
        ),
    )
    assert got == {"current": {"declared": True, "visible": False}, "old": {"declared": True, "visible": True}}


def test_stand_ins_agree_with_the_upstream_files(nix_instantiate: str, upstream: dict[str, Path]) -> None:
    """The drift check in CI: options a stand-in declares that an upstream file also declares have
    the same type and default. Every arm compares what it should (an arm comparing nothing
    fails), and the stand-ins no shared file can judge are named, with the reason."""
    got = eval_nix_attrs(
        nix_instantiate,
        _with_upstream(upstream, f"import {REPO}/nixos-tests/eval/drift-upstream.nix {{ inherit lib upstream; }}"),
    )
    uncompared = got.pop("uncompared")
    assert set(got) == {"old-nixpkgs-ollama", "home-manager"}
    assert not [m for d in got.values() for m in d["mismatches"]], json.dumps(got, indent=2)
    assert set(got["old-nixpkgs-ollama"]["compared"]) == {
        "services.ollama.enable",
        "services.ollama.package",
        "services.ollama.host",
        "services.ollama.port",
        "services.ollama.environmentVariables",
    }
    # Home Manager's own assertions and warnings are nixpkgs' misc/assertions.nix (its modules.nix)
    assert sorted(got["home-manager"]["compared"]) == ["assertions", "warnings"]
    assert set(uncompared) == {"stand-ins/nixos.nix", "stand-ins/nginx-acme.nix"} and all(uncompared.values())


KNOWN_HOME_MANAGER = {"launchd.agents.<name>.config"}
# what checks.drift-stand-ins must compare of the NixOS stand-ins (a sample of every kind: plain,
# inside attrsOf submodules at each depth, and a submodule option beside a plain tree)
NIXOS_COMPARED = {
    "boot.kernelParams",
    "boot.kernelPackages",
    "boot.initrd.kernelModules",
    "environment.sessionVariables",
    "environment.systemPackages",
    "systemd.services.<name>.serviceConfig",
    "systemd.services.<name>.wants",
    "systemd.timers.<name>.timerConfig",
    "systemd.tmpfiles.settings.<name>.<name>.<name>.mode",
    "users.users.<name>.group",
    "users.users.<name>.home",
    "users.groups.<name>.gid",
    "networking.firewall.allowedTCPPorts",
    "services.udev.extraRules",
    "nixpkgs.overlays",
    "nixpkgs.config",
    "system.stateVersion",
    "services.prometheus.exporters.node.enabledCollectors",
    "meta.maintainers",
    "services.nginx.virtualHosts.<name>.locations.<name>.proxyPass",
    "security.acme.defaults.email",
}


def _drift_stand_ins(nix: str, upstream: dict[str, Path], nixos_options: str = "options") -> dict[str, Any]:
    """drift-stand-ins.nix (checks.drift-stand-ins) on the stand-in nixosSystem and Home Manager
    configuration; `nixos_options` may rewrite their NixOS `options`."""
    return eval_nix_attrs(
        nix,
        _with_upstream(
            upstream,
            f"""
      let
        options = (import {REPO}/nixos-tests/eval/stand-ins/nixos-system.nix {{ inherit lib upstream; }} {{
          modules = [ ];
        }}).options;
        homeManager =
          import {REPO}/nixos-tests/eval/stand-ins/home-manager-configuration.nix {{ inherit lib upstream; }};
      in import {REPO}/nixos-tests/eval/drift-stand-ins.nix {{ inherit lib; }} {{
        nixosOptions = {nixos_options};
        homeManagerOptions = (homeManager {{ modules = [ ]; }}).options;
      }}""",
        ),
    )


def test_the_stand_in_drift_check_compares_every_core_stand_in(nix_instantiate: str, upstream: dict[str, Path]) -> None:
    got = _drift_stand_ins(nix_instantiate, upstream)
    nixos, home = got["nixos"], got["home-manager"]
    assert set(nixos["compared"]) >= NIXOS_COMPARED and len(nixos["compared"]) >= 55
    assert nixos["unexplained"] == [] and nixos["missing"] == [] and nixos["stale"] == []
    assert {
        "home.sessionVariables",
        "home.packages",
        "xdg.dataHome",
        "assertions",
        "warnings",
        "launchd.agents.<name>.enable",
        "systemd.user.services.<name>.Service.ExecStart",
        "systemd.user.services.<name>.Unit.X-SwitchMethod",
    } | KNOWN_HOME_MANAGER <= set(home["compared"])
    # compared with themselves, the known approximations do not differ: stale
    assert home["unexplained"] == [] and set(home["stale"]) == KNOWN_HOME_MANAGER


def test_the_stand_in_drift_check_names_what_differs(nix_instantiate: str, upstream: dict[str, Path]) -> None:
    """A NixOS whose boot.kernelParams is a plain list of strings and that has no services.nginx:
    both are named, with what each side declares."""
    got = _drift_stand_ins(
        nix_instantiate,
        upstream,
        """options // {
        boot = options.boot // {
          kernelParams = lib.mkOption { type = lib.types.listOf lib.types.str; default = [ ]; };
        };
        services = removeAttrs options.services [ "nginx" ];
      }""",
    )
    assert got["nixos"]["unexplained"] == [
        {
            "option": "boot.kernelParams",
            "standIn": {"type": "list of string, with spaces inside double quotes", "default": "[]"},
            "real": {"type": "list of string", "default": "[]"},
        },
        {"option": "services.nginx", "real": "not declared"},
    ]


def test_the_core_stand_ins_apply_and_check_as_nixpkgs_does(nix_instantiate: str, upstream: dict[str, Path]) -> None:
    """What a case can observe of the stand-ins' apply and check functions: session variables
    joined with ":" and nulls dropped, firewall ports sorted and unique, a service Type systemd
    does not know refused (checkService), and boot.kernelPackages rebuilt through `extend` and
    `kernel.override`: a `//` on the set is lost, pin-kernel.nix's version survives."""
    got = eval_nix(
        nix_instantiate,
        _with_upstream(
            upstream,
            f"""
      let
        kernelPackages = import {REPO}/nixos-tests/eval/stand-ins/kernel-packages.nix {{ inherit lib; }};
        pin = import {REPO}/nixos-tests/eval/pin-kernel.nix;
        base = kernelPackages "6.12.10";
        eval = module: (lib.evalModules {{
          modules = [
            {REPO}/nixos-tests/eval/stand-ins/nixos.nix {{ _module.args.pkgs.linuxPackages = base; }} module
          ];
        }}).config;
        version = kp: (eval {{ boot.kernelPackages = kp; }}).boot.kernelPackages.kernel.version;
        service = type: builtins.tryEval (builtins.deepSeq
          (eval {{ systemd.services.x.serviceConfig.Type = type; }}).systemd.services.x.serviceConfig true);
        config = eval {{
          environment.sessionVariables = {{ A = [ "/a" "/b" 3 ]; B = null; C = 4; }};
          networking.firewall.allowedTCPPorts = [ 8188 22 8188 ];
        }};
      in {{
        inherit (config.environment) sessionVariables;
        ports = config.networking.firewall.allowedTCPPorts;
        default = (eval {{ }}).boot.kernelPackages.kernel.version;
        pinned = version (pin "6.6.30" base);
        merged = version (base // {{ kernel = base.kernel // {{ version = "6.6.30"; }}; }});
        oneshot = (service "oneshot").success;
        typo = (service "oneshott").success;
      }}""",
        ),
    )
    assert got == {
        "sessionVariables": {"A": "/a:/b:3", "C": "4"},
        "ports": [22, 8188],
        "default": "6.12.10",
        "pinned": "6.6.30",
        "merged": "6.12.10",
        "oneshot": True,
        "typo": False,
    }


def test_the_drift_check_catches_a_stand_in_that_drifted(nix_instantiate: str, upstream: dict[str, Path]) -> None:
    got = eval_nix(
        nix_instantiate,
        _with_upstream(
            upstream,
            f"""
      let
        drift = import {REPO}/nixos-tests/eval/drift.nix {{ inherit lib; }};
        options = module:
          (lib.evalModules {{ modules = [ module {{ _module.check = false; _module.args.pkgs = {{ }}; }} ]; }}).options;
        wrong = {{ options.services.ollama.port = lib.mkOption {{ type = lib.types.int; default = 1; }}; }};
      in (drift {{ standIn = options wrong; real = options upstream.nixos.ollama; }}).mismatches""",
        ),
    )
    assert got == [
        {
            "option": "services.ollama.port",
            "standIn": {"type": "signed integer", "default": "1"},
            "real": {"type": "16 bit unsigned integer; between 0 and 65535 (both inclusive)", "default": "11434"},
        }
    ]


def _unit_file(service_config: dict) -> str:
    """A [Service] section as NixOS writes it (nixos/lib/systemd-lib.nix, attrsToSection: a list
    gives one line per item, booleans read true/false)."""
    lines = ["[Unit]", "Description=unit under test", "[Service]", "ExecStart=/bin/true"]
    for key, value in service_config.items():
        for item in value if isinstance(value, list) else [value]:
            lines.append(f"{key}={str(item).lower() if isinstance(item, bool) else item}")
    return "\n".join(lines) + "\n"


def test_the_export_unit_is_unprivileged_and_hardened(
    nix_instantiate: str, upstream: dict[str, Path], tmp_path: Path
) -> None:
    """systemd's own judgement (systemd-analyze security --offline) of the xpu-export unit the
    module writes: not root, no capabilities, the system read-only but for the textfile directory,
    DRM devices only; overall exposure at most 2.0 ("OK")."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (apt-get install systemd)")
    units = eval_nix_attrs(
        nix_instantiate,
        _with_upstream(
            upstream,
            f"""
      (harness {{ modules = [ {REPO}/modules/nixos/monitoring.nix
                             {{ services.intel-xpu.monitoring.enable = true; }} ]; }}).units""",
        ),
    )
    config = units["xpu-export"]["serviceConfig"]
    assert config["User"] == "xpu-monitoring" and set(config["SupplementaryGroups"]) == {"render", "video"}
    assert config["StateDirectory"] == "xpu-monitoring/textfile" and config["ProtectSystem"] == "strict"
    assert config["DeviceAllow"] == ["char-drm"] and config["DevicePolicy"] == "closed"
    unit = tmp_path / "xpu-export.service"
    unit.write_text(_unit_file(config))
    run = subprocess.run(
        [analyze, "security", "--offline=true", "--threshold=20", "--json=short", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    unmet = {e["name"] for e in json.loads(run.stdout) if e["set"] is False}
    assert (
        not {
            "User=/DynamicUser=",
            "NoNewPrivileges=",
            "ProtectSystem=",
            "ProtectHome=",
            "PrivateTmp=",
            "ProtectKernelTunables=",
            "ProtectKernelModules=",
            "RestrictSUIDSGID=",
        }
        & unmet
    )
    assert not [n for n in unmet if n.startswith("CapabilityBoundingSet=")]
    # the same unit as root fails the threshold: the check can fail
    unit.write_text(_unit_file({**config, "User": "root", "CapabilityBoundingSet": "~"}))
    root = subprocess.run(
        [analyze, "security", "--offline=true", "--threshold=20", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert root.returncode != 0, root.stdout


def test_the_render_node_unit_is_the_one_udev_makes(nix_instantiate: str, upstream: dict[str, Path]) -> None:
    """The unit services order after is the device unit systemd names after the link the udev
    rule gives Intel render nodes (systemd-escape --path), and the rule tags them for systemd."""
    import re

    escape = shutil.which("systemd-escape")
    if escape is None:
        pytest.skip("systemd-escape is not installed (apt-get install systemd)")
    got = eval_nix_attrs(
        nix_instantiate,
        _with_upstream(
            upstream,
            f"""
      let
        r = harness {{ modules = [ {REPO}/modules/nixos/ollama.nix
                                  {{ services.ollama = {{ enable = true; intel.enable = true; }}; }} ]; }};
      in {{ inherit (r) udevRules; inherit (r.ollamaUnit) wants after; }}""",
        ),
    )
    [rule] = got["udevRules"]
    assert 'SUBSYSTEM=="drm"' in rule and 'KERNEL=="renderD*"' in rule and 'TAG+="systemd"' in rule
    symlink = re.search(r'SYMLINK\+="([^"]+)"', rule)
    assert symlink is not None, rule
    link = symlink.group(1)
    unit = subprocess.run(
        [escape, "--path", "--suffix=device", f"/dev/{link}"], capture_output=True, text=True, timeout=30, check=True
    ).stdout.strip()
    assert got["wants"] == [unit] and unit in got["after"]


def test_bad_option_values_are_rejected(nix_instantiate: str, upstream: dict[str, Path]) -> None:
    run = subprocess.run(
        [
            nix_instantiate,
            "--eval",
            "--strict",
            "-E",
            _with_upstream(
                upstream,
                f"""
      (harness {{ modules = [ {REPO}/modules/nixos/intel-gpu.nix
                             {{ hardware.intel-xpu = {{ enable = true; forceProbe = [ "E20B" ]; }}; }} ];
      }}).kernelParams
    """,
            ),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode != 0
    assert "hardware.intel-xpu.forceProbe" in run.stderr and "is not of type" in run.stderr


def test_ci_workflow_runs_the_readme_commands() -> None:
    import yaml

    workflow = yaml.safe_load((REPO / ".github/workflows/ci.yml").read_text())
    jobs = workflow["jobs"]
    assert {"suite", "flake-check", "hardware"} <= set(jobs)

    def runs(job: str) -> str:
        return " ".join(str(step.get("run", "")) for step in jobs[job]["steps"])

    assert "./bootstrap.sh test" in runs("suite") and "./bootstrap.sh test --hardware" in runs("hardware")
    assert "nix flake check" in runs("flake-check")
    # the suite job brings the upstream files bootstrap.sh points the tests at (XPU_UPSTREAM)
    fetched = {
        step["with"]["path"]
        for step in jobs["suite"]["steps"]
        if str(step.get("uses", "")).startswith("actions/checkout") and "path" in step.get("with", {})
    }
    assert fetched == {
        f"upstream/{name}" for name in ("nixpkgs.lib", "nixpkgs", "home-manager", "nixos-hardware", "comfyui")
    }
    assert 'XPU_UPSTREAM="$PWD/upstream" ./bootstrap.sh test' in runs("suite")
    assert jobs["hardware"]["runs-on"] == ["self-hosted", "linux", "intel-gpu"]
    assert "./bootstrap.sh test" in (REPO / ".ci/run").read_text()


def test_ollama_ipex_llm_package_matches_the_environment_ci_runs() -> None:
    """packages/ollama-ipex-llm/wheels.json lists exactly the wheels of the IPEX-LLM environment the
    service tests run against (bootstrap.sh installs it and exports XPU_IPEX_OLLAMA_VENV)."""
    venv = os.environ.get("XPU_IPEX_OLLAMA_VENV")
    if not venv or not (Path(venv) / "bin" / "python").exists():
        pytest.skip("XPU_IPEX_OLLAMA_VENV is not set (./bootstrap.sh test sets it)")
    listed = subprocess.run(
        [f"{venv}/bin/python", "-m", "pip", "list", "--format=json", "--disable-pip-version-check"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    installed = {p["name"].lower(): p["version"] for p in json.loads(listed.stdout)}
    installed.pop("pip", None)
    installed.pop("setuptools", None)
    wheels = json.loads((REPO / "packages/ollama-ipex-llm/wheels.json").read_text())
    assert {w["pname"].lower(): w["version"] for w in wheels} == installed
    for w in wheels:
        assert w["url"].startswith("https://files.pythonhosted.org/packages/") and w["url"].endswith(".whl")
        assert w["hash"].startswith("sha256-") and len(w["hash"]) == 51


PYTHON_PACKAGES = ("xpu-tool", "xpu-testkit")
# what the package.nix files take from outside the Python package set
SYSTEM_PACKAGES = ("level-zero", "ocl-icd", "clinfo", "vulkan-tools", "qemu_kvm")


def _pyproject_dependencies(package: str) -> set[str]:
    import re

    project = tomllib.loads((REPO / "packages" / package / "pyproject.toml").read_text())["project"]
    # nixpkgs names Python packages by their normalised PyPI name (PEP 503).
    return {
        re.sub(r"[-_.]+", "-", re.split(r"[<>=!~; \[]", dep, maxsplit=1)[0]).lower() for dep in project["dependencies"]
    }


def _python_packages(nix: str, extension: str = "_: _: { }") -> dict[str, dict[str, Any]]:
    """The overlay's pythonPackagesExtensions applied to a stand-in Python package set that holds
    only pyproject's dependencies, the build backend and the interpreter, in front of a top level
    with only the system packages: a name the package sets lack fails to evaluate. callPackage
    passes a function the arguments it names, as nixpkgs' does; `extension` comes after the
    overlay's (e.g. a user's override of xpu-tool)."""
    names = sorted(set().union(*map(_pyproject_dependencies, PYTHON_PACKAGES)) - set(PYTHON_PACKAGES))
    return eval_nix_attrs(
        nix,
        f"""
      let
        lib = {{
          fileset = {{ toSource = a: a.root; unions = l: l; }};
          makeLibraryPath = l: "LIBS"; makeBinPath = l: "BINS"; meta.defaultPriority = 5;
          licenses.mit = "mit"; platforms.linux = [ ];
        }};
        top = {{ inherit lib; }} // builtins.listToAttrs (map (n: {{ name = n; value = {{ pname = n; }}; }})
          (builtins.fromJSON ''{json.dumps(list(SYSTEM_PACKAGES))}''));
        buildPythonPackage = args: args // {{
          overridePythonAttrs = f: buildPythonPackage (args // f args);
        }};
        base = self: builtins.listToAttrs (map (n: {{ name = n; value = {{ pname = n; }}; }})
          (builtins.fromJSON ''{json.dumps([*names, "setuptools"])}'')) // {{
          inherit buildPythonPackage;
          pythonOlder = version: "older than " + version;  # what `disabled` asks
          python.interpreter = "/python";
          callPackage = path: extra: let f = import path; in
            f (builtins.intersectAttrs (builtins.functionArgs f) (top // self) // extra);
        }};
        ps = {python_package_set("base", extension)};
        describe = drv: {{
          inherit (drv) pname version makeWrapperArgs disabled;
          dependencies = map (p: p.pname) drv.dependencies;
          build = map (p: p.pname) drv.build-system;
        }};
      in {{ xpu-tool = describe ps.xpu-tool; xpu-testkit = describe ps.xpu-testkit; }}
    """,
    )


@pytest.mark.parametrize("package", PYTHON_PACKAGES)
def test_python_package_nix_dependencies_match_pyproject(nix_instantiate: str, package: str) -> None:
    """Each package.nix, as the overlay adds it to the Python package set, depends on exactly
    pyproject's dependencies (the test kit on the set's own xpu-tool)."""
    got = _python_packages(nix_instantiate)[package]
    assert got["build"] == ["setuptools"]
    requires = tomllib.loads((REPO / "packages" / package / "pyproject.toml").read_text())["project"]["requires-python"]
    assert requires.startswith(">=") and got["disabled"] == f"older than {requires[2:]}"
    assert sorted(got["dependencies"]) == sorted(_pyproject_dependencies(package))


def test_an_override_of_the_host_tool_reaches_the_test_kit(nix_instantiate: str) -> None:
    """The test kit's `xpu` is wrapped with the host tool's makeWrapperArgs (Level Zero, OpenCL,
    clinfo) plus QEMU, read from the package set: a user's extension that overrides ps.xpu-tool
    changes both."""
    plain = _python_packages(nix_instantiate)
    tool, kit = plain["xpu-tool"]["makeWrapperArgs"], plain["xpu-testkit"]["makeWrapperArgs"]
    assert tool == ["--prefix", "LD_LIBRARY_PATH", ":", "LIBS", "--prefix", "PATH", ":", "BINS"]
    assert kit == [*tool, "--prefix", "PATH", ":", "BINS"]
    assert plain["xpu-testkit"]["version"] == plain["xpu-tool"]["version"]  # released together
    extended = _python_packages(
        nix_instantiate,
        """final: prev: {
        xpu-tool = prev.xpu-tool.overridePythonAttrs (old: {
          makeWrapperArgs = old.makeWrapperArgs ++ [ "--set" "ZE_AFFINITY_MASK" "0" ];
        });
      }""",
    )
    assert extended["xpu-testkit"]["makeWrapperArgs"] == [
        *tool,
        "--set",
        "ZE_AFFINITY_MASK",
        "0",
        "--prefix",
        "PATH",
        ":",
        "BINS",
    ]


# -- NixOS VM tests: what can be checked without nixpkgs ------------------------------------------

VM_TESTS = sorted((REPO / "nixos-tests" / "vm").glob("*.nix"))
# The names nixpkgs' test driver gives a testScript besides one per node (nixos/lib/test-driver/
# src/test_driver/driver.py, Driver.test_symbols; "machine" too when there is one node).
DRIVER_SYMBOLS = {
    "start_all",
    "test_script",
    "machines_qemu",
    "machines_nspawn",
    "vlans",
    "driver",
    "log",
    "os",
    "create_machine",
    "subtest",
    "run_tests",
    "join_all",
    "retry",
    "serial_stdout_off",
    "serial_stdout_on",
    "polling_condition",
    "BaseMachine",
    "t",
    "debug",
}


def test_there_are_vm_tests() -> None:
    assert {p.stem for p in VM_TESTS} >= {"intel-gpu", "ollama", "comfyui", "home-manager"}


@pytest.mark.parametrize("path", VM_TESTS, ids=lambda p: p.stem)
def test_vm_test_script_compiles(path: Path, nix_instantiate: str) -> None:
    """The test module evaluates to a name, nodes and a testScript that is valid Python whose free
    names are nodes or driver symbols (a typo'd node name fails here, not after a VM build)."""
    import ast
    import builtins

    # a test that needs flake inputs is a function of them: give it stand-ins
    test = eval_nix(
        nix_instantiate,
        f"""
      let
        f = import {path};
        t = if builtins.isFunction f then f (builtins.mapAttrs (_: _: {{ }}) (builtins.functionArgs f)) else f;
      in {{ inherit (t) name testScript; nodes = builtins.attrNames t.nodes; }}
    """,
    )
    assert isinstance(test, dict) and test["name"].startswith("intel-xpu-") and test["nodes"]
    tree = ast.parse(test["testScript"], filename=f"{path.name}:testScript")
    nodes = set(test["nodes"]) | ({"machine"} if len(test["nodes"]) == 1 else set())
    bound = set(dir(builtins)) | DRIVER_SYMBOLS | nodes
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            bound |= {a.asname or a.name.split(".")[0] for a in node.names}
        elif isinstance(node, (ast.FunctionDef, ast.arg)):
            bound.add(node.name if isinstance(node, ast.FunctionDef) else node.arg)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            bound.add(node.id)
    free = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)} - bound
    assert not free, f"{path.name}: testScript uses undefined names {sorted(free)}"


def test_the_lock_update_opens_a_pull_request_only_after_the_flake_check() -> None:
    import yaml

    workflow = yaml.safe_load((REPO / ".github/workflows/update-flake-lock.yml").read_text())
    assert workflow[True]["schedule"]  # PyYAML reads the key `on` as True
    steps = workflow["jobs"]["update"]["steps"]
    names = [step.get("run", "") + step.get("uses", "") for step in steps]
    update = next(i for i, s in enumerate(names) if "nix flake update" in s)
    check = next(i for i, s in enumerate(names) if "nix flake check" in s)
    pull_request = next(i for i, s in enumerate(names) if "create-pull-request" in s)
    assert update < check < pull_request
    assert not any("continue-on-error" in step or "if" in step for step in steps[check:])  # nothing bypasses the gate
