# services.comfyui.intel: run nixpkgs' services.comfyui on an Intel GPU through PyTorch XPU.
{
  config,
  lib,
  options,
  pkgs,
  ...
}:
let
  inherit (lib) types;
  cfg = config.services.comfyui.intel;
  comfyui = config.services.comfyui;
  package = pkgs.intel-xpu.comfyui or null;
  shared = import ../lib/comfyui-intel.nix;
  exposed = lib.filter (address: !(lib.elem address shared.loopback)) (comfyui.listen or [ ]);
  # a nixpkgs without services.comfyui: define nothing under it, so the assertion below is what
  # the user sees rather than "option does not exist"
  hasComfyui = options.services ? comfyui && options.services.comfyui ? listen;
in
{
  imports = [ ./intel-gpu.nix ];

  options.services.comfyui.intel = {
    enable = lib.mkEnableOption "Intel GPU (PyTorch XPU) support for {option}`services.comfyui`";

    device = lib.mkOption {
      type = types.enum [
        "xpu"
        "cpu"
      ];
      default = "xpu";
      description = ''
        `xpu`: run on the Intel GPU through upstream `torch.xpu`. `cpu`: the same XPU build on the
        CPU (`--cpu`), e.g. as the baseline `xpu bench comfyui` compares against.
      '';
    };

    fp64Emulation = lib.mkOption {
      type = types.bool;
      default = false;
      description = ''
        Emulate FP64 in the GPU compiler (OverrideDefaultFP64Settings=1, IGC_EnableDPEmulation=1),
        for integrated GPUs without FP64 that fail on double-precision kernels.
      '';
    };

    customNodes = lib.mkOption {
      type = types.attrsOf types.package;
      default = { };
      example = lib.literalExpression ''
        {
          ComfyUI-GGUF = pkgs.fetchFromGitHub { owner = "city96"; repo = "ComfyUI-GGUF"; rev = "..."; hash = "..."; };
        }
      '';
      description = ''
        Custom nodes from the Nix store, linked as
        {option}`services.comfyui.dataDir`/custom_nodes/<name> before each start (links into
        the store that are no longer listed are removed; nodes installed by hand stay). Their
        Python dependencies go into the package: `pkgs.intel-xpu.comfyui.override { extraPackages = ps: [ ... ]; }`.
      '';
    };

    openFirewall = lib.mkOption {
      type = types.bool;
      default = false;
      description = ''
        Open {option}`services.comfyui.port` in the firewall. ComfyUI has no authentication:
        prefer a reverse proxy that has (examples/advanced-workflows).
      '';
    };

    persistentSyclCache = lib.mkOption {
      type = types.bool;
      default = false;
      description = ''
        Keep compiled SYCL kernels in {option}`services.comfyui.dataDir`/sycl-cache
        (SYCL_CACHE_PERSISTENT=1): faster later starts, but it has crashed on Xe2/Xe3 GPUs
        (intel/llvm 22853), hence off by default.
      '';
    };
  };

  config = lib.mkMerge [
    {
      assertions = [
        {
          assertion = !cfg.enable || hasComfyui;
          message = "services.comfyui.intel needs a nixpkgs with services.comfyui (nixos/modules/services/misc/comfyui.nix): update the nixpkgs input.";
        }
      ];
    }
    (lib.optionalAttrs hasComfyui (
      lib.mkIf (cfg.enable && comfyui.enable) {
      assertions = [
        {
          assertion = package != null;
          message = "services.comfyui.intel needs pkgs.intel-xpu.comfyui (ComfyUI on MordragT's XPU PyTorch): add this flake's overlay (nixpkgs.overlays = [ intel-xpu.overlays.default ]), or set services.comfyui.package to a ComfyUI whose torch has XPU.";
        }
      ];

      warnings = lib.optional (exposed != [ ]) ''
        services.comfyui.listen includes ${lib.concatStringsSep ", " exposed}: ComfyUI has no
        authentication, so anyone who reaches that address can run workflows on this machine.
        Keep it on loopback and put an authenticating reverse proxy in front.
      '';

      hardware.intel-xpu.enable = lib.mkDefault true;

      services.comfyui.package = lib.mkIf (package != null) (lib.mkDefault package);
      services.comfyui.extraArgs = lib.mkIf (cfg.device == "cpu") [ "--cpu" ];

      networking.firewall.allowedTCPPorts = lib.mkIf cfg.openFirewall [ comfyui.port ];

      systemd.services.comfyui = {
        wants = lib.mkIf (cfg.device == "xpu") [ config.hardware.intel-xpu.renderNodeUnit ];
        after = lib.mkIf (cfg.device == "xpu") [ config.hardware.intel-xpu.renderNodeUnit ];
        environment = {
          ZES_ENABLE_SYSMAN = "1";
        }
        // lib.optionalAttrs cfg.fp64Emulation (lib.listToAttrs shared.fp64Emulation)
        // lib.optionalAttrs cfg.persistentSyclCache {
          SYCL_CACHE_PERSISTENT = "1";
          SYCL_CACHE_DIR = "${comfyui.dataDir}/sycl-cache";
        };
        # nixpkgs' unit leaves devices open (PrivateDevices = false, no DeviceAllow) and does not
        # forbid writable+executable memory, which PyTorch's JIT needs; it runs as the static
        # user comfyui, which needs the groups that own the render nodes.
        # after nixpkgs' preStart, which creates custom_nodes from the package on first start
        preStart = lib.mkIf (cfg.customNodes != { }) (
          lib.mkAfter (
            ''
              find ${lib.escapeShellArg "${comfyui.dataDir}/custom_nodes"} -maxdepth 1 -type l -lname '${builtins.storeDir}/*' -delete
            ''
            + lib.concatStrings (
              lib.mapAttrsToList (name: node: ''
                ln -sfn ${node} ${lib.escapeShellArg "${comfyui.dataDir}/custom_nodes/${name}"}
              '') cfg.customNodes
            )
          )
        );
        serviceConfig.SupplementaryGroups = [
          "render"
          "video"
        ];
      };
    }))
  ];
}
