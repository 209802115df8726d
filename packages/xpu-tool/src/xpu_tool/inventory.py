"""The inventory: which machines to test and what each must show, in YAML.

Example::

    targets:
      arc-box:
        url: ssh://root@arc-box.lan
        user: ollama                  # whose render-node access to judge
        expect:
          runtimes: [level_zero, sycl, opencl]
          min_gpus: 1
          gpu: Arc A770               # a name every listed runtime must show
        services:
          ollama: http://arc-box.lan:11434
          comfyui: http://arc-box.lan:8188
      lab-passthrough:                # pytest runs on this lab host; the GPU goes into a VM
        url: local://
        passthrough:
          pci: "0000:03:00.0"          # the GPU, or an SR-IOV virtual function
          vm: {run_script: /nix/store/...-nixos-vm/bin/run-xpu-test-vm}   # or kernel/initrd/append
          memory_mb: 8192
          expect_device: Arc A770      # must enumerate inside on Level Zero and SYCL
          force: false                 # true: take a GPU that drives the host display

Errors name the file and line (``inventory.yaml:7: targets.arc-box.url: ...``).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .errors import ConfigError
from .probes import registry
from .services.registry import services as registered_services
from .transport import SCHEMES
from .urls import check_url

MAX_BYTES = 1 << 20  # an inventory lists machines; a larger file is a mistake, not an inventory
MAX_DEPTH = 32  # the schema nests 5 levels; deeper YAML is refused before Python's recursion limit
DECIMAL = re.compile(r"^(0|[1-9][0-9]*)$")
# the service keys: every registered service (services.registry, spelled with _) and comfyui_cpu, the same
# ComfyUI started with --cpu (the CPU side of the hardware suite's ComfyUI benchmark)
CPU_SIDES = ("comfyui_cpu",)


def service_keys() -> tuple[str, ...]:
    return tuple(s.dest for s in registered_services()) + CPU_SIDES


@dataclass(frozen=True)
class Expectations:
    runtimes: tuple[str, ...] = ("level_zero", "sycl", "opencl")
    min_gpus: int = 1
    gpu: str | None = None


@dataclass(frozen=True)
class Passthrough:
    """A VFIO passthrough run: which device, which VM, what must show up inside."""

    pci: str
    run_script: str | None = None
    kernel: str | None = None
    initrd: str | None = None
    append: str = "console=ttyS0 panic=-1"
    memory_mb: int = 4096
    expect_device: str | None = None
    force: bool = False


@dataclass(frozen=True)
class InventoryTarget:
    name: str
    url: str
    user: str | None = None
    expect: Expectations = field(default_factory=Expectations)
    services: dict[str, str] = field(default_factory=dict)
    passthrough: Passthrough | None = None


@dataclass(frozen=True)
class Inventory:
    path: str
    targets: tuple[InventoryTarget, ...]

    def get(self, name: str) -> InventoryTarget | None:
        return next((t for t in self.targets if t.name == name), None)


class _TooDeep(yaml.YAMLError):
    def __init__(self, mark: yaml.Mark) -> None:
        super().__init__(f"nested deeper than {MAX_DEPTH} levels")
        self.mark = mark


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader that refuses YAML nested deeper than MAX_DEPTH (its composer recurses per level)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.depth = 0

    def compose_node(self, parent: yaml.Node | None, index: object) -> yaml.Node | None:
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                raise _TooDeep(self.peek_event().start_mark)
            return super().compose_node(parent, index)  # type: ignore[arg-type]  # PyYAML passes None or the key node too; its stub says int
        finally:
            self.depth -= 1


def _character(code: int) -> str:
    """'control character U+001B' (or 'character U+FFFE' for another one YAML refuses)."""
    kind = "control character" if unicodedata.category(chr(code)) == "Cc" else "character"
    return f"{kind} U+{code:04X}"


def _control(value: str) -> str | None:
    """The first control character in ``value``, named, or None."""
    return next((_character(ord(ch)) for ch in value if unicodedata.category(ch) == "Cc"), None)


def _compose(text: str, path: str) -> yaml.Node | None:
    if len(text) > MAX_BYTES:
        raise ConfigError(f"{path}: larger than {MAX_BYTES // 1024} KiB; not an inventory")
    try:
        loader = _BoundedLoader(text)  # its reader refuses characters YAML does not allow, before parsing
    except yaml.reader.ReaderError as exc:
        at = text.count("\n", 0, exc.position) + 1
        what = _character(exc.character) if isinstance(exc.character, int) else "a character"
        raise ConfigError(
            f"{path}:{at}: malformed YAML: {what} is not allowed (only tab, newline and printable characters)"
        ) from None
    try:
        return loader.get_single_node()
    except _TooDeep as exc:
        raise ConfigError(f"{path}:{exc.mark.line + 1}: YAML {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f"{mark.line + 1}:" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}:{line} malformed YAML: {problem}") from None
    finally:
        loader.dispose()


class _Checker:
    def __init__(self, path: str) -> None:
        self.path = path

    def fail(self, node: yaml.Node, where: str, message: str) -> ConfigError:
        return ConfigError(f"{self.path}:{node.start_mark.line + 1}: {where}: {message}")

    def mapping(self, node: yaml.Node, where: str, allowed: tuple[str, ...] | None = None) -> dict[str, yaml.Node]:
        if not isinstance(node, yaml.MappingNode):
            raise self.fail(node, where, "expected a mapping")
        out: dict[str, yaml.Node] = {}
        for key, value in node.value:
            if not isinstance(key, yaml.ScalarNode):
                raise self.fail(key, where, "keys must be plain strings")
            control = _control(key.value)  # an escaped one ("\e", "\0"): the key would be echoed raw
            if control:
                raise self.fail(key, where, f"{control} is not allowed in a key")
            if allowed is not None and key.value not in allowed:
                raise self.fail(key, where, f"unknown key {key.value[:80]!r} (allowed: {', '.join(allowed)})")
            if key.value in out:
                raise self.fail(key, where, f"duplicate key {key.value[:80]!r}")
            out[key.value] = value
        return out

    def string(self, node: yaml.Node, where: str) -> str:
        if not isinstance(node, yaml.ScalarNode) or node.tag != "tag:yaml.org,2002:str" or not node.value:
            raise self.fail(node, where, "expected a non-empty string")
        control = _control(node.value)
        if control:
            raise self.fail(node, where, f"{control} is not allowed")
        value: str = node.value  # a scalar node's value is its text
        return value

    def integer(self, node: yaml.Node, where: str) -> int:
        if not isinstance(node, yaml.ScalarNode) or node.tag != "tag:yaml.org,2002:int":
            raise self.fail(node, where, "expected an integer")
        if not DECIMAL.match(node.value):  # YAML 1.1 reads 017 as octal 15 and 1:30 as 90
            raise self.fail(node, where, f"expected a non-negative decimal integer like 2, not {node.value[:40]!r}")
        return int(node.value)

    def url(self, node: yaml.Node, where: str, schemes: tuple[str, ...]) -> str:
        value = self.string(node, where)
        scheme = value.partition("://")[0] if "://" in value else ""
        if scheme not in schemes:
            raise self.fail(node, where, f"expected a URL starting with {' or '.join(s + '://' for s in schemes)}")
        if scheme in ("http", "https"):
            try:
                check_url(value)
            except ValueError as exc:  # brackets left open, a host IDNA cannot encode, port 0
                raise self.fail(node, where, f"not a usable URL: {exc}") from None
        return value


def parse_inventory(text: str, path: str = "<inventory>") -> Inventory:
    c = _Checker(path)
    root = _compose(text, path)
    if root is None:
        raise ConfigError(f"{path}: empty inventory (expected a 'targets' mapping)")
    top = c.mapping(root, "inventory", ("targets",))
    if "targets" not in top:
        raise c.fail(root, "inventory", "missing 'targets'")
    listed = c.mapping(top["targets"], "targets")
    if not listed:
        raise c.fail(top["targets"], "targets", "no targets (list at least one, e.g. 'here: {url: local://}')")
    targets = []
    for name, node in listed.items():
        where = f"targets.{name}"
        t = c.mapping(node, where, ("url", "user", "expect", "services", "passthrough"))
        if "url" not in t:
            raise c.fail(node, where, "missing 'url'")
        url = c.url(t["url"], f"{where}.url", SCHEMES)
        user = c.string(t["user"], f"{where}.user") if "user" in t else None
        expect = Expectations()
        if "expect" in t:
            e = c.mapping(t["expect"], f"{where}.expect", ("runtimes", "min_gpus", "gpu"))
            runtimes = expect.runtimes
            if "runtimes" in e:
                seq = e["runtimes"]
                if not isinstance(seq, yaml.SequenceNode):
                    raise c.fail(
                        seq, f"{where}.expect.runtimes", f"expected a list of {', '.join(registry.runtimes())}"
                    )
                runtimes = tuple(c.string(item, f"{where}.expect.runtimes") for item in seq.value)
                for item, value in zip(seq.value, runtimes, strict=True):
                    if value not in registry.runtimes():
                        raise c.fail(
                            item,
                            f"{where}.expect.runtimes",
                            f"unknown runtime {value!r} (known: {', '.join(registry.runtimes())})",
                        )
            expect = Expectations(
                runtimes=runtimes,
                min_gpus=c.integer(e["min_gpus"], f"{where}.expect.min_gpus") if "min_gpus" in e else 1,
                gpu=c.string(e["gpu"], f"{where}.expect.gpu") if "gpu" in e else None,
            )
        services = {}
        if "services" in t:
            for svc, snode in c.mapping(t["services"], f"{where}.services", service_keys()).items():
                services[svc] = c.url(snode, f"{where}.services.{svc}", ("http", "https"))
        passthrough = _passthrough(c, t["passthrough"], f"{where}.passthrough") if "passthrough" in t else None
        targets.append(InventoryTarget(name, url, user, expect, services, passthrough))
    return Inventory(path, tuple(targets))


PCI_ADDRESS = re.compile(r"^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$")


def _passthrough(c: _Checker, node: yaml.Node, where: str) -> Passthrough:
    p = c.mapping(node, where, ("pci", "vm", "memory_mb", "expect_device", "force"))
    if "pci" not in p or "vm" not in p:
        raise c.fail(node, where, "needs 'pci' and 'vm'")
    pci = c.string(p["pci"], f"{where}.pci")
    if not PCI_ADDRESS.match(pci):
        raise c.fail(p["pci"], f"{where}.pci", "expected a PCI address like 0000:03:00.0")
    vm = {
        k: c.string(v, f"{where}.vm.{k}")
        for k, v in c.mapping(p["vm"], f"{where}.vm", ("run_script", "kernel", "initrd", "append")).items()
    }
    if ("run_script" in vm) == ("kernel" in vm):
        raise c.fail(p["vm"], f"{where}.vm", "give either run_script or kernel (with initrd and append)")
    force = False
    if "force" in p:
        if not isinstance(p["force"], yaml.ScalarNode) or p["force"].tag != "tag:yaml.org,2002:bool":
            raise c.fail(p["force"], f"{where}.force", "expected true or false")
        force = p["force"].value.lower() in ("true", "yes", "on")
    return Passthrough(
        pci=pci,
        run_script=vm.get("run_script"),
        kernel=vm.get("kernel"),
        initrd=vm.get("initrd"),
        append=vm.get("append", Passthrough.append),
        memory_mb=c.integer(p["memory_mb"], f"{where}.memory_mb") if "memory_mb" in p else 4096,
        expect_device=c.string(p["expect_device"], f"{where}.expect_device") if "expect_device" in p else None,
        force=force,
    )


def load_inventory(path: str | Path) -> Inventory:
    p = Path(path)
    try:
        with p.open("rb") as f:
            data = f.read(MAX_BYTES + 1)
        text = data.decode()
    except OSError as exc:
        raise ConfigError(f"cannot read inventory {p}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"cannot read inventory {p}: not UTF-8 text") from None
    return parse_inventory(text, str(p))
