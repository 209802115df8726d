"""Turn probe results into findings: what is wrong, the evidence, the fix (a NixOS option if any).

Each rule covers one problem users of Intel GPUs on Linux and NixOS report (the kernel driver, the
Level Zero driver split, render-node access, an Intel GPU missing from Vulkan, dropped iGPUs,
free-VRAM queries, device selection, JIT-breaking hardening, service ordering, the SYCL cache,
Resizable BAR, FP64 emulation, a torch without XPU), with its fix. Rules read typed observations,
never raw command output.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from .gpu_ids import lookup
from .model import Finding, NixosSetting, ProbeResult, Severity, Status
from .probes.environment import EnvFacts
from .probes.level_zero import INTEL_VENDOR, loader_override
from .probes.pci import PciGpu, SystemScan
from .probes.services import UnitFacts
from .probes.vulkan import VulkanDevice, devices_from_data

XE2_OR_NEWER = ("Xe2", "Xe3")
# the services whose NixOS module this flake extends with an `intel` option set
INTEL_SERVICES = ("ollama", "comfyui", "llama-cpp")
XPU_ENABLE = NixosSetting("hardware.intel-xpu.enable", "true")
RENDER_GROUPS = '[ "render" "video" ]'


@dataclass(frozen=True)
class Observations:
    """Everything the rules may look at, gathered once per doctor run."""

    scan: SystemScan
    results: dict[str, ProbeResult]
    env: EnvFacts
    units: tuple[UnitFacts, ...] = field(default=())

    def status(self, probe: str) -> Status | None:
        r = self.results.get(probe)
        return r.status if r else None

    def data(self, probe: str) -> dict:
        r = self.results.get(probe)
        return r.data if r else {}

    @property
    def gpus(self) -> tuple[PciGpu, ...]:
        return self.scan.gpus

    @property
    def driven_gpus(self) -> tuple[PciGpu, ...]:
        return tuple(g for g in self.scan.gpus if g.driver in ("i915", "xe"))

    def variable(self, name: str) -> str | None:
        """A variable as the target shell or any service unit sees it."""
        if name in self.env.variables:
            return self.env.variables[name]
        return next((u.environment[name] for u in self.units if name in u.environment), None)


Rule = Callable[[Observations], Iterable[Finding]]
RULES: list[Rule] = []


def rule(fn: Rule) -> Rule:
    RULES.append(fn)
    return fn


def _no_gpu_note(obs: Observations) -> tuple[str, ...]:
    return ("(this machine has no Intel GPU, so this follows from that)",) if not obs.gpus else ()


def _vulkan_devices(obs: Observations) -> tuple[VulkanDevice, ...] | None:
    """What Vulkan listed, or None when it was not asked or its answer says nothing (vulkaninfo
    absent, hung, or printed something else)."""
    if obs.status("vulkan") not in (Status.OK, Status.FAIL):
        return None
    return devices_from_data(obs.data("vulkan"))


def _on_vulkan(gpu: PciGpu, devices: tuple[VulkanDevice, ...]) -> VulkanDevice | None:
    """The Intel hardware Vulkan device of a PCI GPU, matched by PCI id (8086:deviceID), never by name;
    a device whose deviceID vulkaninfo did not print matches any Intel GPU."""
    return next((d for d in devices if d.is_intel and not d.is_software and d.device_id in (None, gpu.device_id)), None)


@rule
def commands_not_found(obs: Observations) -> Iterable[Finding]:
    """Exit 127 from the target itself (sshpass, sh or timeout missing): about the way in, not the GPU."""
    r = obs.results.get("target")
    if r is not None and r.status is Status.FAIL:
        yield Finding(
            "target-command-not-found", Severity.FAIL, r.summary, (*r.evidence, r.cause or ""), fix=r.fix or ""
        )


@rule
def no_intel_gpu(obs: Observations) -> Iterable[Finding]:
    if not obs.gpus and obs.status("target") is not Status.FAIL:
        yield Finding(
            "no-intel-gpu",
            Severity.FAIL,
            "No Intel GPU on this machine",
            ("no PCI device with vendor 0x8086 and class 0x03xxxx in /sys/bus/pci/devices",),
            fix="run on a machine with an Intel GPU, or pass one through to a VM (VFIO)",
        )


@rule
def kernel_driver(obs: Observations) -> Iterable[Finding]:
    version = obs.scan.kernel_version
    for gpu in obs.gpus:
        if gpu.driver in ("i915", "xe"):
            continue
        if gpu.driver == "vfio-pci":
            yield Finding(
                "gpu-reserved-for-vfio",
                Severity.INFO,
                f"{gpu.label()} is bound to vfio-pci",
                (f"driver vfio-pci{', driver_override ' + gpu.driver_override if gpu.driver_override else ''}",),
                fix="expected on a passthrough host; to use it here, unbind vfio-pci and bind i915/xe",
                nixos="remove the id from the vfio-pci ids (boot.kernelParams' vfio-pci.ids=, "
                "boot.extraModprobeConfig's options vfio-pci ids=) and vfio-pci from boot.initrd.kernelModules",
            )
            continue
        model = lookup(gpu.device_id)
        evidence = [f"{gpu.label()}: no kernel driver bound", f"kernel {obs.scan.kernel or 'unknown'}"]
        wanted = "xe" if model and model.family.xe_only else "i915 or xe"
        xe = model is None or "xe" in model.family.drivers  # Gen9-Gen11: i915 only
        fix = f"boot a kernel that drives it with {wanted}"
        if model and model.family.min_kernel and version and version < model.family.min_kernel:
            need = ".".join(map(str, model.family.min_kernel))
            evidence.append(f"{model.family.name} needs Linux {need}+ ({wanted}) without force_probe")
            fix = f"upgrade to Linux {need} or newer, or force-probe the device: xe.force_probe={gpu.device_hex}"
        else:
            evidence.append("the driver did not bind: check `dmesg | grep -E 'i915|xe'` (e.g. probe error -105)")
            fix += (
                f"; to move it to xe: i915.force_probe=!{gpu.device_hex} xe.force_probe={gpu.device_hex}"
                if xe
                else f"; to force i915 onto it: i915.force_probe={gpu.device_hex}"
            )
        yield Finding(
            "kernel-driver",
            Severity.FAIL,
            f"No GPU kernel driver for {gpu.label()}",
            tuple(evidence),
            fix=fix,
            settings=(
                NixosSetting("boot.kernelPackages", "pkgs.linuxPackages_latest"),
                XPU_ENABLE,
                NixosSetting("hardware.intel-xpu.driver", '"xe"' if xe else '"i915"'),
                NixosSetting("hardware.intel-xpu.forceProbe", f'[ "{gpu.device_hex}" ]'),
            ),
            nixos=(
                f'(forceProbe adds boot.kernelParams = [ "i915.force_probe=!{gpu.device_hex}" '
                f'"xe.force_probe={gpu.device_hex}" ]; xe needs Linux 6.8+)'
                if xe
                else f'(forceProbe adds boot.kernelParams = [ "i915.force_probe={gpu.device_hex}" ])'
            ),
            refs=("nixpkgs#448998",),
        )


@rule
def level_zero(obs: Observations) -> Iterable[Finding]:
    r = obs.results.get("level-zero")
    if r is None or r.status is Status.OK:
        return
    if r.status is Status.ABSENT:
        yield Finding(
            "level-zero-loader-missing",
            Severity.FAIL,
            "Level Zero loader not installed",
            r.evidence + _no_gpu_note(obs),
            fix=r.fix or "",
            settings=(XPU_ENABLE,),
            nixos="(adds pkgs.level-zero)",
        )
        return
    if r.status is Status.WARN:  # could not run
        yield Finding(
            "level-zero-not-checked",
            Severity.WARN,
            "Level Zero could not be checked on the target",
            r.evidence or (r.cause or "",),
            fix=r.fix or "",
        )
        return
    evidence = r.evidence + _no_gpu_note(obs)
    if obs.env.nixos and obs.env.opengl_driver_libs and not obs.env.has_ze_gpu_driver:
        evidence += ("/run/opengl-driver/lib has the compute runtime but no libze_intel_gpu.so",)
    yield Finding(
        "level-zero-no-driver",
        Severity.FAIL,
        "Level Zero loader finds no Intel GPU driver",
        evidence,
        fix="install the compute runtime's Level Zero driver (libze_intel_gpu.so); a stopgap some use is "
        "LD_LIBRARY_PATH=/run/opengl-driver/lib",
        settings=(
            NixosSetting(
                "hardware.graphics.extraPackages", "[ pkgs.intel-compute-runtime pkgs.intel-compute-runtime.drivers ]"
            ),
        ),
        nixos="(or hardware.intel-xpu.enable = true, which detects the drivers output)",
        refs=("nixpkgs PR 560627",),
    )


@rule
def level_zero_gpu_not_in_sysfs(obs: Observations) -> Iterable[Finding]:  # also a loader debug switch
    """A GPU Level Zero reports that no Intel GPU in the PCI scan accounts for."""
    shown = {g.device_id for g in obs.driven_gpus}
    data = obs.data("level-zero")
    unseen = [
        dev
        for driver in data.get("drivers", [])
        for dev in driver.get("devices", [])
        if dev.get("type") == "gpu" and not (dev.get("vendor_id") == INTEL_VENDOR and dev.get("device_id") in shown)
    ]
    if not unseen:
        return
    evidence = tuple(
        f"Level Zero GPU {dev.get('name')!r} [{dev.get('vendor_id', 0):04x}:{dev.get('device_id', 0):04x}]"
        for dev in unseen
    )
    evidence += (f"sysfs: {', '.join(g.label() for g in obs.driven_gpus) or 'no Intel GPU driven by i915 or xe'}",)
    override = loader_override(data)
    if override:
        yield Finding(
            "level-zero-gpu-not-in-sysfs",
            Severity.FAIL,
            f"Level Zero reports a GPU that is not hardware ({override.variable} is set)",
            (*evidence, override.evidence),
            fix=f"unset {override.variable}: it is a loader debug switch, and the GPU it brings is no device of "
            "this machine (programs that pick it compute nothing)",
            nixos=f"remove {override.variable} from environment.variables, environment.sessionVariables and "
            "the services' environment (systemd.services.<name>.environment, "
            "services.ollama.environmentVariables)",
        )
        return
    yield Finding(
        "level-zero-gpu-not-in-sysfs",
        Severity.WARN,
        "Level Zero reports a GPU that sysfs does not show",
        evidence,
        fix="run the doctor where that GPU's PCI device is visible: on the host, not in a container without the "
        "host's /sys, and without a --sysroot of another machine",
    )


@rule
def sycl(obs: Observations) -> Iterable[Finding]:
    r = obs.results.get("sycl")
    if r is None or r.status is Status.OK:
        return
    if r.status is Status.ABSENT:
        yield Finding(
            "sycl-not-checked",
            Severity.INFO,
            "No SYCL runtime to ask (no sycl-ls, no dpctl)",
            r.evidence,
            fix=r.fix or "",
            settings=(XPU_ENABLE, NixosSetting("hardware.intel-xpu.syclTools", "true")),
            nixos="(sycl-ls from MordragT's SYCL LLVM, through this flake's overlay)",
        )
        return
    severity = Severity.WARN if r.status is Status.WARN else Severity.FAIL
    yield Finding(
        "sycl-no-gpu" if severity is Severity.FAIL else "sycl-opencl-only",
        severity,
        r.summary,
        r.evidence + _no_gpu_note(obs),
        fix=r.fix or "",
        settings=(XPU_ENABLE,),
    )


@rule
def opencl(obs: Observations) -> Iterable[Finding]:
    r = obs.results.get("opencl")
    if r is None or r.status is Status.OK:
        return
    if r.status is Status.ABSENT:
        yield Finding(
            "opencl-not-checked",
            Severity.INFO,
            "clinfo not installed: OpenCL not checked",
            r.evidence or (r.cause or "",),
            fix=r.fix or "",
        )
        return
    yield Finding(
        "opencl-no-gpu",
        Severity.FAIL,
        r.summary,
        r.evidence + _no_gpu_note(obs),
        fix=r.fix or "",
        settings=(NixosSetting("hardware.graphics.extraPackages", "[ pkgs.intel-compute-runtime ]"),),
    )


@rule
def selector_hides_gpu(obs: Observations) -> Iterable[Finding]:
    selector = obs.data("sycl").get("selector")
    if selector and obs.status("sycl") is Status.FAIL and obs.status("level-zero") is Status.OK:
        yield Finding(
            "selector-hides-gpu",
            Severity.FAIL,
            f"ONEAPI_DEVICE_SELECTOR={selector} hides every Intel GPU",
            (
                f"Level Zero enumerates {len(obs.data('level-zero').get('gpus', []))} GPU(s)",
                "SYCL lists none with the selector applied",
            ),
            fix="set ONEAPI_DEVICE_SELECTOR=level_zero:gpu (or level_zero:N) or unset it",
            settings=(NixosSetting("services.ollama.intel.device", '"level_zero:0"'),),
            nixos="(or unset ONEAPI_DEVICE_SELECTOR where it is set)",
        )


@rule
def render_access(obs: Observations) -> Iterable[Finding]:
    r = obs.results.get("render-nodes")
    if r is None or r.status not in (Status.FAIL, Status.WARN):
        return
    acl_only = any("uaccess" in str(n.get("reason")) for n in r.data.get("nodes", []))
    yield Finding(
        "render-access",
        Severity.FAIL if r.status is Status.FAIL else Severity.WARN,
        f"{r.data.get('user') or 'The running user'} cannot open the GPU render node",
        r.evidence,
        fix=(r.fix or "")
        + ("; access through a logind ACL lasts only while that user is logged in locally" if acl_only else ""),
        **_render_advice(r.data),
        refs=("pytorch/pytorch#148477",),
    )


def _render_advice(data: dict) -> dict:
    """The NixOS settings that give the judged account the render node: a unit's own credentials for a
    service that runs with DynamicUser, else the account's groups."""
    unit = data.get("unit")
    if unit:
        name = str(unit).removesuffix(".service")
        note = f"(services.{name}.intel.enable = true sets both)" if name in INTEL_SERVICES else None
        return {
            "settings": (NixosSetting(f"systemd.services.{name}.serviceConfig.SupplementaryGroups", RENDER_GROUPS),),
            "nixos": note,
        }
    user = data.get("user") or "<user>"
    return {
        "settings": (NixosSetting(f"users.users.{user}.extraGroups", RENDER_GROUPS),),
        "nixos": f'(or hardware.intel-xpu.users = [ "{user}" ]); for a service: '
        f"systemd.services.<name>.serviceConfig.SupplementaryGroups = {RENDER_GROUPS};",
    }


@rule
def igpu_dropped(obs: Observations) -> Iterable[Finding]:
    driven = obs.driven_gpus
    vulkan = _vulkan_devices(obs) or ()

    def kind(gpu: PciGpu) -> str:  # an id missing from the table: Vulkan's device type beats the address guess
        listed = _on_vulkan(gpu, vulkan) if gpu.model is None else None
        return listed.device_type if listed and listed.device_type in ("integrated", "discrete") else gpu.kind

    if driven and all(kind(g) == "integrated" for g in driven) and obs.variable("OLLAMA_IGPU_ENABLE") != "1":
        evidence = [
            f"only integrated Intel GPUs: {', '.join(g.label() for g in driven)}",
            "OLLAMA_IGPU_ENABLE is not 1",
            'recent Ollama logs "dropping integrated GPU" and runs on the CPU',
        ]
        for gpu in driven:
            listed = _on_vulkan(gpu, vulkan)
            if listed and listed.device_type == "integrated":
                evidence.append(
                    f"Vulkan lists {listed.name or gpu.name} [{listed.pci_id}] as "
                    "PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: Ollama (Vulkan by default since 0.30) "
                    "takes that type and drops the device"
                )
        yield Finding(
            "ollama-igpu-dropped",
            Severity.WARN,
            "Ollama will drop the integrated GPU",
            tuple(evidence),
            fix="set OLLAMA_IGPU_ENABLE=1 in Ollama's environment",
            settings=(
                NixosSetting("services.ollama.intel.enable", "true"),
                NixosSetting("services.ollama.intel.igpu", "true"),
            ),
            nixos='(or services.ollama.environmentVariables.OLLAMA_IGPU_ENABLE = "1";)',
        )


_VULKAN_LOADER_SWITCHES = ("VK_DRIVER_FILES", "VK_ICD_FILENAMES")
VULKAN_ICD_SETTINGS = (NixosSetting("hardware.graphics.enable", "true"),)
VULKAN_ICD_NIXOS = (
    "(Mesa, the default hardware.graphics.package, carries Intel's Vulkan driver; "
    "hardware.intel-xpu.enable = true sets it)"
)


def _vulkan_fix(obs: Observations) -> tuple[tuple[str, ...], str]:
    """Evidence about the loader's driver switches, and the fix for an Intel GPU that Vulkan does not list."""
    switches = [
        f"{name}={obs.variable(name)} limits the Vulkan loader to those drivers"
        for name in _VULKAN_LOADER_SWITCHES
        if obs.variable(name)
    ]
    fix = (
        "install Mesa's Intel Vulkan driver (ANV: libvulkan_intel.so and its intel_icd.*.json in "
        "/run/opengl-driver/share/vulkan/icd.d on NixOS, /usr/share/vulkan/icd.d elsewhere; Debian/Ubuntu: "
        "mesa-vulkan-drivers)"
    )
    if switches:
        fix = f"unset {' and '.join(n for n in _VULKAN_LOADER_SWITCHES if obs.variable(n))}, or " + fix
    return tuple(switches), fix


@rule
def vulkan(obs: Observations) -> Iterable[Finding]:
    """An Intel GPU that Vulkan does not list: Ollama (Vulkan by default since 0.30) and llama.cpp's
    Vulkan backend run on the CPU. One finding per cause: with only llvmpipe it is
    vulkan-software-only, otherwise vulkan-no-intel-device; without a driven Intel GPU the
    software-only listing is a note that follows from that (no-intel-gpu, kernel-driver)."""
    r = obs.results.get("vulkan")
    if r is None:
        return
    if r.status is Status.ABSENT:
        yield Finding(
            "vulkan-not-checked",
            Severity.INFO,
            "vulkaninfo not installed: Vulkan not checked",
            r.evidence or (r.cause or "",),
            fix=r.fix or "",
            settings=(NixosSetting("environment.systemPackages", "[ pkgs.vulkan-tools ]"),),
        )
        return
    devices = _vulkan_devices(obs)
    if devices is None:  # hung, or printed something that is not vulkaninfo's
        yield Finding(
            "vulkan-not-checked",
            Severity.WARN,
            "Vulkan could not be checked on the target",
            r.evidence + ((r.cause,) if r.cause else ()),
            fix=r.fix or "",
        )
        return
    listed = tuple(d.label() for d in devices) or ("Vulkan lists no device",)
    listed += tuple(r.data.get("errors", [])[:3])
    software_only = bool(devices) and all(d.is_software for d in devices)
    driven = obs.driven_gpus
    missing = [g for g in driven if _on_vulkan(g, devices) is None]
    if missing:
        switches, fix = _vulkan_fix(obs)
        some_on_vulkan = len(missing) < len(driven)
        where = tuple(f"PCI: {g.label()}, driven by {g.driver}, has no Vulkan device" for g in missing)
        if software_only:
            yield Finding(
                "vulkan-software-only",
                Severity.FAIL,
                f"Vulkan has only a software device, none for {', '.join(g.name for g in missing)}",
                (
                    *where,
                    *listed,
                    *switches,
                    (
                        "llvmpipe runs Vulkan on the CPU: llama.cpp skips it, and Ollama (Vulkan by default since "
                        "0.30) runs on the CPU"
                    ),
                ),
                fix=fix,
                settings=VULKAN_ICD_SETTINGS,
                nixos=VULKAN_ICD_NIXOS,
            )
            return
        yield Finding(
            "vulkan-no-intel-device",
            Severity.WARN if some_on_vulkan else Severity.FAIL,
            f"Vulkan lists no device for {', '.join(g.name for g in missing)}",
            (
                *where,
                *listed,
                *switches,
                "the other Intel GPU(s) are on Vulkan; programs that pick the missing one by index fail"
                if some_on_vulkan
                else (
                    "without an Intel Vulkan device Ollama (Vulkan by default since 0.30) and llama.cpp's Vulkan "
                    "backend run on the CPU"
                ),
            ),
            fix=fix,
            settings=VULKAN_ICD_SETTINGS,
            nixos=VULKAN_ICD_NIXOS,
        )
        return
    if software_only:  # no Intel GPU driven by i915/xe: llvmpipe is all a Vulkan program can get here
        note = _no_gpu_note(obs) or (
            "(no Intel GPU is driven by i915 or xe here, see the kernel-driver finding: this follows from that)",
        )
        yield Finding(
            "vulkan-software-only",
            Severity.INFO,
            "Vulkan has only a software device: Vulkan programs run on the CPU",
            (*listed, "llama.cpp skips llvmpipe; Ollama's Vulkan backend finds no GPU", *note),
            fix="nothing to fix in Vulkan: give the machine an Intel GPU with a kernel driver (see the findings above)",
        )


@rule
def sysman(obs: Observations) -> Iterable[Finding]:
    if obs.driven_gpus and obs.variable("ZES_ENABLE_SYSMAN") != "1":
        yield Finding(
            "no-free-vram-data",
            Severity.WARN,
            "Free VRAM is unknown to SYCL programs",
            (
                "ZES_ENABLE_SYSMAN is not 1",
                (
                    'SYCL prints "ext_intel_free_memory is not supported '
                    '(export/set ZES_ENABLE_SYSMAN=1)" and assumes all memory is free'
                ),
            ),
            fix="set ZES_ENABLE_SYSMAN=1 for the services that run on SYCL or Level Zero (llama.cpp SYCL, "
            "IPEX-LLM Ollama, PyTorch XPU)",
            settings=(
                NixosSetting("environment.sessionVariables.ZES_ENABLE_SYSMAN", '"1"'),
                NixosSetting("services.ollama.environmentVariables.ZES_ENABLE_SYSMAN", '"1"'),
            ),
            nixos="(hardware.intel-xpu.sysman, on by default, sets it for login sessions; "
            "services.ollama.intel.enable and services.comfyui.intel.enable set it for their services)",
        )


@rule
def device_selection(obs: Observations) -> Iterable[Finding]:
    driven = obs.driven_gpus
    kinds = {g.kind for g in driven}
    if len(driven) > 1 and "integrated" in kinds and "discrete" in kinds and not obs.variable("ONEAPI_DEVICE_SELECTOR"):
        index = None
        for i, dev in enumerate(obs.data("level-zero").get("gpus", [])):
            if not dev.get("integrated"):
                index = i
                break
        selector = f"level_zero:{index}" if index is not None else "level_zero:<index of the discrete GPU>"
        yield Finding(
            "device-selection",
            Severity.WARN,
            "Both an iGPU and a discrete GPU: programs may pick the iGPU",
            (*tuple(g.label() for g in driven), "ONEAPI_DEVICE_SELECTOR is not set"),
            fix=f"pin the discrete GPU: ONEAPI_DEVICE_SELECTOR={selector} (llama.cpp: GGML_SYCL_DEVICE)",
            settings=(NixosSetting("services.ollama.intel.device", f'"{selector}"'),),
        )


@rule
def jit_hardening(obs: Observations) -> Iterable[Finding]:
    for unit in obs.units:
        if unit.memory_deny_write_execute:
            name = unit.unit.removesuffix(".service")
            yield Finding(
                "mdwe-blocks-jit",
                Severity.FAIL,
                f"{unit.unit} forbids writable+executable memory",
                (
                    f"{unit.unit}: MemoryDenyWriteExecute=yes",
                    'SYCL/oneDNN/PyTorch compile GPU kernels at run time ("could not create a primitive")',
                ),
                fix=f"turn MemoryDenyWriteExecute off for {unit.unit}",
                settings=(
                    NixosSetting(f"systemd.services.{name}.serviceConfig.MemoryDenyWriteExecute", "lib.mkForce false"),
                ),
            )


@rule
def service_ordering(obs: Observations) -> Iterable[Finding]:
    for unit in obs.units:
        if not unit.ordered_after_gpu:
            name = unit.unit.removesuffix(".service")
            yield Finding(
                "service-before-gpu",
                Severity.WARN,
                f"{unit.unit} may start before the GPU is ready",
                (f"After={' '.join(unit.after)}", "no .device unit or udev settle in its ordering"),
                fix="order the service after the GPU's render node exists",
                **_ordering_advice(name),
            )


def _ordering_advice(name: str) -> dict:
    if name in INTEL_SERVICES:
        return {
            "settings": (NixosSetting(f"services.{name}.intel.enable", "true"),),
            "nixos": "(orders it after dev-dri-intel-render.device, the render node's device unit: "
            "hardware.intel-xpu.renderNodeUnit)",
        }
    unit = "[ config.hardware.intel-xpu.renderNodeUnit ]"
    return {
        "settings": (
            NixosSetting(f"systemd.services.{name}.wants", unit),
            NixosSetting(f"systemd.services.{name}.after", unit),
        )
    }


@rule
def sycl_cache(obs: Observations) -> Iterable[Finding]:
    new = [g for g in obs.driven_gpus if g.arch in XE2_OR_NEWER]
    if new and obs.variable("SYCL_CACHE_PERSISTENT") == "1":
        yield Finding(
            "sycl-cache-xe2",
            Severity.WARN,
            "SYCL_CACHE_PERSISTENT=1 on an Xe2/Xe3 GPU",
            (*tuple(f"{g.label()} ({g.arch})" for g in new), "SYCL_CACHE_PERSISTENT=1"),
            fix="unset SYCL_CACHE_PERSISTENT until the runtime fixes the cache crashes on Xe2/Xe3",
            refs=("ggml-org/llama.cpp#22095", "intel/llvm#22853"),
        )


@rule
def resizable_bar(obs: Observations) -> Iterable[Finding]:
    for gpu in obs.gpus:
        if gpu.resizable_bar == "off":
            yield Finding(
                "rebar-off",
                Severity.WARN,
                f"Resizable BAR is off for {gpu.label()}",
                (f"largest prefetchable BAR {gpu.largest_prefetchable_bar // 2**20} MiB (256 MiB window)",),
                fix="enable Resizable BAR and Above 4G Decoding in the firmware setup (reported ~5x slower without)",
            )


@rule
def fp64_emulation(obs: Observations) -> Iterable[Finding]:
    for gpu in obs.driven_gpus:
        model = lookup(gpu.device_id)
        if (
            model
            and not model.family.fp64
            and not (
                obs.variable("OverrideDefaultFP64Settings") == "1" and obs.variable("IGC_EnableDPEmulation") == "1"
            )
        ):
            yield Finding(
                "fp64-emulation",
                Severity.WARN,
                f"{gpu.label()} has no native FP64",
                (f"{model.family.name} ({model.family.arch}) lacks FP64; FP64 emulation is not enabled",),
                fix="set OverrideDefaultFP64Settings=1 and IGC_EnableDPEmulation=1 for PyTorch/ComfyUI",
                settings=(NixosSetting("services.comfyui.intel.fp64Emulation", "true"),),
            )


@rule
def torch_xpu(obs: Observations) -> Iterable[Finding]:
    r = obs.results.get("torch")
    if r is None or r.status is not Status.FAIL:
        return
    data = r.data
    if not data.get("xpu_build"):
        yield Finding(
            "torch-no-xpu",
            Severity.FAIL,
            r.summary,
            (*r.evidence, r.cause or ""),
            fix=r.fix or "",
            settings=(NixosSetting("services.comfyui.intel.enable", "true"),),
            nixos="(services.comfyui.package becomes this flake's ComfyUI on XPU PyTorch)",
        )
    else:
        yield Finding("torch-xpu-no-device", Severity.FAIL, r.summary, r.evidence + _no_gpu_note(obs), fix=r.fix or "")
    ipex = data.get("ipex_version")
    if ipex:
        yield Finding(
            "ipex-discontinued",
            Severity.INFO,
            f"intel_extension_for_pytorch {ipex} is installed",
            ("IPEX is discontinued after 2.8; ComfyUI uses upstream torch.xpu",),
            fix="drop IPEX and use torch.xpu (PyTorch 2.7+)",
        )


@rule
def nixos_driver_split(obs: Observations) -> Iterable[Finding]:
    r = obs.results.get("environment")
    if r is not None and r.status is Status.FAIL and obs.status("level-zero") is Status.OK:
        yield Finding(
            "nixos-drivers-output",
            Severity.WARN,
            r.summary,
            r.evidence,
            fix=r.fix or "",
            settings=(NixosSetting("hardware.graphics.extraPackages", "[ pkgs.intel-compute-runtime.drivers ]"),),
        )


def diagnose(obs: Observations) -> list[Finding]:
    """Every finding the rules make, most severe first."""
    order = {Severity.FAIL: 0, Severity.WARN: 1, Severity.INFO: 2}
    findings = [f for r in RULES for f in r(obs)]
    return sorted(findings, key=lambda f: order[f.severity])
