"""`xpu check llama-cpp`: a short generation that proves work happened (the server's own token
counts and timings) and where it ran, from the server's own log (the device it used, the layers
it offloaded); every failure is a finding, never an exception."""

from __future__ import annotations

import dataclasses
import os
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...errors import ConfigError
from ...http import Deadline
from ...model import Finding, NixosSetting, Severity
from ..journal import local_journal
from ..registry import Option, ServiceState, reason, service
from .client import Completion, LlamaCppClient, LlamaCppError, Props
from .log import Device, LogEvidence, _last_run, parse_log, strip_prefix

PROMPT = "Why is the sky blue?"
N_PREDICT = 16
MAX_LOG_BYTES = 4 * 1024 * 1024  # --log reads at most the file's last 4 MiB
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
NO_JOURNAL = re.compile(r"^\s*(?:-- No entries --)?\s*$")  # journalctl's answer for a unit with no lines


def gpu_build_without_device(text: str, evidence: LogEvidence) -> str | None:
    """ "Vulkan" or "SYCL" when the log's last run shows that GPU backend but no GPU it found or used."""
    if any(d.kind != "cpu" for d in (*evidence.found, *evidence.used)):
        return None
    lines = _last_run([strip_prefix(line) for line in text.splitlines()])
    for backend, seen in GPU_BACKEND_SEEN:
        if backend in evidence.backends or any(seen.search(line) for line in lines):
            return backend
    return None


@dataclass(frozen=True)
class LlamaCppCheck:
    url: str
    health: str | None = None
    props: Props | None = None
    models: tuple[str, ...] = ()
    completion: Completion | None = None
    evidence: LogEvidence | None = None  # None: no log was read
    findings: tuple[Finding, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return (
            self.completion is not None
            and self.completion.worked
            and not any(f.severity is Severity.FAIL for f in self.findings)
        )

    @property
    def unreachable(self) -> bool:
        """Nothing could be reached at the URL (connection refused, the host does not resolve)."""
        return any(f.id == "llama-cpp-unreachable" for f in self.findings)

    @property
    def unanswered(self) -> bool:
        """No answer to report but why (its one finding)."""
        return self.unreachable

    @property
    def device(self) -> Device | None:
        """The device the model was put on, by the log (the first non-CPU one)."""
        ev = self.evidence
        return next((d for d in ev.used if d.kind != "cpu"), None) if ev else None

    def to_dict(self) -> dict[str, Any]:
        """`xpu check llama-cpp --json`."""
        ev = self.evidence
        return {
            "url": self.url,
            "ok": self.ok,
            "health": self.health,
            "props": dataclasses.asdict(self.props) if self.props else None,
            "models": list(self.models),
            "completion": dataclasses.asdict(self.completion) if self.completion else None,
            "log": None
            if ev is None
            else {
                "found": [dataclasses.asdict(d) for d in ev.found],
                "used": [dataclasses.asdict(d) for d in ev.used],
                "offloaded": list(ev.offloaded) if ev.offloaded else None,
                "backends": list(ev.backends),
            },
            "findings": [f.to_dict() for f in self.findings],
        }

    def lines(self) -> list[str]:
        """`xpu check llama-cpp`'s text: the server, what it generated, where its log says it ran, the findings."""
        props = self.props
        model = Path(props.model_path).name if props and props.model_path else (self.models[0] if self.models else "")
        build = f"build {props.build_info}" if props and props.build_info else "build unknown"
        out = [f"llama-cpp {self.url}: {build}" + (f", model {model}" if model else "")]
        c = self.completion
        if c is not None:
            t = c.timings
            timed = (
                f" in {t.predicted_ms:.0f} ms ({t.predicted_per_second:.1f} tok/s; prompt: {t.prompt_n} tokens "
                f"in {t.prompt_ms:.0f} ms)"
                if t is not None
                else " (no timings)"
            )
            out.append(f"  generated {c.tokens_predicted} tokens{timed}: {c.content[:60]!r}")
        ev = self.evidence
        if ev is not None and ev.has_evidence:
            used = ", ".join(d.label for d in ev.used) or "not named"
            offload = f", offloaded {ev.offloaded[0]}/{ev.offloaded[1]} layers" if ev.offloaded else ""
            backends = ", ".join(ev.backends)
            out.append(f"  log: device {used}{offload}" + (f" (backends: {backends})" if backends else ""))
        for f in self.findings:
            out.append(f"  {f.severity.value.upper()}: {f.title} -> {f.fix}")
            out += [f"      {line}" for line in f.evidence[:3]]
            if f.nixos:
                out.append(f"      NixOS: {f.nixos}")
        return out


def read_log_file(path: Path, limit: int = MAX_LOG_BYTES) -> str:
    """A saved server log as text, at most its last ``limit`` bytes; ConfigError (one line) for a file
    that is missing, not a regular file, unreadable or binary."""
    try:
        if path.is_dir():
            raise IsADirectoryError
        if not stat.S_ISREG(path.stat().st_mode):  # a FIFO would block the open, /dev/zero never end
            raise ConfigError(f"--log {path}: not a regular file")
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            f.seek(max(0, size - limit))
            data = f.read(limit)
    except FileNotFoundError:
        raise ConfigError(f"--log {path}: no such file") from None
    except IsADirectoryError:
        raise ConfigError(f"--log {path}: is a directory; give the server's log file") from None
    except OSError as exc:
        raise ConfigError(f"--log {path}: cannot read it: {exc.strerror or exc}") from None
    if size > limit:  # started mid-line: drop the partial first line
        data = data.partition(b"\n")[2]
    text = data.decode("utf-8", errors="replace")
    if data.count(b"\0") > len(data) // 100 or text.count("\ufffd") > len(text) // 10:
        raise ConfigError(
            f"--log {path}: not a text log (binary data); give llama-server's log, e.g. "
            "journalctl -u llama-cpp -o cat > llama.log"
        )
    return text


def _unanswered(url: str, exc: LlamaCppError) -> Finding:
    """What a failed first call (/health) says about the server, from the error's kind."""
    if exc.kind == "unreachable":
        return Finding(
            "llama-cpp-unreachable",
            Severity.FAIL,
            f"llama-server at {url} does not answer",
            (str(exc),),
            fix="start the service (systemctl status llama-cpp) and check services.llama-cpp.host/port "
            "and the firewall",
        )
    if exc.kind == "loading":
        return Finding(
            "llama-cpp-loading",
            Severity.FAIL,
            f"llama-server at {url} did not finish loading its model in time",
            (str(exc),),
            fix="give it a longer --timeout, or read its log for a load that hangs",
        )
    if exc.kind == "timeout":
        return Finding(
            "llama-cpp-timeout",
            Severity.FAIL,
            f"llama-server at {url} does not answer in time",
            (str(exc),),
            fix="read the server log (journalctl -u llama-cpp); check that a proxy in front "
            "of it does not hold answers back",
        )
    if exc.kind == "status":
        return Finding(
            "llama-cpp-http-error",
            Severity.FAIL,
            f"llama-server at {url} answers /health with HTTP {exc.status}",
            (str(exc),),
            fix="read the server log (journalctl -u llama-cpp); check that the URL names llama-server itself",
        )
    return Finding(
        "llama-cpp-api-error",
        Severity.FAIL,
        f"llama-server at {url} answers, but not as its API should ({exc.kind})",
        (str(exc),),
        fix="check that the URL names llama-server (not another service) and "
        "that a proxy in front of it passes its answers unchanged",
    )


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
                fix="raise -ngl (--n-gpu-layers) to 99, or use a smaller model or quantization that fits the GPU's memory",
            )
        )
    return findings


def check_llama_cpp(
    url: str,
    *,
    expect_gpu: bool = False,
    log_reader: Callable[[], str] | None = None,
    timeout: float = 300.0,
    log_source: str = "the server's log",
) -> LlamaCppCheck:
    """Run the whole check within ``timeout`` seconds (+ xpu_tool.http.MARGIN).

    ``log_reader`` returns the server's log text (read after the generation, so a journal has its
    lines); without one, where it ran is unknown (a failure with ``expect_gpu``). ``log_source`` names
    it when it is empty ("the journal of UNIT", "the log FILE").
    """
    client = LlamaCppClient(url, Deadline.after(timeout))
    try:
        health = client.wait_until_ready()
    except LlamaCppError as exc:
        return LlamaCppCheck(url, findings=(_unanswered(url, exc),))
    try:
        props, models = client.props(), client.models()
    except LlamaCppError as exc:
        return LlamaCppCheck(
            url,
            health,
            findings=(
                Finding(
                    "llama-cpp-api-error",
                    Severity.FAIL,
                    f"llama-server at {url} answers, but not as its API should ({exc.kind})",
                    (str(exc),),
                    fix="check that the URL names llama-server and that a proxy passes its API unchanged",
                ),
            ),
        )
    try:
        completion = client.complete(PROMPT, n_predict=N_PREDICT)
    except LlamaCppError as exc:
        return LlamaCppCheck(
            url,
            health,
            props,
            models,
            findings=(
                Finding(
                    "llama-cpp-generate-failed",
                    Severity.FAIL,
                    "llama-server could not generate",
                    (str(exc),),
                    fix="read the server log (journalctl -u llama-cpp)",
                ),
            ),
        )
    findings = []
    if not completion.worked:
        timings = dataclasses.asdict(completion.timings) if completion.timings else "absent"
        findings.append(
            Finding(
                "llama-cpp-no-tokens",
                Severity.FAIL,
                "llama-server answered /completion without generating",
                (f"tokens_predicted {completion.tokens_predicted}, timings {timings}",),
                fix="read the server log; a server that predicts no tokens did no work",
            )
        )
    if log_reader is None:
        findings += judge_evidence(None, expect_gpu=expect_gpu)
        return LlamaCppCheck(url, health, props, models, completion, None, tuple(findings))
    text = log_reader()
    evidence = parse_log(text)
    if NO_JOURNAL.match(text):
        findings.append(empty_log(log_source, expect_gpu=expect_gpu))
    else:
        no_device = gpu_build_without_device(text, evidence)
        findings += judge_evidence(evidence, expect_gpu=expect_gpu, no_device_backend=no_device)
    return LlamaCppCheck(url, health, props, models, completion, evidence, tuple(findings))


def check_llama_cpp_quickly(url: str, timeout: float) -> ServiceState:
    """`xpu export`'s check: /health (ok, not loading) and /props within ``timeout`` seconds in all; the
    version is /props' build_info. No models: where a model sits is only in the server's log."""
    client = LlamaCppClient(url, Deadline.after(timeout))
    try:
        status = client.health()
        props = client.props()
    except LlamaCppError as exc:
        return ServiceState("llama-cpp", url, False, error=reason(exc.kind, exc.status))
    if status != "ok":
        return ServiceState("llama-cpp", url, False, error="error")
    return ServiceState("llama-cpp", url, True, props.build_info[:100])


OPTIONS = (
    Option(
        "--journal",
        "read this systemd unit's journal on this machine to see the device it used (e.g. llama-cpp.service)",
        metavar="UNIT",
    ),
    Option(
        "--log",
        "read a saved llama-server log (its last 4 MiB) instead of a journal, to see the device it used",
        metavar="FILE",
    ),
)


@service(
    "llama-cpp",
    title="llama-server",
    example_url="http://127.0.0.1:8080",
    quick=check_llama_cpp_quickly,
    options=OPTIONS,
    summary="generate 16 tokens; the device and offload from the server's own log",
)
def run_check(
    url: str, *, expect_gpu: bool = False, timeout: float = 300.0, journal: str | None = None, log: str | None = None
) -> LlamaCppCheck:
    if journal is not None and log is not None:
        raise ConfigError("give --journal UNIT or --log FILE, not both")
    reader: Callable[[], str] | None = local_journal(journal) if journal is not None else None
    source = f"the journal of {journal}" if journal is not None else f"the log {log}"
    if log is not None:
        text = read_log_file(Path(log))  # before the check: a bad file is a usage error, not a failed check

        def reader() -> str:
            return text

    return check_llama_cpp(url, expect_gpu=expect_gpu, log_reader=reader, timeout=timeout, log_source=source)
