"""Level Zero: does the loader find a GPU driver, and which devices does it enumerate?"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..collectors.run import ScriptRun, collect, whole_number
from ..model import Facts, NixosSetting, ProbeResult, Status
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
class ZeDevice:
    """One device a Level Zero driver enumerates (``raw``: the collector's record of it)."""

    name: str | None  # None: the driver gave none
    type: str
    vendor_id: int
    device_id: int
    integrated: bool
    memory_bytes: int
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @property
    def is_intel_gpu(self) -> bool:
        return self.type == "gpu" and self.vendor_id == INTEL_VENDOR

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> ZeDevice:
        name = d.get("name")
        return cls(
            str(name) if name is not None else None,
            str(d.get("type", "")),
            whole_number(d.get("vendor_id")),
            whole_number(d.get("device_id")),
            bool(d.get("integrated")),
            sum(whole_number(m.get("total_size")) for m in d.get("memory", []) if isinstance(m, Mapping)),
            d,
        )


@dataclass(frozen=True)
class ZeDriver:
    """One Level Zero driver the loader loaded, and its devices."""

    version: int | None
    version_text: str
    devices: tuple[ZeDevice, ...]

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> ZeDriver:
        version = d.get("version")
        devices = tuple(ZeDevice.from_json(x) for x in d.get("devices", []) if isinstance(x, Mapping))
        return cls(version if isinstance(version, int) else None, str(d.get("version_text", "")), devices)


@dataclass(frozen=True)
class LevelZeroFacts(Facts):
    """The level-zero probe's facts: what ze_probe.py (collectors/) reported through ``via``, typed
    (``report``: its whole answer, the JSON form), or why it could not run (``ran`` false)."""

    ran: bool
    via: str | None = None
    error: str | None = None
    loader: str | None = None
    loader_version: str | None = None
    loader_error: str | None = None
    init_api: str | None = None
    init_result: int | None = None
    init_result_name: str | None = None
    loader_environment: Mapping[str, str] = field(default_factory=dict)
    drivers: tuple[ZeDriver, ...] = ()
    report: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @property
    def gpus(self) -> tuple[ZeDevice, ...]:
        """The Intel GPUs the drivers enumerate."""
        return tuple(dev for driver in self.drivers for dev in driver.devices if dev.is_intel_gpu)

    @classmethod
    def from_report(cls, report: Mapping[str, Any], via: str | None) -> LevelZeroFacts:
        def text(key: str) -> str | None:
            value = report.get(key)
            return str(value) if value is not None else None

        env = report.get("loader_environment")
        code = report.get("init_result")
        return cls(
            ran=True,
            via=via,
            loader=text("loader"),
            loader_version=text("loader_version"),
            loader_error=text("loader_error"),
            init_api=text("init_api"),
            init_result=code if isinstance(code, int) else None,
            init_result_name=text("init_result_name"),
            loader_environment={str(k): str(v) for k, v in env.items()} if isinstance(env, Mapping) else {},
            drivers=tuple(ZeDriver.from_json(d) for d in report.get("drivers", []) if isinstance(d, Mapping)),
            report=report,
        )

    def to_dict(self) -> dict[str, Any]:
        if not self.ran:
            return {"ran": False, "error": self.error}
        found = {**self.report, "ran": True, "via": self.via}
        return {**found, "gpus": [dict(g.raw) for g in self.gpus]} if self.loader else found


@dataclass(frozen=True)
class LoaderOverride:
    """A variable with which the loader was told to load drivers other than the installed ones."""

    variable: str
    value: str
    effect: str

    @property
    def evidence(self) -> str:
        return f"{self.variable}={self.value}: {self.effect}"


def loader_override(facts: LevelZeroFacts) -> LoaderOverride | None:
    """The override among the loader's variables ze_probe.py saw, if any (the null driver first)."""
    env = facts.loader_environment
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
            facts=LevelZeroFacts(ran=False, error=run.error),
        )
    facts = LevelZeroFacts.from_report(run.data or {}, run.via)
    if not facts.loader:
        return ProbeResult(
            "level-zero",
            Status.ABSENT,
            "Level Zero loader not found",
            (facts.loader_error or "",),
            cause="libze_loader.so.1 could not be loaded",
            fix="install the Level Zero loader: NixOS pkgs.level-zero (the intel-xpu module adds it); Debian libze1",
            facts=facts,
        )
    code = facts.init_result
    code_text = f"{facts.init_api} -> {facts.init_result_name} (0x{(code or 0):08x})"
    loader = f"loader {facts.loader}" + (f" {facts.loader_version}" if facts.loader_version else "")
    evidence = [loader, code_text]
    override = loader_override(facts)
    if override:
        evidence.append(override.evidence)
    for driver in facts.drivers:
        evidence.append(f"driver {driver.version_text}: {len(driver.devices)} device(s)")
        for dev in driver.devices:
            kind = "integrated" if dev.integrated else "discrete"
            evidence.append(
                f"  {dev.name} [{dev.vendor_id:04x}:{dev.device_id:04x}] "
                f"{dev.type} {kind}, {dev.memory_bytes / 2**30:.1f} GiB"
            )
    gpus = facts.gpus
    if code != 0 or not facts.drivers:
        return ProbeResult(
            "level-zero",
            Status.FAIL,
            "Level Zero loader present, no driver",
            tuple(evidence),
            cause=f"{code_text}: the loader found no GPU driver",
            fix=DRIVER_FIX,
            facts=facts,
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
            facts=facts,
        )
    return ProbeResult("level-zero", Status.OK, f"{len(gpus)} Intel GPU(s) on Level Zero", tuple(evidence), facts=facts)


def probe_level_zero(ctx: ProbeContext) -> ProbeResult:
    return judge_level_zero(collect(ctx.target, "level-zero", ctx.timeout))


@probe("level-zero", order=30, runtime="level_zero", gpus=listed_gpus)
def run(collected: Collected) -> ProbeResult:
    return probe_level_zero(collected.ctx)
