"""Ask PyTorch whether it sees Intel GPUs (torch.xpu); print one JSON object.

Self-contained (standard library plus torch if present).
"""

from __future__ import annotations

import json
import sys


def probe() -> dict:
    try:
        import torch  # noqa: PLC0415 - its absence is a result
    except Exception as exc:
        return {"available": False, "error": "%s: %s" % (type(exc).__name__, exc)}
    out: dict = {
        "available": True,
        "version": torch.__version__,
        "xpu_build": getattr(getattr(torch, "version", None), "xpu", None),
        "has_xpu_module": hasattr(torch, "xpu"),
        "xpu_available": False,
        "device_count": 0,
        "devices": [],
        "cuda_available": bool(torch.cuda.is_available()),
    }
    try:
        import intel_extension_for_pytorch as ipex  # noqa: PLC0415, F401
        out["ipex_version"] = getattr(ipex, "__version__", "unknown")
    except Exception:
        out["ipex_version"] = None
    if out["has_xpu_module"]:
        try:
            out["xpu_available"] = bool(torch.xpu.is_available())
            out["device_count"] = int(torch.xpu.device_count())
            for i in range(out["device_count"]):
                props = torch.xpu.get_device_properties(i)
                out["devices"].append({"name": props.name, "total_memory": int(getattr(props, "total_memory", 0))})
        except Exception as exc:
            out["error"] = "%s: %s" % (type(exc).__name__, exc)
    return out


if __name__ == "__main__":
    json.dump(probe(), sys.stdout)
    sys.stdout.write("\n")
