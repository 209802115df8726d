"""PyTorch XPU: does the target's torch see Intel GPUs through torch.xpu?

The collector (collectors/torch_probe.py) reads what torch's files tell and imports torch only when
the answer can matter; the evidence says which.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..collectors.run import ScriptRun, collect, whole_number
from ..model import Facts, ProbeResult, Status
from .context import ProbeContext
from .registry import Collected, probe

XPU_TORCH_FIX = (
    "use a PyTorch build with XPU (2.7+): the flake's intel-xpu.python (MordragT's intel-python), "
    "or pip's XPU wheels (index download.pytorch.org/whl/xpu)"
)


@dataclass(frozen=True)
class TorchDevice:
    """One device torch.xpu lists."""

    name: str
    total_memory: int


@dataclass(frozen=True)
class TorchFacts(Facts):
    """The torch probe's facts: what torch_probe.py (collectors/) reported through ``via``, typed
    (``report``: its whole answer, the JSON form), or that it could not run (``ran`` false)."""

    ran: bool
    via: str | None = None
    available: bool = False  # torch imports (or its files say what it is)
    version: str | None = None
    xpu_build: str | None = None  # torch.version.xpu: None for a build without XPU
    cuda_build: str | None = None
    has_xpu_module: bool = False
    imported: bool | None = None  # False: read from torch's files, not imported
    not_imported: str | None = None
    xpu_available: bool | None = None
    device_count: int | None = None
    devices: tuple[TorchDevice, ...] = ()
    ipex_version: str | None = None
    error: str | None = None
    report: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_report(cls, report: Mapping[str, Any], via: str | None) -> TorchFacts:
        def text(key: str) -> str | None:
            value = report.get(key)
            return str(value) if value is not None else None

        count = report.get("device_count")
        imported = report.get("imported")
        devices = tuple(
            TorchDevice(str(d.get("name", "")), whole_number(d.get("total_memory")))
            for d in report.get("devices", [])
            if isinstance(d, Mapping)
        )
        return cls(
            ran=True,
            via=via,
            available=bool(report.get("available")),
            version=text("version"),
            xpu_build=text("xpu_build"),
            cuda_build=text("cuda_build"),
            has_xpu_module=bool(report.get("has_xpu_module")),
            imported=imported if isinstance(imported, bool) else None,
            not_imported=text("not_imported"),
            xpu_available=available if isinstance(available := report.get("xpu_available"), bool) else None,
            device_count=count if isinstance(count, int) else None,
            devices=devices,
            ipex_version=text("ipex_version"),
            error=text("error"),
            report=report,
        )

    def to_dict(self) -> dict[str, Any]:
        if not self.ran:
            return {"ran": False}
        return {**self.report, "ran": True, "via": self.via}


def judge_torch(run: ScriptRun) -> ProbeResult:
    if not run.ok:
        return ProbeResult(
            "torch",
            Status.WARN,
            "could not ask PyTorch on the target",
            run.attempts,
            cause=run.error or "could not run",
            fix="install python3 (with torch) on the target",
            facts=TorchFacts(ran=False),
        )
    facts = TorchFacts.from_report(run.data or {}, run.via)
    if not facts.available:
        return ProbeResult(
            "torch",
            Status.ABSENT,
            "no PyTorch for this Python",
            (facts.error or "",),
            cause=f"`import torch` failed in {run.via}",
            fix="only needed for ComfyUI and PyTorch workloads: " + XPU_TORCH_FIX,
            facts=facts,
        )
    evidence = [
        f"torch {facts.version} (torch.version.xpu={facts.xpu_build}, "
        f"torch.version.cuda={facts.cuda_build}) via {run.via}"
    ]
    if facts.imported is False:  # read from torch's files; importing it could not change the verdict
        evidence.append(f"not imported: {facts.not_imported} (XPU_TORCH_IMPORT=1 asks torch itself)")
    else:
        evidence.append(f"torch.xpu.is_available()={facts.xpu_available}, device_count={facts.device_count}")
    evidence += [f"  xpu:{i} {d.name}" for i, d in enumerate(facts.devices)]
    if facts.ipex_version:
        evidence.append(f"intel_extension_for_pytorch {facts.ipex_version}")
    if facts.error:
        evidence.append(facts.error)
    if not facts.has_xpu_module or not facts.xpu_build:
        return ProbeResult(
            "torch",
            Status.FAIL,
            f"torch {facts.version} has no XPU support",
            tuple(evidence),
            cause="this PyTorch was built without XPU: code that asks for 'xpu' fails, code that only checks "
            "torch.cuda silently runs on the CPU",
            fix=XPU_TORCH_FIX,
            facts=facts,
        )
    if not facts.xpu_available:
        return ProbeResult(
            "torch",
            Status.FAIL,
            "torch has XPU support but sees no Intel GPU",
            tuple(evidence),
            cause="no Intel GPU on the PCI bus for torch.xpu to see"
            if facts.imported is False
            else "torch.xpu.is_available() is False: no Level Zero GPU driver or no render-node access",
            fix="see the level-zero and render-nodes results",
            facts=facts,
        )
    return ProbeResult(
        "torch", Status.OK, f"torch sees {facts.device_count} XPU device(s)", tuple(evidence), facts=facts
    )


def probe_torch(ctx: ProbeContext) -> ProbeResult:
    return judge_torch(collect(ctx.target, "torch", ctx.timeout))


def xpu_devices(result: ProbeResult) -> list[dict[str, Any]]:
    """The devices torch.xpu sees (all Intel GPUs), as the JSON form lists them."""
    devices = result.data.get("devices", [])
    return list(devices) if isinstance(devices, list) else []


@probe("torch", order=70, runtime="torch", gpus=xpu_devices)
def run(collected: Collected) -> ProbeResult:
    return probe_torch(collected.ctx)
