"""Ask PyTorch whether it sees Intel GPUs (torch.xpu); print one JSON object.

Self-contained (standard library plus torch if present). What files can tell is read without
importing torch (which takes seconds, more with a CUDA build): its version and build flavours
from ``torch/version.py``, whether it has a ``torch.xpu`` module, IPEX's version from its
metadata. torch is imported (to ask ``torch.xpu.is_available()``) only when the answer can
matter: an XPU build on a machine whose PCI bus has an Intel GPU, or ``XPU_TORCH_IMPORT=1``.
"""

from __future__ import annotations

import ast
import glob
import importlib.metadata
import importlib.util
import json
import os
import sys

VERSION_FIELDS = ("__version__", "cuda", "hip", "xpu")


def version_file(path: str) -> dict:
    """The string assignments of torch/version.py (it is generated: plain ``name = 'value'`` lines)."""
    with open(path, encoding="utf-8") as handle:
        tree = ast.parse(handle.read(), path)
    out: dict = {}
    for node in tree.body:
        target = (
            node.targets[0]
            if isinstance(node, ast.Assign) and len(node.targets) == 1
            else getattr(node, "target", None)
        )
        value = getattr(node, "value", None)
        if isinstance(target, ast.Name) and target.id in VERSION_FIELDS and isinstance(value, ast.Constant):
            out[target.id] = value.value
    return out


def intel_gpu_on_pci(sys_root: str = "/sys") -> bool:
    """An Intel (0x8086) display-class (0x03xxxx) PCI device, as the sysfs scan counts them."""
    for device in glob.glob(os.path.join(sys_root, "bus/pci/devices/*")):
        try:
            with open(os.path.join(device, "vendor")) as v, open(os.path.join(device, "class")) as c:
                if v.read().strip() == "0x8086" and c.read().strip().startswith("0x03"):
                    return True
        except OSError:
            continue
    return False


def _ipex_version() -> str | None:
    if importlib.util.find_spec("intel_extension_for_pytorch") is None:
        return None
    try:
        return importlib.metadata.version("intel_extension_for_pytorch")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def from_files() -> dict | None:
    """The facts torch's files give, or None when they cannot be read (then torch is imported)."""
    try:
        spec = importlib.util.find_spec("torch")
    except (ImportError, ValueError) as exc:
        return {"available": False, "error": f"{type(exc).__name__}: {exc}"}
    if spec is None or not spec.submodule_search_locations:
        return {"available": False, "error": "ModuleNotFoundError: No module named 'torch'"}
    root = next(iter(spec.submodule_search_locations))
    try:
        facts = version_file(os.path.join(root, "version.py"))
    except (OSError, SyntaxError, ValueError):
        return None
    if "__version__" not in facts:
        return None
    return {
        "available": True,
        "version": facts["__version__"],
        "xpu_build": facts.get("xpu"),
        "cuda_build": facts.get("cuda"),
        "has_xpu_module": os.path.isfile(os.path.join(root, "xpu", "__init__.py")),
        "ipex_version": _ipex_version(),
        "imported": False,
    }


def from_import() -> dict:
    try:
        import torch  # noqa: PLC0415 - its absence is a result
    except Exception as exc:  # noqa: BLE001 - ImportError, or a broken install raising at import: a result
        return {"available": False, "error": f"{type(exc).__name__}: {exc}"}
    out: dict = {
        "available": True,
        "version": torch.__version__,
        "xpu_build": getattr(getattr(torch, "version", None), "xpu", None),
        "cuda_build": getattr(getattr(torch, "version", None), "cuda", None),
        "has_xpu_module": hasattr(torch, "xpu"),
        "imported": True,
        "xpu_available": False,
        "device_count": 0,
        "devices": [],
        "ipex_version": _ipex_version(),
    }
    if out["has_xpu_module"]:
        try:
            out["xpu_available"] = bool(torch.xpu.is_available())
            out["device_count"] = int(torch.xpu.device_count())
            for i in range(out["device_count"]):
                props = torch.xpu.get_device_properties(i)
                out["devices"].append({"name": props.name, "total_memory": int(getattr(props, "total_memory", 0))})
        except Exception as exc:  # noqa: BLE001 - any failure of the XPU runtime is reported in the result
            out["error"] = f"{type(exc).__name__}: {exc}"
    return out


def probe() -> dict:
    facts = from_files()
    if facts is None:
        return from_import()
    if not facts["available"]:
        return facts
    asked = os.environ.get("XPU_TORCH_IMPORT") == "1"
    if asked or (facts["xpu_build"] and facts["has_xpu_module"] and intel_gpu_on_pci()):
        return from_import()
    if not (facts["xpu_build"] and facts["has_xpu_module"]):
        facts.update(xpu_available=False, device_count=0, devices=[])  # a build without XPU never has it
    facts["not_imported"] = (
        "no Intel GPU on this machine's PCI bus" if facts["xpu_build"] else "the files say it has no XPU support"
    )
    return facts


if __name__ == "__main__":
    json.dump(probe(), sys.stdout)
    sys.stdout.write("\n")
