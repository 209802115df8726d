# hardware.intel-xpu: the Intel GPU compute stack (Level Zero, OpenCL, SYCL) for AI workloads.
{
  config,
  lib,
  options,
  pkgs,
  ...
}:
let
  inherit (lib) types;
  cfg = config.hardware.intel-xpu;
  packageOption = import ../lib/overlay-package-option.nix { inherit lib pkgs; };
  # udev gives Intel render nodes this link and a systemd device unit named after it (unit names
  # of a path: "/" becomes "-", so no "-" inside the components; `systemd-escape --path`)
  renderLink = "dri/intel/render";

  runtime =
    if cfg.computeRuntime == "legacy" then pkgs.intel-compute-runtime-legacy1 else pkgs.intel-compute-runtime;
  # nixpkgs kept libze_intel_gpu (the Level Zero driver) in a separate `drivers` output until
  # PR 560627 (2026-09): without it the loader finds no driver. List it wherever it exists.
  runtimeDrivers = lib.optional (lib.elem "drivers" (runtime.outputs or [ "out" ])) runtime.drivers;

  kernelVersion = config.boot.kernelPackages.kernel.version;
  joinIds = prefix: lib.concatMapStringsSep "," (id: "${prefix}${id}") cfg.forceProbe;
  forceProbeParams =
    lib.optionals (cfg.forceProbe != [ ]) (
      if cfg.driver == "xe" then
        [
          "i915.force_probe=${joinIds "!"}"
          "xe.force_probe=${joinIds ""}"
        ]
      else
        [ "i915.force_probe=${joinIds ""}" ]
    );
  # nixos-hardware's common/gpu/intel module chooses the kernel driver too; the two must agree.
  nixosHardwareDriver =
    if options ? hardware.intelgpu.driver then config.hardware.intelgpu.driver else null;
  # and its compute runtime: two different ones would both land in /run/opengl-driver
  nixosHardwareRuntime =
    if options ? hardware.intelgpu.computeRuntime then config.hardware.intelgpu.computeRuntime else null;
in
{
  options.hardware.intel-xpu = {
    enable = lib.mkEnableOption "the Intel GPU compute stack (Level Zero, OpenCL, SYCL) for AI workloads";

    driver = lib.mkOption {
      type = types.enum [
        "i915"
        "xe"
      ];
      default = "i915";
      description = ''
        The kernel driver for the GPU. `xe` needs Linux 6.8 or newer and is the only driver for
        Lunar Lake, Battlemage and newer.
      '';
    };

    forceProbe = lib.mkOption {
      type = types.listOf (types.strMatching "[0-9a-f]{4}");
      default = [ ];
      example = [ "e20b" ];
      description = ''
        PCI device ids (four lower-case hex digits, as `lspci -nn` shows after `8086:`) to force
        onto {option}`hardware.intel-xpu.driver`. With `xe` this adds
        `i915.force_probe=!<id> xe.force_probe=<id>`, with `i915` it adds `i915.force_probe=<id>`.
      '';
    };

    computeRuntime = lib.mkOption {
      type = types.enum [
        "default"
        "legacy"
      ];
      default = "default";
      description = ''
        `default`: intel-compute-runtime, for Gen12 (Xe) GPUs and newer. `legacy`:
        intel-compute-runtime-legacy1, for Gen8 to Gen11 GPUs.
      '';
    };

    users = lib.mkOption {
      type = types.listOf types.str;
      default = [ ];
      example = [ "alice" ];
      description = ''
        Users who get the `render` and `video` groups, so they can open the GPU's render node
        without a local login session.
      '';
    };

    sysman = lib.mkOption {
      type = types.bool;
      default = true;
      description = "Set ZES_ENABLE_SYSMAN=1 in login sessions, so SYCL programs can query free VRAM.";
    };

    media = lib.mkOption {
      type = types.bool;
      default = true;
      description = "Install the VA-API media driver and the oneVPL GPU runtime as well.";
    };

    tools = lib.mkOption {
      type = types.bool;
      default = true;
      description = "Install clinfo, the Level Zero loader, intel_gpu_top and the `xpu` command.";
    };

    syclTools = lib.mkOption {
      type = types.bool;
      default = false;
      description = ''
        Install `sycl-ls` from {option}`hardware.intel-xpu.syclToolsPackage`. Off by default: it
        is a full LLVM build unless MordragT's cache has it. `xpu doctor` enumerates SYCL devices
        without it when dpctl or PyTorch XPU is present.
      '';
    };

    syclToolsPackage = packageOption "sycl-tools" "MordragT's SYCL LLVM, which brings `sycl-ls` (this flake's overlay adds it).";

    xpuPackage = packageOption "xpu-tool" "The host tool: the `xpu` command (`xpu doctor`, `xpu check`, and `xpu export` for {option}`services.intel-xpu.monitoring`), without the test kit's dependencies; this flake's overlay adds it.";

    renderNodeUnit = lib.mkOption {
      type = types.str;
      readOnly = true;
      default = "dev-${lib.replaceStrings [ "/" ] [ "-" ] renderLink}.device";
      description = ''
        The systemd device unit of the Intel GPU's render node (`/dev/dri/intel/render`, which a
        udev rule links to the first Intel render node and tags for systemd). A service that
        needs the GPU lists it in `wants` and `after`: it starts once the node exists, or after
        systemd's device timeout (DefaultDeviceTimeoutSec, 90 s) on a host without one, with no
        failed unit either way.
      '';
    };
  };

  config = lib.mkIf cfg.enable {
    assertions = [
      {
        assertion = !cfg.syclTools || cfg.syclToolsPackage != null;
        message = "hardware.intel-xpu.syclTools needs pkgs.intel-xpu.sycl-tools (MordragT's SYCL LLVM, which brings sycl-ls): add this flake's overlay (nixpkgs.overlays = [ intel-xpu.overlays.default ]), set hardware.intel-xpu.syclToolsPackage, or turn syclTools off (xpu doctor enumerates SYCL through dpctl or PyTorch XPU).";
      }
      {
        assertion = cfg.driver == "xe" -> lib.versionAtLeast kernelVersion "6.8";
        message = ''
          hardware.intel-xpu.driver = "xe" needs Linux 6.8 or newer, but this system boots ${kernelVersion}.
          Set boot.kernelPackages = pkgs.linuxPackages_latest, or use driver = "i915" (GPUs before Lunar Lake and Battlemage).
        '';
      }
      {
        assertion = !(cfg.computeRuntime == "legacy" && cfg.driver == "xe");
        message = ''
          hardware.intel-xpu.computeRuntime = "legacy" is for Gen8-Gen11 GPUs, which only i915 drives.
          Set hardware.intel-xpu.driver = "i915", or computeRuntime = "default" for a Gen12+ GPU.
        '';
      }
      {
        assertion = nixosHardwareDriver == null || nixosHardwareDriver == cfg.driver;
        message = ''
          hardware.intel-xpu.driver = "${cfg.driver}" but nixos-hardware's hardware.intelgpu.driver = "${toString nixosHardwareDriver}".
          Set both to the same driver.
        '';
      }
      {
        assertion = nixosHardwareRuntime == null || nixosHardwareRuntime == cfg.computeRuntime;
        message = ''
          hardware.intel-xpu.computeRuntime = "${cfg.computeRuntime}" but nixos-hardware's hardware.intelgpu.computeRuntime = "${toString nixosHardwareRuntime}": both runtimes would be installed.
          Set both to the same runtime.
        '';
      }
    ];

    hardware.graphics.enable = true;
    hardware.graphics.extraPackages = [
      runtime
    ]
    ++ runtimeDrivers
    ++ lib.optionals cfg.media [
      pkgs.intel-media-driver
      pkgs.vpl-gpu-rt
    ];

    boot.kernelParams = forceProbeParams;

    users.users = lib.genAttrs cfg.users (_: {
      extraGroups = [
        "render"
        "video"
      ];
    });

    environment.sessionVariables = lib.mkIf cfg.sysman { ZES_ENABLE_SYSMAN = "1"; };

    # DRM render nodes get no systemd device unit by default (systemd's 99-systemd.rules tags no
    # drm device): tag Intel's, so services can order after hardware.intel-xpu.renderNodeUnit.
    services.udev.extraRules = ''
      SUBSYSTEM=="drm", KERNEL=="renderD*", ATTRS{vendor}=="0x8086", TAG+="systemd", SYMLINK+="${renderLink}"
    '';

    environment.systemPackages =
      lib.optional (cfg.syclTools && cfg.syclToolsPackage != null) cfg.syclToolsPackage
      ++ lib.optionals cfg.tools (
        [
          pkgs.clinfo
          pkgs.level-zero
          pkgs.intel-gpu-tools
        ]
        ++ lib.optional (cfg.xpuPackage != null) cfg.xpuPackage
      );
  };
}
