"""Diagnosis rules on recorded machines: each known problem of the Intel GPU stack.

The sysfs side is the real scan of a recorded layout. The runtime side of a GPU machine cannot run
here (no Intel GPU), so it is the real judge functions fed with collector output shaped as
ze_probe.py prints it, filled with the values the cited reports show.
"""

from __future__ import annotations

import dataclasses

from xpu_tool.collectors.run import ScriptRun
from xpu_tool.diagnosis import Observations, diagnose
from xpu_tool.model import Severity
from xpu_tool.probes.environment import collect_env, judge_env
from xpu_tool.probes.level_zero import judge_level_zero
from xpu_tool.probes.pci import judge_pci, scan_system
from xpu_tool.probes.render import judge_render
from xpu_tool.probes.sycl import judge_sycl, parse_sycl_ls
from xpu_tool.probes.torch_xpu import judge_torch
from xpu_tool.probes.units import judge_units, parse_systemctl_show

A770 = {
    "name": "Intel(R) Arc(TM) A770 Graphics",
    "type": "gpu",
    "vendor_id": 0x8086,
    "device_id": 0x56A0,
    "integrated": False,
    "memory": [{"name": "DDR", "total_size": 16225243136}],
}  # size: ollama#2458 log
UHD630 = {
    "name": "Intel(R) UHD Graphics 630",
    "type": "gpu",
    "vendor_id": 0x8086,
    "device_id": 0x3E92,
    "integrated": True,
    "memory": [{"name": "DDR", "total_size": 13321109504}],
}


def ze(*devices: dict) -> ScriptRun:
    if not devices:
        return ScriptRun(
            "level-zero",
            {
                "loader": "/usr/lib/libze_loader.so.1",
                "init_api": "zeInit",
                "init_result": 0x78000001,
                "init_result_name": "ZE_RESULT_ERROR_UNINITIALIZED",
                "drivers": [],
            },
            "python3",
        )
    return ScriptRun(
        "level-zero",
        {
            "loader": "/usr/lib/libze_loader.so.1",
            "init_api": "zeInitDrivers",
            "init_result": 0,
            "init_result_name": "ZE_RESULT_SUCCESS",
            "drivers": [{"version_text": "1.3.28454", "devices": list(devices)}],
        },
        "xpu",
    )


# nixpkgs nixos/modules/services/misc/ollama.nix hardening as `systemctl show` prints it
OLLAMA_UNIT = """Id=ollama.service
LoadState=loaded
ActiveState=active
MemoryDenyWriteExecute=yes
After=network.target systemd-journald.socket basic.target sysinit.target system.slice
Environment="HOME=/var/lib/ollama" "OLLAMA_MODELS=/var/lib/ollama/models" "OLLAMA_HOST=127.0.0.1:11434"
SupplementaryGroups=render
DynamicUser=yes
User=
DevicePolicy=closed
"""


def observe(
    ctx,
    *,
    level_zero: ScriptRun | None = None,
    variables: dict | None = None,
    units: str = "",
    torch: dict | None = None,
    sycl: str | None = None,
    nixos_libs: tuple[str, ...] | None = None,
) -> Observations:
    scan = scan_system(ctx)
    env = collect_env(ctx)
    env = dataclasses.replace(env, variables=variables or {})
    if nixos_libs is not None:
        env = dataclasses.replace(env, nixos=True, opengl_driver_libs=nixos_libs)
    unit_facts = parse_systemctl_show(units) if units else []
    results = [
        judge_pci(scan),
        judge_render(ctx, scan),
        judge_level_zero(level_zero or ze()),
        judge_env(env),
        judge_units(unit_facts),
    ]
    if sycl is not None:
        results.append(judge_sycl(parse_sycl_ls(sycl), "sycl-ls", (variables or {}).get("ONEAPI_DEVICE_SELECTOR")))
    if torch is not None:
        results.append(judge_torch(ScriptRun("torch", torch, "python3")))
    return Observations(scan, {r.probe: r for r in results}, env, tuple(unit_facts))


def ids(obs: Observations) -> set[str]:
    return {f.id for f in diagnose(obs)}


def test_no_intel_gpu(ctx_for) -> None:
    findings = diagnose(observe(ctx_for("no-intel-gpu")))
    assert findings[0].id == "no-intel-gpu" and findings[0].severity is Severity.FAIL
    ze_finding = next(f for f in findings if f.id == "level-zero-no-driver")
    assert any("no Intel GPU" in e for e in ze_finding.evidence)


def test_1_level_zero_driver_split_on_nixos(ctx_for) -> None:
    obs = observe(ctx_for("arc-a770-i915"), nixos_libs=("libigdrcl.so",))
    finding = next(f for f in diagnose(obs) if f.id == "level-zero-no-driver")
    assert "intel-compute-runtime.drivers" in (finding.nixos or "")
    assert any("no libze_intel_gpu" in e for e in finding.evidence)
    assert any("0x78000001" in e for e in finding.evidence)


def test_1_driver_split_while_level_zero_works_elsewhere(ctx_for) -> None:
    obs = observe(
        ctx_for("arc-a770-i915"),
        level_zero=ze(A770),
        nixos_libs=("libigdrcl.so",),
        variables={"ZES_ENABLE_SYSMAN": "1", "OverrideDefaultFP64Settings": "1", "IGC_EnableDPEmulation": "1"},
    )
    assert "nixos-drivers-output" in ids(obs)
    assert "level-zero-no-driver" not in ids(obs)


def test_2_render_group(ctx_for) -> None:
    finding = next(f for f in diagnose(observe(ctx_for("arc-a770-i915", user="nobody"))) if f.id == "render-access")
    assert finding.severity is Severity.FAIL
    assert 'users.users.nobody.extraGroups = [ "render" "video" ]' in (finding.nixos or "")
    assert "pytorch/pytorch#148477" in finding.refs


def test_3_ollama_drops_the_igpu(ctx_for) -> None:
    assert "ollama-igpu-dropped" in ids(observe(ctx_for("lunar-lake-xe"), level_zero=ze(UHD630)))
    enabled = OLLAMA_UNIT.replace('Environment="HOME', 'Environment="OLLAMA_IGPU_ENABLE=1" "HOME')
    assert "ollama-igpu-dropped" not in ids(observe(ctx_for("lunar-lake-xe"), level_zero=ze(UHD630), units=enabled))
    assert "ollama-igpu-dropped" not in ids(observe(ctx_for("arc-a770-i915"), level_zero=ze(A770)))


def test_4_free_vram_needs_sysman(ctx_for) -> None:
    assert "no-free-vram-data" in ids(observe(ctx_for("arc-a770-i915"), level_zero=ze(A770)))
    assert "no-free-vram-data" not in ids(
        observe(ctx_for("arc-a770-i915"), level_zero=ze(A770), variables={"ZES_ENABLE_SYSMAN": "1"})
    )


def test_5_igpu_and_dgpu_need_a_selector(ctx_for) -> None:
    finding = next(
        f
        for f in diagnose(observe(ctx_for("igpu-plus-arc"), level_zero=ze(UHD630, A770)))
        if f.id == "device-selection"
    )
    assert "ONEAPI_DEVICE_SELECTOR=level_zero:1" in finding.fix  # the A770 is Level Zero device 1 there
    pinned = observe(
        ctx_for("igpu-plus-arc"), level_zero=ze(UHD630, A770), variables={"ONEAPI_DEVICE_SELECTOR": "level_zero:1"}
    )
    assert "device-selection" not in ids(pinned)


def test_5_selector_that_hides_every_gpu(ctx_for) -> None:
    obs = observe(
        ctx_for("arc-a770-i915"), level_zero=ze(A770), sycl="", variables={"ONEAPI_DEVICE_SELECTOR": "opencl:cpu"}
    )
    assert "selector-hides-gpu" in ids(obs)


def test_6_and_7_nixpkgs_ollama_unit_hardening_and_ordering(ctx_for) -> None:
    found = {f.id: f for f in diagnose(observe(ctx_for("arc-a770-i915"), level_zero=ze(A770), units=OLLAMA_UNIT))}
    assert found["mdwe-blocks-jit"].severity is Severity.FAIL
    assert "MemoryDenyWriteExecute = lib.mkForce false" in (found["mdwe-blocks-jit"].nixos or "")
    assert found["service-before-gpu"].severity is Severity.WARN
    assert (found["service-before-gpu"].nixos or "").startswith(
        "services.ollama.intel.enable = true; (orders it after dev-dri-intel-render.device"
    )
    fixed = OLLAMA_UNIT.replace("MemoryDenyWriteExecute=yes", "MemoryDenyWriteExecute=no").replace(
        "After=network.target", "After=network.target dev-dri-intel-render.device"
    )
    assert not {"mdwe-blocks-jit", "service-before-gpu"} & ids(
        observe(ctx_for("arc-a770-i915"), level_zero=ze(A770), units=fixed)
    )


def test_8_persistent_sycl_cache_on_xe2(ctx_for) -> None:
    cache = {"SYCL_CACHE_PERSISTENT": "1"}
    assert "sycl-cache-xe2" in ids(observe(ctx_for("arc-b580-xe-vm"), variables=cache))
    assert "sycl-cache-xe2" not in ids(observe(ctx_for("arc-a770-i915"), variables=cache))


def test_9_kernel_driver_not_bound(ctx_for) -> None:
    finding = next(f for f in diagnose(observe(ctx_for("meteor-lake-unbound"))) if f.id == "kernel-driver")
    assert finding.severity is Severity.FAIL
    assert "xe.force_probe=7d45" in finding.fix
    assert '"i915.force_probe=!7d45" "xe.force_probe=7d45"' in (finding.nixos or "")


def test_9_vfio_reserved_gpu_is_a_note(ctx_for) -> None:
    finding = next(f for f in diagnose(observe(ctx_for("arc-a770-vfio"))) if f.id == "gpu-reserved-for-vfio")
    assert finding.severity is Severity.INFO


def test_10_resizable_bar_off(ctx_for) -> None:
    finding = next(f for f in diagnose(observe(ctx_for("arc-b580-xe-rebar-off"))) if f.id == "rebar-off")
    assert "256 MiB" in finding.evidence[0]
    assert "rebar-off" not in ids(observe(ctx_for("arc-b580-xe-vm")))


def test_11_fp64_emulation(ctx_for) -> None:
    assert "fp64-emulation" in ids(observe(ctx_for("arc-a770-i915"), level_zero=ze(A770)))
    emulated = {"OverrideDefaultFP64Settings": "1", "IGC_EnableDPEmulation": "1"}
    assert "fp64-emulation" not in ids(observe(ctx_for("arc-a770-i915"), level_zero=ze(A770), variables=emulated))
    assert "fp64-emulation" not in ids(observe(ctx_for("arc-b580-xe-vm")))  # Xe2 has FP64


def test_12_torch_without_xpu(ctx_for) -> None:
    cpu_torch = {
        "available": True,
        "version": "2.13.0+cpu",
        "xpu_build": None,
        "has_xpu_module": True,
        "xpu_available": False,
        "device_count": 0,
        "devices": [],
        "cuda_available": False,
        "ipex_version": None,
    }
    finding = next(
        f
        for f in diagnose(observe(ctx_for("arc-a770-i915"), level_zero=ze(A770), torch=cpu_torch))
        if f.id == "torch-no-xpu"
    )
    assert finding.severity is Severity.FAIL
    assert any("only checks torch.cuda silently runs on the CPU" in e for e in finding.evidence)
    assert "intel-python" in finding.fix


def test_healthy_arc_machine_is_usable(ctx_for) -> None:
    good = {"ZES_ENABLE_SYSMAN": "1", "OverrideDefaultFP64Settings": "1", "IGC_EnableDPEmulation": "1"}
    findings = diagnose(observe(ctx_for("arc-a770-i915"), level_zero=ze(A770), variables=good))
    assert [f for f in findings if f.severity is not Severity.INFO] == []


def test_a_target_that_cannot_run_commands_is_that_finding_alone() -> None:
    """Exit 127 for `true` (no sshpass, no timeout on PATH): no GPU finding may come from it."""
    from xpu_tool.diagnosis import Observations, diagnose
    from xpu_tool.probes.environment import EnvFacts
    from xpu_tool.probes.pci import SystemScan
    from xpu_tool.probes.reach import judge_reach
    from xpu_tool.target import CommandOutput, open_target

    target = open_target("ssh://root:pw@box.invalid")
    assert judge_reach(target, CommandOutput("true", 0, "", "")) is None
    result = judge_reach(target, CommandOutput("true", 127, "", "/bin/sh: 1: sshpass: not found\n"))
    assert result is not None and result.data["sshpass"] and "sshpass" in (result.fix or "")
    findings = diagnose(Observations(SystemScan((), "", "", None), {"target": result}, EnvFacts({}, False, ())))
    assert [f.id for f in findings] == ["target-command-not-found"]
    assert "pw@" not in findings[0].title
