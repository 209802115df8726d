"""Enumerate Level Zero drivers and devices with ctypes; print one JSON object.

Self-contained (standard library only): the doctor sends this file to the target's Python when
the target has no ``xpu`` command, so it must not import anything from xpu_tool.
Struct layouts and codes: oneapi-src/level-zero include/ze_api.h and include/loader/ze_loader.h.
"""

from __future__ import annotations

import ctypes
import json
import os
import sys
from collections.abc import Callable

# XPU_ZE_LOADER names one loader file to use instead of the linker's search (e.g. a specific build).
LOADER_NAMES = (
    (os.environ["XPU_ZE_LOADER"],) if os.environ.get("XPU_ZE_LOADER") else ("libze_loader.so.1", "libze_loader.so")
)

# Variables with which the loader chooses its drivers (level-zero source/loader/ze_loader.cpp and
# linux/driver_discovery_lin.cpp): ZE_ENABLE_NULL_DRIVER=1 loads the null driver (libze_null.so.1,
# one GPU with no hardware behind it) before any other; ZE_ENABLE_ALT_DRIVERS names driver
# libraries (comma-separated) to load instead of the installed ones.
LOADER_VARIABLES = ("ZE_ENABLE_NULL_DRIVER", "ZE_ENABLE_ALT_DRIVERS")

ZE_STRUCTURE_TYPE_DRIVER_PROPERTIES = 0x1
ZE_STRUCTURE_TYPE_DEVICE_PROPERTIES = 0x3
ZE_STRUCTURE_TYPE_DEVICE_MEMORY_PROPERTIES = 0x7
ZE_STRUCTURE_TYPE_INIT_DRIVER_TYPE_DESC = 0x00020021
ZE_INIT_DRIVER_TYPE_FLAG_GPU = 0x1
ZE_DEVICE_PROPERTY_FLAG_INTEGRATED = 0x1
DEVICE_TYPES = {1: "gpu", 2: "cpu", 3: "fpga", 4: "mca", 5: "vpu"}

RESULT_NAMES = {
    0x0: "ZE_RESULT_SUCCESS",
    0x1: "ZE_RESULT_NOT_READY",
    0x70000001: "ZE_RESULT_ERROR_DEVICE_LOST",
    0x70000002: "ZE_RESULT_ERROR_OUT_OF_HOST_MEMORY",
    0x70000003: "ZE_RESULT_ERROR_OUT_OF_DEVICE_MEMORY",
    0x70000004: "ZE_RESULT_ERROR_MODULE_BUILD_FAILURE",
    0x70000005: "ZE_RESULT_ERROR_MODULE_LINK_FAILURE",
    0x70000006: "ZE_RESULT_ERROR_DEVICE_REQUIRES_RESET",
    0x70000007: "ZE_RESULT_ERROR_DEVICE_IN_LOW_POWER_STATE",
    0x70010000: "ZE_RESULT_ERROR_INSUFFICIENT_PERMISSIONS",
    0x70010001: "ZE_RESULT_ERROR_NOT_AVAILABLE",
    0x70020000: "ZE_RESULT_ERROR_DEPENDENCY_UNAVAILABLE",
    0x78000001: "ZE_RESULT_ERROR_UNINITIALIZED",
    0x78000002: "ZE_RESULT_ERROR_UNSUPPORTED_VERSION",
    0x78000003: "ZE_RESULT_ERROR_UNSUPPORTED_FEATURE",
    0x78000004: "ZE_RESULT_ERROR_INVALID_ARGUMENT",
    0x78000005: "ZE_RESULT_ERROR_INVALID_NULL_HANDLE",
    0x78000007: "ZE_RESULT_ERROR_INVALID_NULL_POINTER",
    0x7800000C: "ZE_RESULT_ERROR_INVALID_ENUMERATION",
    0x7800000D: "ZE_RESULT_ERROR_UNSUPPORTED_ENUMERATION",
    0x78000020: "ZE_RESULT_ERROR_SURVIVABILITY_MODE_DETECTED",
    0x7FFFFFFE: "ZE_RESULT_ERROR_UNKNOWN",
}


class DriverProperties(ctypes.Structure):
    _fields_ = [
        ("stype", ctypes.c_uint32),
        ("pNext", ctypes.c_void_p),
        ("uuid", ctypes.c_uint8 * 16),
        ("driverVersion", ctypes.c_uint32),
    ]


class DeviceProperties(ctypes.Structure):
    _fields_ = [
        ("stype", ctypes.c_uint32),
        ("pNext", ctypes.c_void_p),
        ("type", ctypes.c_uint32),
        ("vendorId", ctypes.c_uint32),
        ("deviceId", ctypes.c_uint32),
        ("flags", ctypes.c_uint32),
        ("subdeviceId", ctypes.c_uint32),
        ("coreClockRate", ctypes.c_uint32),
        ("maxMemAllocSize", ctypes.c_uint64),
        ("maxHardwareContexts", ctypes.c_uint32),
        ("maxCommandQueuePriority", ctypes.c_uint32),
        ("numThreadsPerEU", ctypes.c_uint32),
        ("physicalEUSimdWidth", ctypes.c_uint32),
        ("numEUsPerSubslice", ctypes.c_uint32),
        ("numSubslicesPerSlice", ctypes.c_uint32),
        ("numSlices", ctypes.c_uint32),
        ("timerResolution", ctypes.c_uint64),
        ("timestampValidBits", ctypes.c_uint32),
        ("kernelTimestampValidBits", ctypes.c_uint32),
        ("uuid", ctypes.c_uint8 * 16),
        ("name", ctypes.c_char * 256),
    ]


class MemoryProperties(ctypes.Structure):
    _fields_ = [
        ("stype", ctypes.c_uint32),
        ("pNext", ctypes.c_void_p),
        ("flags", ctypes.c_uint32),
        ("maxClockRate", ctypes.c_uint32),
        ("maxBusWidth", ctypes.c_uint32),
        ("totalSize", ctypes.c_uint64),
        ("name", ctypes.c_char * 256),
    ]


class InitDriverTypeDesc(ctypes.Structure):
    _fields_ = [("stype", ctypes.c_uint32), ("pNext", ctypes.c_void_p), ("flags", ctypes.c_uint32)]


class ComponentVersion(ctypes.Structure):
    _fields_ = [
        ("component_name", ctypes.c_char * 64),
        ("spec_version", ctypes.c_uint32),
        ("major", ctypes.c_int),
        ("minor", ctypes.c_int),
        ("patch", ctypes.c_int),
    ]


def result_name(code: int) -> str:
    return RESULT_NAMES.get(code, f"ZE_RESULT_0x{code:08x}")


def _call(fn: Callable[..., int], *args: object) -> int:
    return int(fn(*args)) & 0xFFFFFFFF


def _loader_path() -> str | None:
    try:
        with open("/proc/self/maps") as maps:
            for line in maps:
                if "libze_loader" in line:
                    return line.split()[-1]
    except OSError:
        pass
    return None


def _loader_version(lib: ctypes.CDLL) -> str | None:
    single = getattr(lib, "zelLoaderGetVersion", None)  # loader 1.19+, needs no init
    if single is not None:
        v = ComponentVersion()
        if _call(single, ctypes.byref(v)) == 0:
            return f"{v.major:d}.{v.minor:d}.{v.patch:d}"
    fn = getattr(lib, "zelLoaderGetVersions", None)
    if fn is None:
        return None
    count = ctypes.c_size_t(0)
    if _call(fn, ctypes.byref(count), None) != 0 or not count.value:
        return None
    versions = (ComponentVersion * count.value)()
    if _call(fn, ctypes.byref(count), versions) != 0:
        return None
    for v in versions:
        if v.component_name.decode(errors="replace") == "loader":
            return f"{v.major:d}.{v.minor:d}.{v.patch:d}"
    return None


def _devices(lib: ctypes.CDLL, driver: ctypes.c_void_p) -> tuple[int, list[dict]]:
    count = ctypes.c_uint32(0)
    rc = _call(lib.zeDeviceGet, driver, ctypes.byref(count), None)
    if rc != 0 or not count.value:
        return rc, []
    handles = (ctypes.c_void_p * count.value)()
    rc = _call(lib.zeDeviceGet, driver, ctypes.byref(count), handles)
    devices = []
    for handle in handles[: count.value]:
        props = DeviceProperties(stype=ZE_STRUCTURE_TYPE_DEVICE_PROPERTIES)
        prc = _call(lib.zeDeviceGetProperties, ctypes.c_void_p(handle), ctypes.byref(props))
        mem_count = ctypes.c_uint32(0)
        memories = []
        if (
            _call(lib.zeDeviceGetMemoryProperties, ctypes.c_void_p(handle), ctypes.byref(mem_count), None) == 0
            and mem_count.value
        ):
            mems = (MemoryProperties * mem_count.value)()
            for m in mems:
                m.stype = ZE_STRUCTURE_TYPE_DEVICE_MEMORY_PROPERTIES
            if _call(lib.zeDeviceGetMemoryProperties, ctypes.c_void_p(handle), ctypes.byref(mem_count), mems) == 0:
                memories = [{"name": m.name.decode(errors="replace"), "total_size": int(m.totalSize)} for m in mems]
        devices.append(
            {
                "properties_result": result_name(prc),
                "name": props.name.decode(errors="replace"),
                "type": DEVICE_TYPES.get(props.type, str(props.type)),
                "vendor_id": props.vendorId,
                "device_id": props.deviceId,
                "integrated": bool(props.flags & ZE_DEVICE_PROPERTY_FLAG_INTEGRATED),
                "core_clock_mhz": props.coreClockRate,
                "eu_count": props.numSlices * props.numSubslicesPerSlice * props.numEUsPerSubslice,
                "memory": memories,
            }
        )
    return rc, devices


def probe() -> dict:
    out: dict = {
        "loader": None,
        "loader_version": None,
        "init_api": None,
        "init_result": None,
        "init_result_name": None,
        "drivers": [],
        "loader_environment": {k: os.environ[k] for k in LOADER_VARIABLES if k in os.environ},
    }
    errors = []
    lib = None
    for name in LOADER_NAMES:
        try:
            lib = ctypes.CDLL(name)
            out["loader"] = _loader_path() or name
            break
        except OSError as exc:
            errors.append(str(exc))
    if lib is None:
        out["loader_error"] = "; ".join(errors)
        return out
    handles: list = []
    if hasattr(lib, "zeInitDrivers"):
        out["init_api"] = "zeInitDrivers"
        desc = InitDriverTypeDesc(stype=ZE_STRUCTURE_TYPE_INIT_DRIVER_TYPE_DESC, flags=ZE_INIT_DRIVER_TYPE_FLAG_GPU)
        count = ctypes.c_uint32(0)
        rc = _call(lib.zeInitDrivers, ctypes.byref(count), None, ctypes.byref(desc))
        if rc == 0 and count.value:
            arr = (ctypes.c_void_p * count.value)()
            rc = _call(lib.zeInitDrivers, ctypes.byref(count), arr, ctypes.byref(desc))
            handles = list(arr[: count.value])
        out["driver_count"] = count.value
    else:
        out["init_api"] = "zeInit"
        rc = _call(lib.zeInit, ctypes.c_uint32(0))
        if rc == 0:
            count = ctypes.c_uint32(0)
            grc = _call(lib.zeDriverGet, ctypes.byref(count), None)
            if grc == 0 and count.value:
                arr = (ctypes.c_void_p * count.value)()
                grc = _call(lib.zeDriverGet, ctypes.byref(count), arr)
                handles = list(arr[: count.value])
            out["driver_get_result"] = result_name(grc)
            out["driver_count"] = count.value
    out["init_result"] = rc
    out["init_result_name"] = result_name(rc)
    out["loader_version"] = _loader_version(lib)
    for handle in handles:
        driver = ctypes.c_void_p(handle)
        props = DriverProperties(stype=ZE_STRUCTURE_TYPE_DRIVER_PROPERTIES)
        _call(lib.zeDriverGetProperties, driver, ctypes.byref(props))
        rc_dev, devices = _devices(lib, driver)
        v = props.driverVersion
        out["drivers"].append(
            {
                "version": v,
                "version_text": f"{v >> 24:d}.{(v >> 16) & 0xFF:d}.{v & 0xFFFF:d}",
                "device_get_result": result_name(rc_dev),
                "devices": devices,
            }
        )
    return out


if __name__ == "__main__":
    json.dump(probe(), sys.stdout)
    sys.stdout.write("\n")
