# services.intel-xpu.comfyui for Home Manager: ComfyUI on PyTorch XPU as a systemd user unit (Home
# Manager has no ComfyUI service of its own). The user needs the render group and the system the
# compute runtime (hardware.intel-xpu on NixOS).
{
  config,
  lib,
  pkgs,
  ...
}:
let
  inherit (lib) types;
  cfg = config.services.intel-xpu.comfyui;
  shared = import ../lib/comfyui-intel.nix;
  args = [
    "--base-directory=${cfg.dataDir}"
    "--listen=${cfg.listen}"
    "--port=${toString cfg.port}"
  ]
  ++ lib.optional (cfg.device == "cpu") "--cpu"
  ++ cfg.extraArgs;
in
{
  options.services.intel-xpu.comfyui = {
    enable = lib.mkEnableOption "ComfyUI on PyTorch XPU as a user service";

    package = import ../lib/overlay-package-option.nix { inherit lib pkgs; } "comfyui" "ComfyUI whose torch has XPU (this flake's overlay provides it).";

    device = lib.mkOption {
      type = types.enum [
        "xpu"
        "cpu"
      ];
      default = "xpu";
      description = "`cpu` runs the same build with `--cpu` (the baseline for `xpu bench comfyui`).";
    };

    listen = lib.mkOption {
      type = types.str;
      default = "127.0.0.1";
      description = "Address to listen on. ComfyUI has no authentication: keep it on loopback.";
    };

    port = lib.mkOption {
      type = types.port;
      default = 8188;
    };

    dataDir = lib.mkOption {
      type = types.str;
      default = "${config.xdg.dataHome}/comfyui";
      defaultText = lib.literalExpression ''"''${config.xdg.dataHome}/comfyui"'';
      description = "ComfyUI's base directory: models, custom nodes, inputs, outputs.";
    };

    fp64Emulation = lib.mkOption {
      type = types.bool;
      default = false;
      description = "Emulate FP64 in the GPU compiler (OverrideDefaultFP64Settings=1, IGC_EnableDPEmulation=1) for iGPUs without FP64.";
    };

    extraArgs = lib.mkOption {
      type = types.listOf types.str;
      default = [ ];
      description = "More arguments for ComfyUI's main.py.";
    };
  };

  config = lib.mkIf cfg.enable {
    assertions = [
      {
        assertion = cfg.package != null;
        message = "services.intel-xpu.comfyui needs pkgs.intel-xpu.comfyui: add the intel-xpu overlay (nixpkgs.overlays, or home-manager.useGlobalPkgs on NixOS), or set services.intel-xpu.comfyui.package.";
      }
    ];

    warnings = lib.optional (!(lib.elem cfg.listen shared.loopback)) ''
      services.intel-xpu.comfyui.listen = "${cfg.listen}": ComfyUI has no authentication, so
      anyone who reaches that address can run workflows as you. Keep it on loopback.
    '';

    systemd.user.services.comfyui-xpu = lib.mkIf (cfg.package != null) {
      Unit = {
        Description = "ComfyUI on PyTorch XPU";
        After = [ "network.target" ];
      };
      Service = {
        ExecStartPre = "${pkgs.coreutils}/bin/mkdir -p ${lib.escapeShellArg cfg.dataDir}";
        ExecStart = "${lib.getExe cfg.package} ${lib.escapeShellArgs args}";
        Environment = [
          "ZES_ENABLE_SYSMAN=1"
        ]
        ++ lib.optionals cfg.fp64Emulation (map (e: "${e.name}=${e.value}") shared.fp64Emulation);
        Restart = "on-failure";
      };
      Install.WantedBy = [ "default.target" ];
    };

    home.sessionVariables.ZES_ENABLE_SYSMAN = "1";
  };
}
