"""PyTorch XPU: does the target's torch see Intel GPUs through torch.xpu?

The collector (collectors/torch_probe.py) reads what torch's files tell and imports torch only when
the answer can matter; the evidence says which.
"""

from __future__ import annotations

from ..collectors.run import ScriptRun, collect
from ..model import ProbeResult, Status
from .context import ProbeContext
from .registry import Collected, probe

XPU_TORCH_FIX = (
    "use a PyTorch build with XPU (2.7+): the flake's intel-xpu.python (MordragT's intel-python), "
    "or pip's XPU wheels (index download.pytorch.org/whl/xpu)"
)


def judge_torch(run: ScriptRun) -> ProbeResult:
    if not run.ok:
        return ProbeResult(
            "torch",
            Status.WARN,
            "could not ask PyTorch on the target",
            run.attempts,
            cause=run.error or "could not run",
            fix="install python3 (with torch) on the target",
            data={"ran": False},
        )
    data = dict(run.data or {}, ran=True, via=run.via)
    if not data.get("available"):
        return ProbeResult(
            "torch",
            Status.ABSENT,
            "no PyTorch for this Python",
            (str(data.get("error", "")),),
            cause=f"`import torch` failed in {run.via}",
            fix="only needed for ComfyUI and PyTorch workloads: " + XPU_TORCH_FIX,
            data=data,
        )
    evidence = [
        f"torch {data.get('version')} (torch.version.xpu={data.get('xpu_build')}, "
        f"torch.version.cuda={data.get('cuda_build')}) via {run.via}"
    ]
    if data.get("imported") is False:  # read from torch's files; importing it could not change the verdict
        evidence.append(f"not imported: {data.get('not_imported')} (XPU_TORCH_IMPORT=1 asks torch itself)")
    else:
        evidence.append(
            f"torch.xpu.is_available()={data.get('xpu_available')}, device_count={data.get('device_count')}"
        )
    evidence += [f"  xpu:{i} {d.get('name')}" for i, d in enumerate(data.get("devices", []))]
    if data.get("ipex_version"):
        evidence.append(f"intel_extension_for_pytorch {data['ipex_version']}")
    if data.get("error"):
        evidence.append(str(data["error"]))
    if not data.get("has_xpu_module") or not data.get("xpu_build"):
        return ProbeResult(
            "torch",
            Status.FAIL,
            f"torch {data.get('version')} has no XPU support",
            tuple(evidence),
            cause="this PyTorch was built without XPU: code that asks for 'xpu' fails, code that only checks "
            "torch.cuda silently runs on the CPU",
            fix=XPU_TORCH_FIX,
            data=data,
        )
    if not data.get("xpu_available"):
        return ProbeResult(
            "torch",
            Status.FAIL,
            "torch has XPU support but sees no Intel GPU",
            tuple(evidence),
            cause="no Intel GPU on the PCI bus for torch.xpu to see"
            if data.get("imported") is False
            else "torch.xpu.is_available() is False: no Level Zero GPU driver or no render-node access",
            fix="see the level-zero and render-nodes results",
            data=data,
        )
    return ProbeResult(
        "torch", Status.OK, f"torch sees {data.get('device_count')} XPU device(s)", tuple(evidence), data=data
    )


def probe_torch(ctx: ProbeContext) -> ProbeResult:
    return judge_torch(collect(ctx.target, "torch", ctx.timeout))


def xpu_devices(result: ProbeResult) -> list[dict]:
    """torch lists the devices torch.xpu sees (all Intel GPUs) under ``devices``."""
    devices = result.data.get("devices", [])
    return list(devices) if isinstance(devices, list) else []


@probe("torch", order=70, runtime="torch", gpus=xpu_devices)
def run(collected: Collected) -> ProbeResult:
    return probe_torch(collected.ctx)
