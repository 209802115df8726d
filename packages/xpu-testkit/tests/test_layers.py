"""The package's layers, read from its source with ``ast``: no import runs upward, none runs in a circle.

Layers, lowest first (docs/architecture.md draws them):

  0 foundation   errors, result types, PCI ids, processes, bounded HTTP, the collectors' own scripts
  1 transport    how commands reach a machine (testinfra's backends, a VM's console)
  2 target       Target and its verbs, the inventory, resolving a URL or an inventory name
  3 probes       probes and the collectors they run on a target
  4 diagnosis    findings from probe results; the doctor
  5 services     Ollama, ComfyUI, their benchmarks, upstream versions, the VM runner, test doubles
  6 apps         the CLI, the pytest plugin, the Prometheus export

A module may import its own layer or one below. Imports inside functions count too.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

import xpu_testkit

PACKAGE = Path(xpu_testkit.__file__).parent

LAYERS: dict[str, int] = {  # module (or package prefix) -> layer; the longest prefix decides
    "xpu_testkit": 0, "xpu_tool.errors": 0, "xpu_tool.model": 0, "xpu_tool.gpu_ids": 0,
    "xpu_tool.process": 0, "xpu_tool.http": 0, "xpu_tool.remote": 0, "xpu_tool.workflows": 0,
    "xpu_tool.transport": 1,
    "xpu_tool.target": 2, "xpu_tool.inventory": 2, "xpu_tool.targets": 2,
    "xpu_tool.probes": 3, "xpu_tool.remote_exec": 3,
    "xpu_tool.diagnosis": 4, "xpu_tool.doctor": 4,
    "xpu_tool.services": 5, "xpu_testkit.bench": 5, "xpu_tool.upstream": 5, "xpu_testkit.vm": 5,
    "xpu_testkit.doubles": 5,
    "xpu_tool.cli": 6, "xpu_tool.__main__": 6, "xpu_testkit.pytest_plugin": 6,
    "xpu_testkit.pytest_fixtures": 6, "xpu_testkit.pytest_session": 6, "xpu_tool.export": 6,
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


def all_modules(package: Path = PACKAGE) -> dict[str, Path]:
    return {module_name(p, package): p for p in sorted(package.rglob("*.py"))}


def layer(module: str) -> int:
    for prefix in sorted(LAYERS, key=len, reverse=True):
        if module == prefix or module.startswith(prefix + "."):
            return LAYERS[prefix]
    raise KeyError(module)


def imports(modules: dict[str, Path]) -> list[Import]:
    """Every import of one of the package's modules, resolved to the module it loads."""
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
            found += [Import(name, t, node.lineno) for t in targets if t.split(".")[0] == "xpu_testkit"]
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
    unplaced = [m for m in all_modules() if not any(m == p or m.startswith(p + ".") for p in LAYERS)]
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


def test_no_import_circle(package_imports: list[Import]) -> None:
    circle = cycle(edges_of(package_imports))
    assert circle is None, " -> ".join(circle or [])


def test_the_checks_catch_what_they_look_for(tmp_path: Path) -> None:
    """The same functions on a package with an upward import (target -> vm) and a circle."""
    package = tmp_path / "xpu_testkit"
    (package / "vm").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "vm" / "__init__.py").write_text("")
    (package / "target.py").write_text("def f():\n    from .vm.console import Shell\n")
    (package / "vm" / "console.py").write_text("from .. import target\nfrom ..target import f\n")
    found = imports(all_modules(package))
    assert upward(found) == ["xpu_tool.target:2 (target) imports xpu_testkit.vm.console (services)"]
    assert cycle(edges_of(found)) == ["xpu_tool.target", "xpu_testkit.vm.console", "xpu_tool.target"]
    assert cycle({"a": {"b"}, "b": {"c"}}) is None
    assert layer("xpu_tool.transport.console") < layer("xpu_tool.target") < layer("xpu_tool.probes.pci")
    assert layer("xpu_tool.cli.doctor") == NAMES.index("apps")


def test_target_schemes_are_the_transports() -> None:
    from xpu_tool.target import TARGET_SCHEMES
    from xpu_tool.transport import SCHEMES

    assert tuple(TARGET_SCHEMES) == SCHEMES
