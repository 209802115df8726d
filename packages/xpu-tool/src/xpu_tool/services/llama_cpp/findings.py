"""What llama-server's answers and log say, as findings: a server that does not answer, a log that
is empty, and where the model ran (``judge_evidence``: the CPU, a software device, a partial
offload, a GPU backend that found no device, or no evidence at all)."""

from __future__ import annotations

import re

from ...model import Finding, NixosSetting, Severity
from .. import api
from .client import LlamaCppError
from .log import LogEvidence, _last_run, strip_prefix

VERBOSITY_FIX = (
    "run llama-server at verbosity 4 (`-lv 4`): only from there does it log the device it uses and "
    "the layers it offloads; then give its log (--journal UNIT or --log FILE)"
)
NIXOS_INTEL = "services.llama-cpp.intel.enable = true;"
# a GPU backend that was loaded but found no device: b11434's Vulkan build logs "ggml_vulkan: No
# devices found." (and, with -ngl N, "no usable GPU found"); SYCL's "found 0 SYCL devices"
GPU_BACKEND_SEEN = (
    ("Vulkan", re.compile(r"\bggml_vulkan\b|\bGGML_VK|load_backend: loaded Vulkan backend|\bVulkan\d+\b")),
    ("SYCL", re.compile(r"\bggml_sycl|\bGGML_SYCL|load_backend: loaded SYCL backend|SYCL devices|\bSYCL\d+\b")),
)
NO_DEVICE_FIX = {
    "Vulkan": "no GPU device is visible to the Vulkan backend: the Intel Vulkan driver (Mesa's ANV, "
    "hardware.graphics.enable = true) is missing, GGML_VK_VISIBLE_DEVICES hides the GPU, or the service "
    "lacks the render node (the render group, DeviceAllow=/dev/dri); `xpu doctor` names which",
    "SYCL": "no GPU device is visible to the SYCL backend: the Level Zero driver (intel-compute-runtime) is "
    "missing, ONEAPI_DEVICE_SELECTOR hides the GPU, or the service lacks the render node (the render "
    "group, DeviceAllow=/dev/dri); `xpu doctor` names which",
}


def gpu_build_without_device(text: str, evidence: LogEvidence) -> str | None:
    """ "Vulkan" or "SYCL" when the log's last run shows that GPU backend but no GPU it found or used."""
    if any(d.kind != "cpu" for d in (*evidence.found, *evidence.used)):
        return None
    lines = _last_run([strip_prefix(line) for line in text.splitlines()])
    for backend, seen in GPU_BACKEND_SEEN:
        if backend in evidence.backends or any(seen.search(line) for line in lines):
            return backend
    return None


NO_ANSWER = {
    "unreachable": (
        "llama-server at {url} does not answer",
        "start the service (systemctl status llama-cpp) and check services.llama-cpp.host/port and the firewall",
    ),
    "loading": (
        "llama-server at {url} did not finish loading its model in time",
        "give it a longer --timeout, or read its log for a load that hangs",
    ),
    "timeout": (
        "llama-server at {url} does not answer in time",
        "read the server log (journalctl -u llama-cpp); check that a proxy in front of it does not hold answers back",
    ),
    "status": (
        "llama-server at {url} answers /health with HTTP {status}",
        "read the server log (journalctl -u llama-cpp); check that the URL names llama-server itself",
    ),
    "other": (
        "llama-server at {url} answers, but not as its API should ({kind})",
        "check that the URL names llama-server (not another service) and that a proxy in front of it passes its "
        "answers unchanged",
    ),
}


def no_answer(url: str, exc: LlamaCppError) -> Finding:
    """What a failed first call (/health) says about the server, from the error's kind."""
    return api.no_answer("llama-cpp", url, exc, NO_ANSWER)


def empty_log(source: str, *, expect_gpu: bool) -> Finding:
    """The journal or file named gives no text at all: the wrong unit, a journal this user may not
    read, or a file that is not the server's log; not a verbosity question."""
    if source.startswith("the journal of "):
        unit = source.removeprefix("the journal of ")
        evidence = f"journalctl -u {unit} printed no lines"
        fix = (
            f"check the unit's name (systemctl list-units 'llama*'; is {unit} the server's unit?) and that "
            "this user may read the system journal (root, or the systemd-journal or wheel group)"
        )
    else:
        evidence = f"{source.removeprefix('the log ')} holds no text"
        fix = "give the file llama-server logs to (its stderr), e.g. journalctl -u llama-cpp -o cat > llama.log"
    return Finding(
        "llama-cpp-no-evidence",
        Severity.FAIL if expect_gpu else Severity.WARN,
        f"Where llama-server ran is unknown: {source} is empty (wrong unit name? no permission to read the journal?)"
        if source.startswith("the journal of ")
        else f"Where llama-server ran is unknown: {source} is empty",
        (evidence,),
        fix=fix,
    )


def judge_evidence(
    evidence: LogEvidence | None, *, expect_gpu: bool, no_device_backend: str | None = None
) -> list[Finding]:
    """Where the log says the model ran: findings for the CPU, a software device, a partial offload,
    or no evidence. The device is judged by its description, never by the word "GPU" in the log.
    ``no_device_backend`` ("Vulkan", "SYCL"): the log shows that GPU backend finding no device
    (``gpu_build_without_device``), so the fix is the driver, not another build."""
    strict = Severity.FAIL if expect_gpu else Severity.WARN
    if evidence is None:
        return [
            Finding(
                "llama-cpp-no-evidence",
                Severity.FAIL if expect_gpu else Severity.INFO,
                "Where llama-server ran is unknown: no log was read",
                (),
                fix="give its log with --journal UNIT (e.g. llama-cpp.service) or --log FILE, at verbosity 4 (`-lv 4`)",
                nixos=NIXOS_INTEL,
            )
        ]
    if not evidence.has_evidence and no_device_backend is None:
        return [
            Finding(
                "llama-cpp-no-evidence",
                strict,
                "llama-server's log names no device and no offloaded layers",
                ("no ggml_vulkan, SYCL, `using device` or `offloaded N/M layers` line in the log",),
                fix=VERBOSITY_FIX,
                nixos=NIXOS_INTEL,
            )
        ]
    said_where = ("using device", "offloaded", "no usable GPU")
    lines = [line for line in evidence.lines if any(w in line for w in said_where)][-3:]
    off = evidence.offloaded
    found = ", ".join(d.label for d in evidence.found) or "none"
    on_gpu = [d for d in evidence.found if d.kind != "cpu"]
    # where the model went: the devices the log says it used; in logs that name none, the devices
    # found when layers were offloaded (an offload count alone names no device)
    placed = [d for d in evidence.used if d.kind != "cpu"] or (on_gpu if off and off[0] and not evidence.used else [])
    if (off is not None and off[0] == 0) or (not placed and (evidence.used or not on_gpu) and not (off and off[0])):
        said = (
            f"{off[0]}/{off[1]} layers offloaded"
            if off
            else "no usable GPU found"
            if evidence.no_gpu
            else "no GPU device used"
        )
        cpu = next((d.description for d in (*evidence.used, *evidence.found) if d.kind == "cpu" and d.description), "")
        if no_device_backend is not None and not on_gpu:
            return [
                Finding(
                    "llama-cpp-on-cpu",
                    strict,
                    f"llama-server ran on the CPU{f' ({cpu})' if cpu else ''}: its {no_device_backend} backend "
                    "found no GPU device",
                    (*lines, f"a {no_device_backend} build; devices found: {found}"),
                    fix=NO_DEVICE_FIX[no_device_backend],
                    settings=(
                        NixosSetting("hardware.graphics.enable", "true"),
                        NixosSetting("services.llama-cpp.intel.enable", "true"),
                    ),
                )
            ]
        # "no usable GPU found" is all a build logs at -ngl N when none of its backends found a GPU, a
        # CPU-only build and a Vulkan build without a visible device alike (b11434, the Vulkan build
        # under -ngl 99 prints no ggml_vulkan line at all)
        fix = (
            "a CPU-only build, or a Vulkan/SYCL build that sees no GPU device: use a GPU build (Vulkan or SYCL); "
            "if it is one, the Intel Vulkan driver (Mesa's ANV, hardware.graphics.enable = true) or the Level "
            "Zero driver is missing, GGML_VK_VISIBLE_DEVICES / ONEAPI_DEVICE_SELECTOR hides the GPU, or the "
            "service lacks the render node (the render group, DeviceAllow=/dev/dri)"
            if evidence.no_gpu and not on_gpu
            else "use a GPU build (Vulkan or SYCL) with -ngl 99, and give the service the render node "
            "(the render group, DeviceAllow=/dev/dri)"
        )
        return [
            Finding(
                "llama-cpp-on-cpu",
                strict,
                f"llama-server ran on the CPU{f' ({cpu})' if cpu else ''}: {said}",
                (*lines, f"devices found: {found}"),
                fix=fix,
                nixos=NIXOS_INTEL,
            )
        ]
    if not placed:
        title = (
            "llama-server's log lists devices but not the one it used"
            if on_gpu
            else f"llama-server's log says {off[0]}/{off[1]} layers were offloaded but names no device"
            if off
            else "llama-server's log names no device it used"
        )
        return [
            Finding(
                "llama-cpp-no-evidence",
                strict,
                title,
                (*lines, f"devices found: {found}"),
                fix=VERBOSITY_FIX,
                nixos=NIXOS_INTEL,
            )
        ]
    software = [d for d in placed if d.kind == "software"]
    findings = []
    if software:
        d = software[0]
        said = f"the log says 'offloaded {off[0]}/{off[1]} layers to GPU', but " if off else ""
        findings.append(
            Finding(
                "llama-cpp-software-device",
                strict,
                f"llama-server ran on {d.description or d.name}, a software device: the CPU",
                (*lines, f"{said}{d.label} is a software renderer{f' (driver {d.driver})' if d.driver else ''}"),
                fix="install the GPU's Vulkan driver (Mesa's ANV for Intel) or use the SYCL build; with "
                "GGML_VK_VISIBLE_DEVICES, name the Intel GPU's index, not the CPU's",
                nixos=NIXOS_INTEL,
            )
        )
    if off is not None and 0 < off[0] < off[1]:
        findings.append(
            Finding(
                "llama-cpp-partial-offload",
                strict,
                f"Only {off[0]} of {off[1]} layers run on the GPU; the rest on the CPU",
                tuple(lines),
                fix="raise -ngl (--n-gpu-layers) to 99, or use a smaller model or quantization that fits the "
                "GPU's memory",
            )
        )
    return findings
