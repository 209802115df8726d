"""The two packages' layers, read from their source with ``ast``: no import runs upward, none runs in a
circle, and the host tool (xpu_tool) never imports the test kit (xpu_testkit) that is built on it.

Layers, lowest first, across both packages (docs/architecture.md draws them):

  0 foundation   errors, result types, PCI ids, processes, threads, atomic writes, bounded HTTP, the
                 collectors' own scripts
  1 transport    how commands reach a machine (testinfra's backends, a VM's console)
  2 target       Target and its verbs
  3 probes       probes (and their registry) and the collectors they run on a target
  4 diagnosis    findings from probe results; the doctor
  5 services     Ollama, ComfyUI, upstream versions; the inventory and resolving a URL or an
                 inventory name (its keys come from the probe and service registries); in the test
                 kit the benchmarks, server launchers and doubles, the VM runner
  6 apps         the CLI, the Prometheus export; the test kit's commands and pytest plugin

A module may import its own layer or one below. Imports inside functions count too.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

import xpu_testkit
import xpu_tool

TOOL = Path(xpu_tool.__file__).parent
TEST_KIT = Path(xpu_testkit.__file__).parent
PACKAGES = {"xpu_tool", "xpu_testkit"}

LAYERS: dict[str, int] = {  # module (or package prefix) -> layer; the longest prefix decides
    "xpu_tool": 0, "xpu_testkit": 0, "xpu_tool.errors": 0, "xpu_tool.model": 0, "xpu_tool.gpu_ids": 0,
    "xpu_tool.process": 0, "xpu_tool.http": 0, "xpu_tool.atomic": 0, "xpu_tool.threads": 0,
    "xpu_tool.remote": 0, "xpu_tool.workflows": 0,
    "xpu_tool.transport": 1,
    "xpu_tool.target": 2, "xpu_tool.inventory": 5, "xpu_tool.targets": 5,
    "xpu_tool.probes": 3, "xpu_tool.remote_exec": 3,
    "xpu_tool.diagnosis": 4, "xpu_tool.doctor": 4,
    "xpu_tool.services": 5, "xpu_tool.upstream": 5,
    "xpu_testkit.services": 5, "xpu_testkit.bench": 5, "xpu_testkit.vm": 5, "xpu_testkit.doubles": 5,
    "xpu_tool.cli": 6, "xpu_tool.__main__": 6, "xpu_tool.export": 6,
    "xpu_testkit.cli": 6, "xpu_testkit.pytest_plugin": 6,
    "xpu_testkit.pytest_fixtures": 6, "xpu_testkit.pytest_session": 6,
}
NAMES = ("foundation", "transport", "target", "probes", "diagnosis", "services", "apps")


@dataclass(frozen=True)
class Import:
    source: str
    target: str
    line: int


def module_name(path: Path, package: Path) -> str:
    parts = path.relative_to(package.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def all_modules(*packages: Path) -> dict[str, Path]:
    return {module_name(p, package): p for package in packages or (TOOL, TEST_KIT) for p in sorted(package.rglob("*.py"))}


def placed_by(module: str, prefix: str) -> bool:
    """A package root (its __init__) places itself only, not every module under it."""
    return module == prefix or (prefix not in PACKAGES and module.startswith(prefix + "."))


def layer(module: str) -> int:
    for prefix in sorted(LAYERS, key=len, reverse=True):
        if placed_by(module, prefix):
            return LAYERS[prefix]
    raise KeyError(module)


def imports(modules: dict[str, Path]) -> list[Import]:
    """Every import of one of the packages' modules, resolved to the module it loads."""
    found = []
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    base = ".".join([*anchor, *([node.module] if node.module else [])])
                # `from pkg import mod` loads pkg.mod; `from mod import name` loads mod
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            found += [Import(name, t, node.lineno) for t in targets if t.split(".")[0] in PACKAGES]
    return found


def cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import circle among the modules, or None."""
    state: dict[str, int] = {}  # 1 on the path being walked, 2 done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt):], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(edges):
        if start not in state and (found := visit(start)):
            return found
    return None


@pytest.fixture(scope="module")
def package_imports() -> list[Import]:
    return imports(all_modules())


def test_every_module_has_a_layer() -> None:
    unplaced = [m for m in all_modules() if not any(placed_by(m, p) for p in LAYERS)]
    assert not unplaced, f"add these modules to LAYERS: {unplaced}"


def test_every_import_resolves_to_a_module(package_imports: list[Import]) -> None:
    modules = all_modules()
    dangling = [i for i in package_imports if i.target not in modules]
    assert not dangling, dangling


def upward(found: list[Import]) -> list[str]:
    return [f"{i.source}:{i.line} ({NAMES[layer(i.source)]}) imports {i.target} ({NAMES[layer(i.target)]})"
            for i in found if layer(i.target) > layer(i.source)]


def edges_of(found: list[Import]) -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for i in found:
        if i.target != i.source:
            edges.setdefault(i.source, set()).add(i.target)
    return edges


def test_no_import_runs_upward(package_imports: list[Import]) -> None:
    assert not upward(package_imports), "\n".join(upward(package_imports))


def into_the_test_kit(found: list[Import]) -> list[str]:
    return [f"{i.source}:{i.line} imports {i.target}" for i in found
            if i.source.split(".")[0] == "xpu_tool" and i.target.split(".")[0] == "xpu_testkit"]


def test_the_host_tool_stands_alone(package_imports: list[Import]) -> None:
    """xpu_tool is installed without the test kit (the NixOS modules' `xpu`): it never imports it,
    not even inside a function. The test kit's commands reach the CLI through entry points."""
    assert not into_the_test_kit(package_imports), "\n".join(into_the_test_kit(package_imports))


def test_no_import_circle(package_imports: list[Import]) -> None:
    circle = cycle(edges_of(package_imports))
    assert circle is None, " -> ".join(circle or [])


def test_the_checks_catch_what_they_look_for(tmp_path: Path) -> None:
    """The same functions on packages with an upward import (target -> vm), a circle, and the host
    tool reaching into the test kit."""
    tool, kit = tmp_path / "xpu_tool", tmp_path / "xpu_testkit"
    (kit / "vm").mkdir(parents=True)
    tool.mkdir()
    for init in (tool / "__init__.py", kit / "__init__.py", kit / "vm" / "__init__.py"):
        init.write_text("")
    (tool / "target.py").write_text("def f():\n    from xpu_testkit.vm.console import Shell\n")
    (kit / "vm" / "console.py").write_text("from xpu_tool import target\nfrom xpu_tool.target import f\n")
    found = imports(all_modules(tool, kit))
    assert upward(found) == ["xpu_tool.target:2 (target) imports xpu_testkit.vm.console (services)"]
    assert into_the_test_kit(found) == ["xpu_tool.target:2 imports xpu_testkit.vm.console"]
    assert cycle(edges_of(found)) == ["xpu_testkit.vm.console", "xpu_tool.target", "xpu_testkit.vm.console"]
    assert cycle({"a": {"b"}, "b": {"c"}}) is None
    assert not placed_by("xpu_tool.new_module", "xpu_tool"), "a module under a package root needs its own entry"
    assert layer("xpu_tool.transport.console") < layer("xpu_tool.target") < layer("xpu_tool.probes.pci")
    assert layer("xpu_tool.cli.doctor") == NAMES.index("apps")


def test_target_schemes_are_the_transports() -> None:
    from xpu_tool.target import TARGET_SCHEMES
    from xpu_tool.transport import SCHEMES

    assert tuple(TARGET_SCHEMES) == SCHEMES
