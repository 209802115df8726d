"""Level Zero: does the loader find a GPU driver, and which devices does it enumerate?"""

from __future__ import annotations

from dataclasses import dataclass

from ..collectors.run import ScriptRun, collect
from ..model import NixosSetting, ProbeResult, Status
from .context import ProbeContext
from .registry import Collected, listed_gpus, probe

INTEL_VENDOR = 0x8086
# the compute runtime with its Level Zero driver, on NixOS (the .drivers output exists until nixpkgs
# PR 560627): the probe's fix and the diagnosis's advice name it alike
DRIVER_SETTING = NixosSetting(
    "hardware.graphics.extraPackages", "[ pkgs.intel-compute-runtime pkgs.intel-compute-runtime.drivers ]"
)
DRIVER_FIX = (
    "install the compute runtime's Level Zero driver (libze_intel_gpu.so): on NixOS "
    f"{DRIVER_SETTING.render().removesuffix(';')} "
    "(the .drivers output exists until nixpkgs PR 560627); on Debian/Ubuntu libze-intel-gpu1"
)


@dataclass(frozen=True)
class LoaderOverride:
    """A variable with which the loader was told to load drivers other than the installed ones."""

    variable: str
    value: str
    effect: str

    @property
    def evidence(self) -> str:
        return f"{self.variable}={self.value}: {self.effect}"


def loader_override(data: dict) -> LoaderOverride | None:
    """The override among the loader's variables ze_probe.py saw, if any (the null driver first)."""
    env = data.get("loader_environment") or {}
    if env.get("ZE_ENABLE_NULL_DRIVER") == "1":
        return LoaderOverride(
            "ZE_ENABLE_NULL_DRIVER",
            "1",
            "the loader loads its null driver (libze_null.so.1) first, a GPU with no hardware behind it",
        )
    if env.get("ZE_ENABLE_ALT_DRIVERS"):
        return LoaderOverride(
            "ZE_ENABLE_ALT_DRIVERS",
            env["ZE_ENABLE_ALT_DRIVERS"],
            "the loader loads these libraries instead of the installed drivers",
        )
    return None


def judge_level_zero(run: ScriptRun) -> ProbeResult:
    if not run.ok:
        return ProbeResult(
            "level-zero",
            Status.WARN,
            "could not run the Level Zero probe on the target",
            run.attempts,
            cause=run.error or "could not run",
            fix="install xpu-tool on the target (the flake's xpu command: hardware.intel-xpu.tools) or python3",
            data={"ran": False, "error": run.error},
        )
    data = dict(run.data or {}, ran=True, via=run.via)
    if not data.get("loader"):
        return ProbeResult(
            "level-zero",
            Status.ABSENT,
            "Level Zero loader not found",
            (str(data.get("loader_error", "")),),
            cause="libze_loader.so.1 could not be loaded",
            fix="install the Level Zero loader: NixOS pkgs.level-zero (the intel-xpu module adds it); Debian libze1",
            data=data,
        )
    code = data.get("init_result")
    code_text = f"{data.get('init_api')} -> {data.get('init_result_name')} (0x{(code or 0):08x})"
    loader = f"loader {data['loader']}" + (f" {data['loader_version']}" if data.get("loader_version") else "")
    evidence = [loader, code_text]
    override = loader_override(data)
    if override:
        evidence.append(override.evidence)
    gpus = []
    for driver in data.get("drivers", []):
        evidence.append(f"driver {driver.get('version_text')}: {len(driver.get('devices', []))} device(s)")
        for dev in driver.get("devices", []):
            kind = "integrated" if dev.get("integrated") else "discrete"
            mem = sum(m.get("total_size", 0) for m in dev.get("memory", []))
            evidence.append(
                f"  {dev.get('name')} [{dev.get('vendor_id', 0):04x}:{dev.get('device_id', 0):04x}] "
                f"{dev.get('type')} {kind}, {mem / 2**30:.1f} GiB"
            )
            if dev.get("type") == "gpu" and dev.get("vendor_id") == INTEL_VENDOR:
                gpus.append(dev)
    data["gpus"] = gpus
    if code != 0 or not data.get("drivers"):
        return ProbeResult(
            "level-zero",
            Status.FAIL,
            "Level Zero loader present, no driver",
            tuple(evidence),
            cause=f"{code_text}: the loader found no GPU driver",
            fix=DRIVER_FIX,
            data=data,
        )
    if not gpus:
        return ProbeResult(
            "level-zero",
            Status.FAIL,
            "Level Zero drivers enumerate no Intel GPU",
            tuple(evidence),
            cause=override.effect if override else "the drivers loaded but report no Intel GPU device",
            fix=f"unset {override.variable}; then {DRIVER_FIX}"
            if override
            else "check the kernel driver and render-node access (pci and render-nodes results)",
            data=data,
        )
    return ProbeResult("level-zero", Status.OK, f"{len(gpus)} Intel GPU(s) on Level Zero", tuple(evidence), data=data)


def probe_level_zero(ctx: ProbeContext) -> ProbeResult:
    return judge_level_zero(collect(ctx.target, "level-zero", ctx.timeout))


@probe("level-zero", order=30, runtime="level_zero", gpus=listed_gpus)
def run(collected: Collected) -> ProbeResult:
    return probe_level_zero(collected.ctx)
