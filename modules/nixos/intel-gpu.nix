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

  # The GPU generations `xpu doctor` knows (one table, gpu-families.json). A configuration names
  # its GPU with `generation` or with the ids in `forceProbe`; each family it names brings its
  # settings: the driver where only one drives it, its kernel floor, firmware, compute runtime,
  # and the integrated-GPU settings of the services.
  gpu = import ../lib/gpu-families.nix { inherit lib; };
  probedIds = code: lib.filter (id: (gpu.byId.${id}.code or null) == code) cfg.forceProbe;
  namedCodes = lib.unique (
    lib.optional (cfg.generation != null) cfg.generation
    ++ map (id: gpu.byId.${id}.code) (lib.filter (id: gpu.byId ? ${id}) cfg.forceProbe)
  );
  named = map (
    code:
    gpu.families.${code}
    // {
      # how the configuration named it, for the messages
      namedBy = lib.concatStringsSep " and " (
        lib.optional (cfg.generation == code) ''generation = "${code}"''
        ++ lib.optional (probedIds code != [ ]) "forceProbe = [ ${
          lib.concatMapStringsSep " " (id: ''"${id}"'') (probedIds code)
        } ]"
      );
    }
  ) namedCodes;
  describe = f: "${f.name} (${f.code}; hardware.intel-xpu.${f.namedBy})";
  # a setting all the named families agree on, or null
  agreed = values: if lib.length (lib.unique values) == 1 then lib.head values else null;
  onlyDriver = agreed (map (f: lib.head f.drivers) (lib.filter (f: lib.length f.drivers == 1) named));
  namedRuntime = agreed (map (f: f.computeRuntime) named);
  integratedOnly = named != [ ] && lib.all (f: f.integrated) named;
  lacksFp64 = lib.any (f: !f.fp64) named;
  # xe loads GuC firmware for every GPU; i915 for the families the table lists firmware for
  needsFirmware = cfg.driver == "xe" || lib.any (f: f.firmware != [ ]) named;

  # With xe, a generation that i915 binds by default moves to xe: all its ids are force-probed.
  movedIds = lib.optionals (
    cfg.driver == "xe" && cfg.generation != null && lib.elem "i915" gpu.families.${cfg.generation}.drivers
  ) gpu.families.${cfg.generation}.ids;
  probeIds = lib.unique (cfg.forceProbe ++ movedIds);
  joinIds = prefix: lib.concatMapStringsSep "," (id: "${prefix}${id}") probeIds;
  forceProbeParams =
    lib.optionals (probeIds != [ ]) (
      if cfg.driver == "xe" then
        [
          "i915.force_probe=${joinIds "!"}"
          "xe.force_probe=${joinIds ""}"
        ]
      else
        [ "i915.force_probe=${joinIds ""}" ]
    );

  # nixos-hardware's common/gpu/intel declares hardware.intelgpu.{driver,computeRuntime,
  # loadInInitrd}. Where it is imported they are the same settings as ours: what is set here is
  # passed on to it with its priority (a value set on both sides must agree, or the module system
  # names the two definitions), and ours read its value.
  nixosHardware = options ? hardware.intelgpu.driver;
  follow = name: value: if nixosHardware then config.hardware.intelgpu.${name} else value;
  forward =
    name:
    let
      option = options.hardware.intel-xpu.${name};
    in
    # only what was set: an option's own default has priority 1500 (mkOptionDefault)
    lib.mkIf (option.highestPrio < 1500) (
      lib.mkMerge (
        map (
          def:
          # with the file that set it, where nixpkgs' lib can say so (mkDefinition, 2025)
          if lib ? mkDefinition then
            lib.mkDefinition {
              inherit (def) file;
              value = lib.mkOverride option.highestPrio def.value;
            }
          else
            lib.mkOverride option.highestPrio def.value
        ) option.definitionsWithLocations
      )
    );
  driverOption = "hardware.intel-xpu.driver${lib.optionalString nixosHardware " (nixos-hardware's hardware.intelgpu.driver)"}";
  runtimeOption = "hardware.intel-xpu.computeRuntime${lib.optionalString nixosHardware " (nixos-hardware's hardware.intelgpu.computeRuntime)"}";
in
{
  options.hardware.intel-xpu = {
    enable = lib.mkEnableOption "the Intel GPU compute stack (Level Zero, OpenCL, SYCL) for AI workloads";

    generation = lib.mkOption {
      type = types.nullOr (types.enum gpu.codes);
      default = null;
      example = "BMG";
      description = ''
        The generation of the GPU the compute stack runs on, by its code below (`xpu doctor
        --json` gives it as the `family` of each GPU the PCI probe lists). Ids that
        {option}`hardware.intel-xpu.forceProbe` lists name their generation the same way. A
        named generation brings its settings, each a default: the driver where only one drives
        it, its compute runtime, the firmware it needs
        ({option}`hardware.enableRedistributableFirmware`), on an integrated GPU
        {option}`services.ollama.intel.igpu`, without FP64
        {option}`services.comfyui.intel.fp64Emulation`; and a kernel older than its floor is
        refused. The codes: ${
          lib.concatMapStringsSep ", " (
            f:
            "`${f.code}` (${f.name}${lib.optionalString (f.min_kernel != null) ", Linux ${f.min_kernel}+"}${
              lib.optionalString f.xeOnly ", xe only"
            })"
          ) (map (code: gpu.families.${code}) gpu.codes)
        }.
      '';
    };

    driver = lib.mkOption {
      type = types.enum [
        "i915"
        "xe"
      ];
      default = "i915";
      defaultText = lib.literalMD ''`"xe"` for a generation only xe drives (Lunar Lake, Battlemage and newer), else `"i915"`'';
      apply = follow "driver";
      description = ''
        The kernel driver for the GPU, loaded in the initrd (see
        {option}`hardware.intel-xpu.loadInInitrd`). `xe` needs Linux 6.8 or newer and is the only
        driver for Lunar Lake, Battlemage and newer; i915 is the only one for Gen9 to Gen11.
        With `xe` and a {option}`hardware.intel-xpu.generation` that i915 drives by default
        (Tiger Lake to Arrow Lake, Arc A-series), all that generation's ids are force-probed onto
        xe. Where nixos-hardware's `common/gpu/intel` is imported this is its
        `hardware.intelgpu.driver`: a value set here is passed on, and this option reads its value.
      '';
    };

    loadInInitrd = lib.mkOption {
      type = types.bool;
      default = true;
      apply = follow "loadInInitrd";
      description = ''
        Load {option}`hardware.intel-xpu.driver` in the initrd (`boot.initrd.kernelModules`), as
        nixos-hardware's `hardware.intelgpu.loadInInitrd` does; where that module is imported this
        is that option.
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
        An id `xpu doctor` knows names its generation, as {option}`hardware.intel-xpu.generation`
        does.
      '';
    };

    computeRuntime = lib.mkOption {
      type = types.enum [
        "default"
        "legacy"
      ];
      default = "default";
      defaultText = lib.literalMD ''`"legacy"` for a Gen9-Gen11 generation, else `"default"`'';
      apply = follow "computeRuntime";
      description = ''
        `default`: intel-compute-runtime, for Gen12 (Xe) GPUs and newer. `legacy`:
        intel-compute-runtime-legacy1, for Gen8 to Gen11 GPUs. Where nixos-hardware's
        `common/gpu/intel` is imported this is its `hardware.intelgpu.computeRuntime`.
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
      description = "Install clinfo, vulkaninfo (vulkan-tools), the Level Zero loader, intel_gpu_top and the `xpu` command.";
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

  config = lib.mkIf cfg.enable (
    lib.mkMerge [
      {
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
        ]
        # each generation the configuration names: its kernel floor, its drivers, its runtime
        ++ lib.concatMap (f: [
          {
            assertion = f.min_kernel == null || lib.versionAtLeast kernelVersion f.min_kernel;
            message = ''
              Linux too old for ${describe f}: it needs Linux ${toString f.min_kernel} or newer, but this system boots ${kernelVersion}.
              Set boot.kernelPackages = pkgs.linuxPackages_latest; (or another kernel package set of Linux ${toString f.min_kernel} or newer).
            '';
          }
          {
            assertion = lib.elem cfg.driver f.drivers;
            message = ''
              Wrong kernel driver for ${describe f}: ${driverOption} = "${cfg.driver}", but only ${lib.concatStringsSep " or " f.drivers} drives it.
              Set hardware.intel-xpu.driver = "${lib.head f.drivers}", or leave it unset (it follows the generation).
            '';
          }
          {
            assertion = cfg.computeRuntime == f.computeRuntime;
            message = ''
              Wrong compute runtime for ${describe f}: ${runtimeOption} = "${cfg.computeRuntime}" does not run it.
              Set hardware.intel-xpu.computeRuntime = "${f.computeRuntime}", or leave it unset (it follows the generation).
            '';
          }
        ]) named;

        # the generation's settings, each a default
        hardware.intel-xpu.driver = lib.mkIf (onlyDriver != null) (lib.mkDefault onlyDriver);
        hardware.intel-xpu.computeRuntime = lib.mkIf (namedRuntime != null) (lib.mkDefault namedRuntime);
        # GuC, HuC and GSC firmware come from linux-firmware
        hardware.enableRedistributableFirmware = lib.mkIf needsFirmware (lib.mkDefault true);
        boot.initrd.kernelModules = lib.mkIf (cfg.loadInInitrd && !nixosHardware) [ cfg.driver ];

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
              pkgs.vulkan-tools
              pkgs.level-zero
              pkgs.intel-gpu-tools
            ]
            ++ lib.optional (cfg.xpuPackage != null) cfg.xpuPackage
          );
      }
      # nixos-hardware's common/gpu/intel: the same settings (see `follow` above)
      (lib.optionalAttrs nixosHardware {
        hardware.intelgpu = lib.genAttrs [ "driver" "computeRuntime" "loadInInitrd" ] forward;
      })
      # the services' settings for the generation, where their modules are imported
      (lib.optionalAttrs (options ? services.ollama.intel.igpu) {
        # Ollama drops integrated GPUs unless told otherwise
        services.ollama.intel.igpu = lib.mkIf integratedOnly (lib.mkDefault true);
      })
      (lib.optionalAttrs (options ? services.comfyui.intel.fp64Emulation) {
        services.comfyui.intel.fp64Emulation = lib.mkIf lacksFp64 (lib.mkDefault true);
      })
    ]
  );
}
