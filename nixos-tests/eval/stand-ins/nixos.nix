# Typed stand-ins for the NixOS core options that the upstream module files (loaded for real from
# XPU_NIXPKGS: services.ollama, services.comfyui, hardware.graphics, misc/assertions.nix;
# nixos-hardware's common/gpu/intel) and this flake's modules use but do not declare. Each is
# declared as the nixpkgs file named beside it declares it: same type constructor, default (or
# defaultText where the default is a package set) and apply (docs/nixpkgs-interface.md has the
# commits read); only declarations and those functions, none of the modules' behaviour.
# No shared upstream file declares these options, so in CI nothing real is compared with them;
# `nix flake check` compares every one with all of NixOS (checks.drift-stand-ins,
# drift-stand-ins.nix), and known-approximations.nix lists where they knowingly differ.
{
  config,
  lib,
  options,
  pkgs,
  ...
}:
let
  inherit (lib) mkOption types;

  # nixos/lib/systemd-lib.nix
  unitNameType = types.strMatching "[a-zA-Z0-9@%:_.\\-]+[.](service|socket|device|mount|automount|swap|target|path|timer|scope|slice)";

  # nixos/lib/systemd-lib.nix: checkUnitConfig (mkOverride / mkIf wrappers unwrapped, errors traced)
  checkUnitConfig =
    group: checks: attrs:
    let
      defs = lib.mapAttrs (
        _: v: if v._type or "" == "override" || v._type or "" == "if" then v.content else v
      ) attrs;
      errors = lib.concatMap (c: c group defs) checks;
    in
    if errors == [ ] then true else lib.trace (lib.concatStringsSep "\n" errors) false;
  assertValueOneOf =
    name: values: group: attr:
    lib.optional (
      attr ? ${name} && !lib.elem attr.${name} values
    ) "Systemd ${group} field `${name}' cannot have value `${toString attr.${name}}'.";

  # nixos/lib/systemd-unit-options.nix: checkService
  checkService = checkUnitConfig "Service" [
    (assertValueOneOf "Type" [
      "exec"
      "simple"
      "forking"
      "oneshot"
      "dbus"
      "notify"
      "notify-reload"
      "idle"
    ])
    (assertValueOneOf "Restart" [
      "no"
      "on-success"
      "on-failure"
      "on-abnormal"
      "on-abort"
      "always"
    ])
  ];

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
        type = types.addCheck (types.attrsOf unitOption) checkService;
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
        apply =
          x:
          assert (
            lib.stringLength x < 32 || abort "Group name '${x}' is longer than 31 characters which is not allowed!"
          );
          x;
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
      type = types.listOf (
        types.strMatching ''([^"[:space:]]|"[^"]*")+''
        // {
          name = "kernelParam";
          description = "string, with spaces inside double quotes";
        }
      );
      default = [ ];
    };
    # its apply with boot.kernelPatches = [ ], boot.kernel.features = { } and randstructSeed = "",
    # the defaults of the options it reads (not stand-ins here)
    boot.kernelPackages = mkOption {
      type = types.raw;
      default = pkgs.linuxPackages;
      defaultText = lib.literalExpression "pkgs.linuxPackages";
      apply =
        kernelPackages:
        kernelPackages.extend (
          _: super: {
            kernel = super.kernel.override (originalArgs: {
              randstructSeed = "";
              kernelPatches = originalArgs.kernelPatches or [ ];
              features = lib.recursiveUpdate super.kernel.features { };
            });
          }
        );
    };
    boot.initrd.kernelModules = mkOption {
      type = types.listOf types.str;
      default = [ ];
    };

    # nixos/modules/hardware/all-firmware.nix
    hardware.enableAllFirmware = mkOption {
      type = types.bool;
      default = false;
    };
    hardware.enableRedistributableFirmware = mkOption {
      type = types.bool;
      default = config.hardware.enableAllFirmware;
      defaultText = lib.literalExpression "config.hardware.enableAllFirmware";
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

    # nixos/modules/config/system-environment.nix: `inherit (options.environment.variables) type
    # apply`, which nixos/modules/config/shells-environment.nix declares: lists joined with ":",
    # paths and integers as strings, nulls dropped
    environment.sessionVariables = mkOption {
      type =
        with types;
        attrsOf (
          nullOr (oneOf [
            (listOf (oneOf [
              int
              str
              path
            ]))
            int
            str
            path
          ])
        );
      apply =
        let
          toStr = v: if lib.isPath v then "${v}" else toString v;
        in
        attrs:
        lib.mapAttrs (_: v: if lib.isList v then lib.concatMapStringsSep ":" toStr v else toStr v) (
          lib.filterAttrs (_: v: v != null) attrs
        );
      default = { };
    };
    # nixos/modules/config/shells-environment.nix (what the doctor's advice names)
    environment.variables = mkOption {
      inherit (options.environment.sessionVariables) type apply;
      default = { };
    };
    # nixos/modules/system/boot/modprobe.nix (what the doctor's advice names)
    boot.extraModprobeConfig = mkOption {
      type = types.lines;
      default = "";
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
      apply = ports: lib.unique (builtins.sort builtins.lessThan ports);
    };

    # nixos/modules/misc/nixpkgs.nix
    nixpkgs.overlays = mkOption {
      type = types.listOf overlayType;
      default = [ ];
    };
    nixpkgs.config = mkOption {
      type = configType;
      default = { };
    };

    # nixos/modules/misc/version.nix
    # (its apply only traces a warning when the option is left at its default: not modelled)
    system.stateVersion = mkOption {
      type = types.str;
      default = lib.trivial.release;
      defaultText = lib.literalExpression "config.system.nixos.release";
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
  };
}
