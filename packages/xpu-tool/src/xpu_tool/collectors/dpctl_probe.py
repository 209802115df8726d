"""List SYCL devices through dpctl (Intel's Python SYCL bindings); print one JSON object.

Self-contained (standard library plus dpctl if present): sent to the target's Python when the
target has no ``xpu`` command.
"""

from __future__ import annotations

import json
import sys


def probe() -> dict:
    try:
        import dpctl  # noqa: PLC0415 - its absence is a result, not an error
    except Exception as exc:  # noqa: BLE001 - ImportError, or a broken SYCL runtime raising at import: a result
        return {"available": False, "error": f"{type(exc).__name__}: {exc}"}
    out: dict = {"available": True, "version": getattr(dpctl, "__version__", None), "devices": []}
    try:
        devices = dpctl.get_devices()
    except Exception as exc:  # noqa: BLE001 - any failure to list devices is reported in the result
        out["error"] = f"{type(exc).__name__}: {exc}"
        return out
    for d in devices:
        out["devices"].append(
            {
                "backend": d.backend.name,
                "type": d.device_type.name,
                "name": d.name,
                "platform": d.sycl_platform.name,
                "vendor": d.vendor,
                "driver": d.driver_version,
                "filter": d.filter_string,
                "fp64": bool(d.has_aspect_fp64),
                "global_mem_size": int(d.global_mem_size),
            }
        )
    return out


if __name__ == "__main__":
    json.dump(probe(), sys.stdout)
    sys.stdout.write("\n")
