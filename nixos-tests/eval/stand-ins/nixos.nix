# Typed stand-ins for the NixOS core options that the upstream module files (loaded for real from
# XPU_NIXPKGS: services.ollama, services.comfyui, hardware.graphics, misc/assertions.nix;
# nixos-hardware's common/gpu/intel) and this flake's modules use but do not declare. Each is
# typed as the nixpkgs file named beside it declares it (docs/nixpkgs-interface.md has the commit
# read); only declarations, none of those modules' behaviour. drift.nix compares every option here
# with a real declaration wherever one is loaded (`nix flake check`: all of nixpkgs).
{ lib, ... }:
let
  inherit (lib) mkOption types;

  # nixos/lib/systemd-lib.nix
  unitNameType = types.strMatching "[a-zA-Z0-9@%:_.\\-]+[.](service|socket|device|mount|automount|swap|target|path|timer|scope|slice)";

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
  units = mkOption {
    type = types.listOf unitNameType;
    default = [ ];
  };
  lines = mkOption {
    type = types.lines;
    default = "";
  };
  # tmpfiles fields that default to "-"
  field = mkOption {
    type = types.str;
    default = "-";
  };

  # nixos/lib/systemd-unit-options.nix: commonUnitOptions (the ones used here) and serviceOptions
  serviceOptions = {
    options = {
      description = mkOption {
        type = types.singleLineStr;
        default = "";
      };
      wantedBy = units;
      requiredBy = units;
      wants = units;
      requires = units;
      after = units;
      before = units;
      bindsTo = units;
      partOf = units;
      conflicts = units;
      unitConfig = mkOption {
        type = types.attrsOf unitOption;
        default = { };
      };
      environment = mkOption {
        type = types.attrsOf (
          types.nullOr (
            types.oneOf [
              types.str
              types.path
              types.package
            ]
          )
        );
        default = { };
      };
      path = mkOption {
        type = types.listOf (
          types.oneOf [
            types.package
            types.str
          ]
        );
        default = [ ];
      };
      serviceConfig = mkOption {
        type = types.attrsOf unitOption;
        default = { };
      };
      script = lines;
      preStart = lines;
      postStart = lines;
    };
  };

  timerOptions = {
    options = {
      wantedBy = units;
      timerConfig = mkOption {
        type = types.attrsOf unitOption;
        default = { };
      };
    };
  };

  # nixos/modules/system/boot/systemd/tmpfiles.nix (settingsOption)
  tmpfilesEntry =
    { name, ... }:
    {
      options = {
        type = mkOption {
          type = types.str;
          default = name;
        };
        mode = field;
        user = field;
        group = field;
        age = field;
        argument = mkOption {
          type = types.str;
          default = "";
        };
      };
    };

  # nixos/modules/config/users-groups.nix (userOpts, groupOpts: the options used here)
  userOptions = {
    options = {
      isSystemUser = mkOption {
        type = types.bool;
        default = false;
      };
      isNormalUser = mkOption {
        type = types.bool;
        default = false;
      };
      group = mkOption {
        type = types.str;
        default = "";
      };
      extraGroups = mkOption {
        type = types.listOf types.str;
        default = [ ];
      };
      home = mkOption {
        type = types.passwdEntry types.path;
        default = "/var/empty";
      };
      linger = mkOption {
        type = types.nullOr types.bool;
        default = null;
      };
    };
  };
  groupOptions = {
    options = {
      gid = mkOption {
        type = types.nullOr types.int;
        default = null;
      };
      members = mkOption {
        type = types.listOf (types.passwdEntry types.str);
        default = [ ];
      };
    };
  };

  # nixos/modules/misc/nixpkgs.nix
  overlayType = lib.mkOptionType {
    name = "nixpkgs-overlay";
    description = "nixpkgs overlay";
    check = lib.isFunction;
    merge = lib.mergeOneOption;
  };
  configType = lib.mkOptionType {
    name = "nixpkgs-config";
    description = "nixpkgs config";
    check = x: lib.isAttrs x || lib.isFunction x;
    merge = _: defs: lib.foldr (def: acc: lib.recursiveUpdate acc def.value) { } defs;
  };
in
{
  imports = [ ./meta-maintainers.nix ];

  options = {
    # nixos/modules/system/boot/kernel.nix
    boot.kernelParams = mkOption {
      type = types.listOf (types.strMatching ''([^"[:space:]]|"[^"]*")+'');
      default = [ ];
    };
    boot.kernelPackages = mkOption { type = types.raw; };
    boot.initrd.kernelModules = mkOption {
      type = types.listOf types.str;
      default = [ ];
    };

    # nixos/modules/system/boot/systemd.nix
    systemd.services = mkOption {
      type = types.attrsOf (types.submodule serviceOptions);
      default = { };
    };
    systemd.timers = mkOption {
      type = types.attrsOf (types.submodule timerOptions);
      default = { };
    };
    systemd.tmpfiles.settings = mkOption {
      type = types.attrsOf (types.attrsOf (types.attrsOf (types.submodule tmpfilesEntry)));
      default = { };
    };

    users.users = mkOption {
      type = types.attrsOf (types.submodule userOptions);
      default = { };
    };
    users.groups = mkOption {
      type = types.attrsOf (types.submodule groupOptions);
      default = { };
    };

    # nixos/modules/config/system-environment.nix
    environment.sessionVariables = mkOption {
      type = types.attrsOf (types.either types.str (types.listOf types.str));
      default = { };
    };
    # nixos/modules/config/system-path.nix
    environment.systemPackages = mkOption {
      type = types.listOf types.package;
      default = [ ];
    };

    # nixos/modules/services/hardware/udev.nix
    services.udev.extraRules = mkOption {
      type = types.lines;
      default = "";
    };

    # nixos/modules/services/networking/firewall.nix (commonOptions)
    networking.firewall.allowedTCPPorts = mkOption {
      type = types.listOf types.port;
      default = [ ];
    };

    nixpkgs.overlays = mkOption {
      type = types.listOf overlayType;
      default = [ ];
    };
    nixpkgs.config = mkOption {
      type = configType;
      default = { };
    };

    # nixos/modules/misc/version.nix
    system.stateVersion = mkOption { type = types.str; };

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
  };
}
