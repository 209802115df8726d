"""What llama-server's own log says about where it ran: the devices its backends found, the ones
the model was loaded on, how many layers went there, and the backends it loaded.

Keyed on fields, not on whole lines, because the lines changed shape many times:

- Vulkan lists each device once: ``ggml_vulkan: 0 = NAME (DRIVER) | uma: 0 | fp16: 1 | ...`` (fields
  were added over the years; older builds: ``NAME | uma: ...`` without a driver).
- SYCL prints a table after ``found N SYCL devices:`` whose columns changed at least four times (a
  ``Device Type`` such as ``[level_zero:gpu:0]`` and a ``Name`` are in all of them), or, before the
  table, ``Device 0: NAME, compute capability ...`` and ``Using device 0 (NAME) as main device``.
- 2025-2026 builds print the devices the model goes to: ``llama_model_load_from_file_impl`` /
  ``llama_prepare_model_devices: using device Vulkan0 (DESCRIPTION) (ID) - N MiB free``, and a
  ``device_info:`` list (``- SYCL0 : NAME (TOTAL MiB, FREE MiB free)``).
- ``offloaded 3/3 layers to GPU`` (``load_tensors:``, before 2025 ``llm_load_tensors:``) is only
  min(-ngl, layers) of a build that has a GPU backend: it names no device, and GPU is llama.cpp's word
  for any non-CPU device, lavapipe included. Where the model went is in the ``using device`` line,
  the buffers (``Vulkan0 model buffer size``) or ``layer N assigned to device X`` (verbosity 5).
- 2026 builds prefix a timestamp, a level and a component (``0.00.134.734 I srv ``); journald's short format
  prefixes ``Dec 05 15:41:00 host llama-server[123]: ``; both are stripped.

A build without a GPU backend (or whose backend found no device) warns ``no usable GPU found`` and,
at verbosity 4, lists the CPU alone under ``device_info:``; before verbosity 4 it prints no device.
Where a log holds several server runs (a journal across restarts), the evidence is the last run's.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

# llvmpipe / lavapipe (Mesa), softpipe, SwiftShader, WARP: Vulkan or D3D devices that are the CPU
SOFTWARE = re.compile(r"llvmpipe|lavapipe|softpipe|swiftshader|basic render driver|\bwarp\b", re.IGNORECASE)
# SYCL devices that are the CPU, for the tables without a device type (before 2024-03)
SYCL_CPU_NAME = re.compile(r"FPGA Emulation|Processor|\bCPU\b|Core\(TM\) i\d|Xeon|EPYC|Ryzen")
PREFIX = re.compile(
    r"^(?:\d+\.\d+\.\d+\.\d+ [DIWE] (?:[a-z]{3,4} (?= ))?"  # 2026: time, level, component
    r"|[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \S+ [^:\s]+: "  # journalctl's short format
    r"|\[?\d{4}-\d\d-\d\d[T ][\d:.,+-]+Z?\]? )"
)  # an ISO timestamp a wrapper added
VULKAN = re.compile(r"ggml_vulkan: (?P<index>\d+) = (?P<rest>[^|]+?)\s*(?:\|(?P<fields>.*))?$")
USING = re.compile(r"\busing device (?P<name>[A-Za-z][\w-]*?\d*)(?P<rest>(?: \(.*\))?) - (?P<free>\d+) MiB free")
DEVICE_INFO = re.compile(
    r"^\s*(?:\w+:)?\s*-\s+(?P<name>[A-Za-z][\w-]*)\s*:\s*(?P<desc>.+?)\s*"
    r"\((?P<total>\d+) MiB, (?P<free>\d+) MiB free\)\s*$"
)
LISTED = re.compile(r"^\s*(?P<name>[A-Za-z]+\d+): (?P<desc>.+?) \((?P<total>\d+) MiB, (?P<free>\d+) MiB free\)\s*$")
OFFLOADED = re.compile(r"\boffloaded (?P<n>\d+)/(?P<total>\d+) layers to GPU")
SYCL_FOUND = re.compile(r"\bfound (?P<n>\d+) SYCL devices")
SYCL_OLD = re.compile(r"^\s*Device (?P<index>\d+): (?P<name>[^,]+?),\s+compute capability")
SYCL_MAIN = re.compile(r"\bUsing device (?P<index>\d+) \((?P<name>.+)\) as main device")
SYCL_TYPE = re.compile(r"\[?(?P<backend>[a-z_]+):(?P<type>[a-z]+)(?::(?P<index>\d+))?\]?")
BUFFER = re.compile(
    r"(?:^|\s)(?P<name>[A-Za-z]+\d+|CPU)(?:_Mapped|_REPACK)? "
    r"(?:(?:model|KV|compute|output) )?buffer size"
    r"|\blayer\s+\d+ assigned to device (?P<assigned>[A-Za-z]\w*?\d*)\b"
)
NO_GPU = re.compile(r"\bno usable GPU found\b")  # a build without a GPU backend, or none that found a device
LOADED_BACKEND = re.compile(r"\bload_backend: loaded (?P<backend>\w+) backend")
# a server run begins (arguments parsed, logging set up, backends listing devices) ...
RUN_START = re.compile(
    r"\bno usable GPU found\b|\bllama_server: initializing\b|\bbuild: \d+|main: build = \d+"
    r"|common_params_print_info: build|\blog_info: verbosity|ggml_vulkan: Found \d+ Vulkan devices"
    r"|found \d+ SYCL devices"
)
# ... and, once its model is loaded, a run start after that is the next run (a journal across restarts)
RUN_LOADED = re.compile(r"\boffloaded \d+/\d+ layers|\bmodel loaded\b|\bserver is listening\b|\blistening on http")
BACKENDS = {
    "vulkan": "Vulkan",
    "sycl": "SYCL",
    "cuda": "CUDA",
    "rocm": "ROCm",
    "hip": "ROCm",
    "metal": "Metal",
    "opencl": "OpenCL",
    "cann": "CANN",
    "musa": "MUSA",
    "cpu": "CPU",
    "blas": "BLAS",
    "rpc": "RPC",
}


@dataclass(frozen=True)
class Device:
    """A device from the log: its ggml name (``Vulkan0``, ``SYCL0``, ``CPU``), what the backend calls
    it, its driver where the line names one, and whether it is a CPU or a software renderer."""

    name: str
    description: str
    backend: str
    driver: str = ""
    kind: str = "gpu"  # gpu, cpu (a CPU device, e.g. SYCL's opencl:cpu), software (llvmpipe & co.)
    fields: tuple[tuple[str, str], ...] = ()  # Vulkan's ``key: value`` fields (uma, fp16, ...)

    @property
    def label(self) -> str:
        return f"{self.name} ({self.description})" if self.description and self.description != self.name else self.name

    @property
    def is_gpu(self) -> bool:
        return self.kind == "gpu"


@dataclass(frozen=True)
class LogEvidence:
    """Where llama-server ran, by its own log (the last run in it)."""

    found: tuple[Device, ...] = ()  # what the backends enumerated
    used: tuple[Device, ...] = ()  # what the model was put on ("using device", buffers, SYCL's main device)
    offloaded: tuple[int, int] | None = None  # (layers offloaded, layers in all)
    no_gpu: bool = False  # "warning: no usable GPU found, --gpu-layers option will be ignored"
    backends: tuple[str, ...] = ()
    lines: tuple[str, ...] = field(default=(), compare=False)  # the lines that say it, prefixes stripped

    @property
    def has_devices(self) -> bool:
        return bool(self.found or self.used)

    @property
    def has_evidence(self) -> bool:
        return self.has_devices or self.offloaded is not None or self.no_gpu


def strip_prefix(line: str) -> str:
    return PREFIX.sub("", line.rstrip("\r\n"), count=1)


def classify(backend: str, description: str, driver: str = "", device_type: str = "") -> str:
    """gpu, cpu or software: by the device type a backend gives, else by the name and driver."""
    if device_type in ("cpu", "host", "acc", "fpga") or backend == "CPU":
        return "cpu"
    if SOFTWARE.search(description) or SOFTWARE.search(driver):
        return "software"
    if backend == "SYCL" and not device_type and SYCL_CPU_NAME.search(description):
        return "cpu"
    return "gpu"


def _groups(text: str) -> list[str]:
    """The balanced parenthesised groups of ``text``, outermost, in order: ``(a (b)) (c)`` -> [``a (b)``, ``c``]."""
    groups, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch == "(":
            if depth == 0:
                start = i + 1
            depth += 1
        elif ch == ")" and depth:
            depth -= 1
            if depth == 0:
                groups.append(text[start:i])
    return groups


def _backend_of(name: str) -> str:
    stem = re.sub(r"\d+$", "", name).rstrip("_").lower()
    return BACKENDS.get(stem, re.sub(r"\d+$", "", name))


def _vulkan(m: re.Match[str]) -> Device:
    rest, driver = m.group("rest").strip(), ""
    groups = _groups(rest)
    if rest.endswith(")") and groups:
        last = groups[-1]
        head = rest[: len(rest) - len(last) - 2].rstrip()
        if head:  # NAME (DRIVER); a name alone, e.g. "llvmpipe (LLVM 15.0.6, 256 bits)", keeps its bracket
            rest, driver = head, last
    pairs = (f.partition(":") for f in (m.group("fields") or "").split("|"))
    fields = tuple((k.strip(), v.strip()) for k, _, v in pairs if k.strip())
    return Device(f"Vulkan{m.group('index')}", rest, "Vulkan", driver, classify("Vulkan", rest, driver), fields)


def _using(m: re.Match[str]) -> Device:
    name = m.group("name")
    groups = _groups(m.group("rest"))
    description = groups[0] if groups else ""
    backend = _backend_of(name)
    return Device(name, description, backend, kind=classify(backend, description))


def _sycl_table(rows: list[str]) -> list[Device]:
    """SYCL's device table: header rows (one or more), a ``|--|`` rule, device rows. The columns are
    found by their header text (``Device Type``/``Type``, ``Name``), so reordered or added columns parse."""
    cells = [[c.strip() for c in row.strip().strip("|").split("|")] for row in rows if row.strip()]
    rule = next((i for i, row in enumerate(cells) if row and all(set(c) <= {"-", ":"} and c for c in row)), None)
    if rule is None:
        return []
    width = len(cells[rule])
    headers = [" ".join(r[i] for r in cells[:rule] if i < len(r) and r[i]).lower() for i in range(width)]
    type_col = next((i for i, h in enumerate(headers) if "type" in h), None)
    name_col = next((i for i, h in enumerate(headers) if h.endswith("name") or h == "name"), None)
    id_col = next((i for i, h in enumerate(headers) if h == "id"), None)
    if type_col is None or name_col is None:
        return []
    devices: list[Device] = []
    for row in cells[rule + 1 :]:
        if len(row) <= max(type_col, name_col):
            continue
        kind = SYCL_TYPE.fullmatch(row[type_col].strip())
        index = row[id_col].strip() if id_col is not None and id_col < len(row) else str(len(devices))
        device_type = kind.group("type") if kind else ""
        driver = kind.group("backend") if kind else ""
        name = row[name_col]
        devices.append(Device(f"SYCL{index}", name, "SYCL", driver, classify("SYCL", name, "", device_type)))
    return devices


def _merge(devices: Iterable[Device]) -> tuple[Device, ...]:
    """One entry per name; a later line with a description fills in an earlier one without."""
    out: dict[str, Device] = {}
    for d in devices:
        known = out.get(d.name)
        if known is None or (not known.description and d.description):
            out[d.name] = d
    return tuple(out.values())


def _last_run(lines: list[str]) -> list[str]:
    """The lines of the last server run: a run starts where a run-start line follows a loaded model."""
    start, loaded = 0, False
    for i, line in enumerate(lines):
        if loaded and RUN_START.search(line):
            start, loaded = i, False
        elif RUN_LOADED.search(line):
            loaded = True
    return lines[start:]


def parse_log(text: str) -> LogEvidence:
    """The evidence in a llama-server log (any of the shapes above); empty when it has none."""
    lines = _last_run([strip_prefix(line) for line in text.splitlines()])
    found: list[Device] = []
    used: list[Device] = []
    buffers: list[str] = []
    backends: list[str] = []
    evidence: list[str] = []
    offloaded: tuple[int, int] | None = None
    no_gpu = False
    table: list[str] | None = None
    for line in lines:
        if table is not None:
            if line.lstrip().startswith("|") or (not table and not line.strip()):
                table.append(line)
                continue
            found += _sycl_table(table)
            table = None
        if m := VULKAN.search(line):
            found.append(_vulkan(m))
            evidence.append(line.strip())
            backends.append("Vulkan")
        elif m := USING.search(line):
            used.append(_using(m))
            evidence.append(line.strip())
        elif m := OFFLOADED.search(line):
            offloaded = (int(m.group("n")), int(m.group("total")))
            evidence.append(line.strip())
        elif SYCL_FOUND.search(line):
            table = []
            evidence.append(line.strip())
            backends.append("SYCL")
        elif (m := DEVICE_INFO.match(line)) or (m := LISTED.match(line)):
            backend = _backend_of(m.group("name"))
            found.append(Device(m.group("name"), m.group("desc"), backend, kind=classify(backend, m.group("desc"))))
            evidence.append(line.strip())
        elif m := SYCL_OLD.match(line):
            found.append(
                Device(
                    f"SYCL{m.group('index')}", m.group("name").strip(), "SYCL", kind=classify("SYCL", m.group("name"))
                )
            )
            backends.append("SYCL")
        elif m := SYCL_MAIN.search(line):
            used.append(
                Device(
                    f"SYCL{m.group('index')}", m.group("name").strip(), "SYCL", kind=classify("SYCL", m.group("name"))
                )
            )
            evidence.append(line.strip())
        elif m := BUFFER.search(line):
            buffers.append(m.group("name") or m.group("assigned"))
        elif NO_GPU.search(line):
            no_gpu = True
            evidence.append(line.strip())
        elif m := LOADED_BACKEND.search(line):
            backends.append(m.group("backend"))
    if table is not None:
        found += _sycl_table(table)
    found_merged = _merge(found)
    if not used:  # older builds name the used devices only in their buffers (Vulkan0, SYCL0; not CPU)
        by_name = {d.name: d for d in found_merged}
        used = [by_name.get(n) or Device(n, "", _backend_of(n), kind=classify(_backend_of(n), n)) for n in buffers]
    used_devices = tuple(
        d if d.description else next((f for f in found_merged if f.name == d.name), d) for d in _merge(used)
    )
    kept = tuple(dict.fromkeys(b for b in backends + [d.backend for d in found_merged + used_devices] if b))
    return LogEvidence(found_merged, used_devices, offloaded, no_gpu, kept, tuple(evidence))
