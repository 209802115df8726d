# services.llama-cpp.intel: run nixpkgs' services.llama-cpp (llama-server) on an Intel GPU.
{
  config,
  lib,
  options,
  pkgs,
  ...
}:
let
  inherit (lib) types;
  cfg = config.services.llama-cpp.intel;
  packages = {
    # nixpkgs' llama-cpp with vulkanSupport (pkgs/by-name/ll/llama-cpp-vulkan), built by Hydra
    vulkan = pkgs.llama-cpp-vulkan or null;
    # MordragT's SYCL build (oneAPI), brought by this flake's overlay (overlays/mordrag.nix)
    sycl = pkgs.intel-xpu.llama-cpp-sycl or null;
  };
  package = packages.${cfg.backend};
  # a services.llama-cpp.package of the user's own (ours is mkDefault): then ours is not needed
  ownPackage = options.services.llama-cpp.package.highestPrio < (lib.mkDefault null).priority;
  # the forms each backend's device variable takes: ONEAPI_DEVICE_SELECTOR is `backend:devices`
  # terms separated by `;` (`level_zero:0`, `level_zero:gpu`, `!opencl:*`),
  # GGML_VK_VISIBLE_DEVICES comma-separated Vulkan device indices
  deviceForm = {
    sycl = "[^:;]+:[^;]+(;[^:;]+:[^;]+)*";
    vulkan = "[0-9]+(,[0-9]+)*";
  };
  deviceFits = cfg.device == null || builtins.match deviceForm.${cfg.backend} cfg.device != null;
in
{
  imports = [ ./intel-gpu.nix ];

  options.services.llama-cpp.intel = {
    enable = lib.mkEnableOption "Intel GPU acceleration for {option}`services.llama-cpp`";

    backend = lib.mkOption {
      type = types.enum [
        "vulkan"
        "sycl"
      ];
      default = "vulkan";
      description = ''
        `vulkan`: nixpkgs' llama-cpp-vulkan (Mesa's Vulkan driver), built by Hydra. `sycl`:
        MordragT's llama-cpp-sycl (oneAPI), from the `mordrag` input: use MordragT's binary cache,
        or expect hours of building. Which is faster depends on the card and the model (the same
        mixture-of-experts model has run several times faster on either, depending on the card):
        measure both with `xpu bench`.
      '';
    };

    device = lib.mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "level_zero:0";
      description = ''
        The GPU to use, e.g. the discrete one over an iGPU. `sycl`: ONEAPI_DEVICE_SELECTOR
        (`level_zero:0`, the ids `sycl-ls` prints). `vulkan`: GGML_VK_VISIBLE_DEVICES, Vulkan device
        indices (`1`, or `0,1`; the order of `vulkaninfo --summary`). null: llama.cpp's own choice.
      '';
    };

    gpuLayers = lib.mkOption {
      type = types.nullOr types.ints.unsigned;
      default = 999;
      description = ''
        `--n-gpu-layers`: how many of the model's layers go to the GPU. The default, more layers
        than any model has, puts every layer there (llama.cpp caps it at the model's count). null
        passes nothing, leaving it to llama-server (recent builds: `auto`, fit to free memory). A
        `-ngl` in {option}`services.llama-cpp.extraFlags` comes after this one and wins.
      '';
    };
  };

  config = lib.mkIf (config.services.llama-cpp.enable && cfg.enable) {
    assertions = [
      {
        assertion = package != null || ownPackage;
        message =
          if cfg.backend == "sycl" then
            "services.llama-cpp.intel.backend = \"sycl\" needs pkgs.intel-xpu.llama-cpp-sycl (MordragT's llama-cpp-sycl): add this flake's overlay (nixpkgs.overlays = [ intel-xpu.overlays.default ]); if it is there, the pinned MordragT flake (the mordrag input) no longer provides packages.<system>.llama-cpp-sycl: update the mordrag input, set services.llama-cpp.package to a SYCL build of your own, or use backend = \"vulkan\"."
          else
            "services.llama-cpp.intel.backend = \"vulkan\" needs pkgs.llama-cpp-vulkan, which this nixpkgs lacks: update the nixpkgs input, or set services.llama-cpp.package = pkgs.llama-cpp.override { vulkanSupport = true; }.";
      }
      {
        assertion = deviceFits;
        message =
          if cfg.backend == "sycl" then
            "services.llama-cpp.intel.device = ${builtins.toJSON cfg.device} is not a oneAPI device selector, which the sycl backend reads (ONEAPI_DEVICE_SELECTOR): write backend:device, e.g. \"level_zero:0\" (the ids `sycl-ls` prints)."
          else
            "services.llama-cpp.intel.device = ${builtins.toJSON cfg.device} is not a list of Vulkan device indices, which the vulkan backend reads (GGML_VK_VISIBLE_DEVICES): write e.g. \"1\" or \"0,1\" (the order of `vulkaninfo --summary`).";
      }
    ];

    hardware.intel-xpu.enable = lib.mkDefault true;

    services.llama-cpp = {
      package = lib.mkIf (package != null) (lib.mkDefault package);
      # before the user's flags, so a -ngl or -lv of theirs comes later and wins (llama.cpp keeps
      # the last value of an argument given twice). Verbosity 4 puts the device each backend uses
      # and `offloaded N/M layers to GPU` in the journal: the evidence `xpu check llama-cpp` reads.
      extraFlags = lib.mkBefore (
        lib.optionals (cfg.gpuLayers != null) [
          "--n-gpu-layers"
          (toString cfg.gpuLayers)
        ]
        ++ [
          "--verbosity"
          "4"
        ]
      );
    };

    systemd.services.llama-cpp = {
      # after the render node exists (or systemd's device timeout on a host without one)
      wants = [ config.hardware.intel-xpu.renderNodeUnit ];
      after = [ config.hardware.intel-xpu.renderNodeUnit ];
      environment =
        if cfg.backend == "sycl" then
          {
            # free device memory through Level Zero's Sysman (else SYCL cannot tell what fits)
            ZES_ENABLE_SYSMAN = "1";
          }
          // lib.optionalAttrs (cfg.device != null) { ONEAPI_DEVICE_SELECTOR = cfg.device; }
        else
          lib.optionalAttrs (cfg.device != null) { GGML_VK_VISIBLE_DEVICES = cfg.device; };
      serviceConfig = {
        # nixpkgs' unit leaves devices open (PrivateDevices = false, no DevicePolicy), but its
        # dynamic user is in no group that owns a render node. PrivateUsers stays on: systemd sets
        # the supplementary groups before it creates the user namespace (src/core/exec-invoke.c),
        # and the kernel checks the process's host groups, mapped or not.
        SupplementaryGroups = [
          "render"
          "video"
        ];
        # nixpkgs' unit forbids writable+executable memory, which oneAPI needs (SYCL's JIT, text
        # relocations in its libraries); Mesa's Vulkan driver compiles GPU code only
        MemoryDenyWriteExecute = lib.mkIf (cfg.backend == "sycl") (lib.mkForce false);
      };
    };
  };
}
