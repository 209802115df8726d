# Evaluate this flake's NixOS modules with nixpkgs' library alone (no nixpkgs checkout needed).
#
# The NixOS options the modules set are declared here as stand-ins whose types match nixpkgs'
# declarations (the file each comes from is named beside it; docs/nixpkgs-interface.md lists them),
# and packages are stand-in derivations. Run by pytests/test_flake.py with XPU_NIXPKGS_LIB set to
# a checkout of nix-community/nixpkgs.lib.
{ lib }:
let
  inherit (lib) mkOption types;

  drv =
    name: extra:
    {
      type = "derivation";
      inherit name;
      outPath = "/nix/store/00000000000000000000000000000000-${name}";
      outputs = [ "out" ];
    }
    // extra;

  standInPkgs =
    {
      driversOutput,
      comfyuiXpu,
      syclTools,
    }:
    {
      intel-compute-runtime = drv "intel-compute-runtime" (
        lib.optionalAttrs driversOutput {
          outputs = [
            "out"
            "drivers"
          ];
          drivers = drv "intel-compute-runtime-drivers" { };
        }
      );
      intel-compute-runtime-legacy1 = drv "intel-compute-runtime-legacy1" { };
      intel-media-driver = drv "intel-media-driver" { };
      vpl-gpu-rt = drv "vpl-gpu-rt" { };
      clinfo = drv "clinfo" { };
      level-zero = drv "level-zero" { };
      intel-gpu-tools = drv "intel-gpu-tools" { };
      ollama = drv "ollama" { };
      ollama-vulkan = drv "ollama-vulkan" { };
      bash = drv "bash" { };
      comfyui = drv "comfyui" { };
      writeShellScript = name: text: drv name { inherit text; };
      intel-xpu = {
        xpu-testkit = drv "xpu-testkit" { meta.mainProgram = "xpu"; };
        ollama-sycl = drv "ollama-sycl" { };
        ollama-ipex-llm = drv "ollama-ipex-llm" { };
      }
      // lib.optionalAttrs comfyuiXpu { comfyui = drv "comfyui-xpu" { }; }
      // lib.optionalAttrs syclTools { sycl-tools = drv "intel-llvm" { }; };
    };

  # nixos/lib/systemd-unit-options.nix: lists concatenate, other values must agree; overrides first.
  unitOption = lib.mkOptionType {
    name = "systemd option";
    merge =
      loc: defs:
      let
        defs' = lib.filterOverrides defs;
      in
      if lib.any (def: lib.isList def.value) defs' then
        lib.concatMap (def: lib.toList def.value) defs'
      else
        lib.mergeEqualOption loc defs';
  };

  # nixos/modules/services/misc/ollama.nix (current nixpkgs, no `acceleration` option): the
  # options this flake touches, and the unit settings it overrides, as nixpkgs sets them.
  nixpkgsOllama =
    { config, pkgs, ... }:
    {
      options.services.ollama = {
        enable = mkOption {
          type = types.bool;
          default = false;
        };
        package = mkOption {
          type = types.package;
          default = pkgs.ollama;
        };
        environmentVariables = mkOption {
          type = types.attrsOf types.str;
          default = { };
        };
        host = mkOption {
          type = types.str;
          default = "127.0.0.1";
        };
        port = mkOption {
          type = types.port;
          default = 11434;
        };
      };
      config = lib.mkIf config.services.ollama.enable {
        systemd.services.ollama = {
          after = [ "network.target" ];
          serviceConfig = {
            DynamicUser = true;
            DeviceAllow = [
              "char-nvidiactl"
              "char-nvidia-caps"
              "char-nvidia-frontend"
              "char-nvidia-uvm"
              "char-drm"
              "char-fb"
              "char-kfd"
              "/dev/dxg"
            ];
            DevicePolicy = "closed";
            MemoryDenyWriteExecute = true;
            PrivateDevices = false;
            SupplementaryGroups = [ "render" ];
          };
        };
      };
    };

  # nixos/modules/services/misc/comfyui.nix: the options this flake touches, and the unit
  # settings it adds to, as nixpkgs sets them.
  nixpkgsComfyui =
    { config, pkgs, ... }:
    let
      cfg = config.services.comfyui;
    in
    {
      options.services.comfyui = {
        enable = mkOption {
          type = types.bool;
          default = false;
        };
        package = mkOption {
          type = types.package;
          default = pkgs.comfyui;
        };
        dataDir = mkOption {
          type = types.path;
          default = "/var/lib/comfyui";
        };
        listen = mkOption {
          type = types.listOf types.str;
          default = [
            "127.0.0.1"
            "::1"
          ];
        };
        port = mkOption {
          type = types.port;
          default = 8188;
        };
        extraArgs = mkOption {
          type = types.listOf types.str;
          default = [ ];
        };
      };
      config = lib.mkIf cfg.enable {
        services.comfyui.extraArgs = lib.mkBefore [
          "--base-directory=${cfg.dataDir}"
          "--listen=${lib.concatStringsSep "," cfg.listen}"
          "--port=${toString cfg.port}"
        ];
        systemd.services.comfyui = {
          wantedBy = [ "multi-user.target" ];
          after = [ "network.target" ];
          serviceConfig = {
            User = "comfyui";
            Group = "comfyui";
            PrivateDevices = false;
            PrivateUsers = true;
            ProtectSystem = "strict";
          };
        };
      };
    };

  standInOptions = {
    options = {
      # nixos/modules/misc/assertions.nix
      assertions = mkOption {
        type = types.listOf types.unspecified;
        default = [ ];
      };
      warnings = mkOption {
        type = types.listOf types.str;
        default = [ ];
      };
      # nixos/modules/hardware/graphics.nix
      hardware.graphics.enable = mkOption {
        type = types.bool;
        default = false;
      };
      hardware.graphics.extraPackages = mkOption {
        type = types.listOf types.package;
        default = [ ];
      };
      # nixos/modules/system/boot/kernel.nix
      boot.kernelParams = mkOption {
        type = types.listOf (types.strMatching ''([^"[:space:]]|"[^"]*")+'');
        default = [ ];
      };
      boot.kernelPackages = mkOption { type = types.raw; };
      # nixos/modules/config/users-groups.nix
      users.users = mkOption {
        type = types.attrsOf (
          types.submodule {
            options.extraGroups = mkOption {
              type = types.listOf types.str;
              default = [ ];
            };
          }
        );
        default = { };
      };
      # nixos/modules/config/system-environment.nix
      environment.sessionVariables = mkOption {
        type = types.attrsOf (types.either types.str (types.listOf types.str));
        default = { };
      };
      # nixos/modules/services/monitoring/prometheus/default.nix
      services.prometheus.enable = mkOption {
        type = types.bool;
        default = false;
      };
      services.prometheus.ruleFiles = mkOption {
        type = types.listOf types.path;
        default = [ ];
      };
      # nixos/modules/services/monitoring/prometheus/exporters.nix (common options) and
      # exporters/node.nix (enabledCollectors)
      services.prometheus.exporters.node = {
        enable = mkOption {
          type = types.bool;
          default = false;
        };
        enabledCollectors = mkOption {
          type = types.listOf types.str;
          default = [ ];
        };
        extraFlags = mkOption {
          type = types.listOf types.str;
          default = [ ];
        };
      };
      # nixos/modules/system/boot/systemd.nix (timer options from systemd-unit-options.nix)
      systemd.timers = mkOption {
        type = types.attrsOf (
          types.submodule {
            options = {
              wantedBy = mkOption {
                type = types.listOf types.str;
                default = [ ];
              };
              timerConfig = mkOption {
                type = types.attrsOf unitOption;
                default = { };
              };
            };
          }
        );
        default = { };
      };
      # nixos/modules/services/networking/firewall.nix
      networking.firewall.allowedTCPPorts = mkOption {
        type = types.listOf types.port;
        default = [ ];
      };
      # nixos/modules/config/system-path.nix
      environment.systemPackages = mkOption {
        type = types.listOf types.package;
        default = [ ];
      };
      # nixos/modules/system/boot/systemd.nix (service options from systemd-unit-options.nix)
      systemd.services = mkOption {
        type = types.attrsOf (
          types.submodule {
            options = {
              description = mkOption {
                type = types.str;
                default = "";
              };
              wantedBy = mkOption {
                type = types.listOf types.str;
                default = [ ];
              };
              wants = mkOption {
                type = types.listOf types.str;
                default = [ ];
              };
              after = mkOption {
                type = types.listOf types.str;
                default = [ ];
              };
              environment = mkOption {
                type = types.attrsOf types.str;
                default = { };
              };
              preStart = mkOption {
                type = types.lines;
                default = "";
              };
              serviceConfig = mkOption {
                type = types.attrsOf unitOption;
                default = { };
              };
            };
          }
        );
        default = { };
      };
    };
  };
in
{
  modules,
  kernelVersion ? "6.12.10",
  driversOutput ? true,
  comfyuiXpu ? true,
  syclTools ? true,
}:
let
  inherit
    (
      (lib.evalModules {
        modules = [
          standInOptions
          nixpkgsOllama
          nixpkgsComfyui
          {
            _module.args.pkgs = standInPkgs { inherit driversOutput comfyuiXpu syclTools; };
            boot.kernelPackages.kernel.version = kernelVersion;
          }
        ]
        ++ modules;
      })
    )
    config
    ;
in
{
  failedAssertions = map (a: a.message) (lib.filter (a: !a.assertion) config.assertions);
  graphics = config.hardware.graphics.enable;
  extraPackages = map (p: p.name) config.hardware.graphics.extraPackages;
  kernelParams = config.boot.kernelParams;
  users = lib.mapAttrs (_: u: u.extraGroups) config.users.users;
  sessionVariables = config.environment.sessionVariables;
  systemPackages = map (p: p.name) config.environment.systemPackages;
  units = lib.mapAttrs (_: u: {
    inherit (u) wantedBy wants after;
    serviceConfig = lib.filterAttrs (n: _: n != "ExecStart") u.serviceConfig;
  }) config.systemd.services;
  # lists sorted: their order follows module order and means nothing to systemd
  ollamaUnit =
    let
      sorted = v: if lib.isList v then lib.sort lib.lessThan v else v;
    in
    (lib.mapAttrs (_: u: {
      wants = sorted u.wants;
      after = sorted u.after;
      serviceConfig = lib.mapAttrs (_: sorted) (lib.filterAttrs (n: _: n != "ExecStart") u.serviceConfig);
    }) config.systemd.services).ollama or null;
  ollamaPackage = config.services.ollama.package.name;
  warnings = config.warnings;
  firewallTCP = config.networking.firewall.allowedTCPPorts;
  monitoring = {
    node = config.services.prometheus.exporters.node;
    ruleFiles = map toString config.services.prometheus.ruleFiles;
    timers = lib.mapAttrs (_: t: { inherit (t) wantedBy timerConfig; }) config.systemd.timers;
    scripts = lib.mapAttrs (_: u: u.serviceConfig.ExecStart.text) (
      lib.filterAttrs (n: _: lib.hasPrefix "xpu-" n) config.systemd.services
    );
  };
  comfyuiPreStart = (config.systemd.services.comfyui or { preStart = ""; }).preStart;
  comfyui = {
    package = config.services.comfyui.package.name;
    args = config.services.comfyui.extraArgs;
    unit =
      let
        u = config.systemd.services.comfyui or null;
      in
      if u == null then
        null
      else
        {
          inherit (u) wants after environment;
          SupplementaryGroups = u.serviceConfig.SupplementaryGroups or null;
        };
  };
  ollamaEnvironment = config.services.ollama.environmentVariables;
}
