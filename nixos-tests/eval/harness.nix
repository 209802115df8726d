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
    { driversOutput }:
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
      intel-xpu.xpu-testkit = drv "xpu-testkit" { };
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
      # nixos/modules/config/system-path.nix
      environment.systemPackages = mkOption {
        type = types.listOf types.package;
        default = [ ];
      };
    };
  };
in
{
  modules,
  kernelVersion ? "6.12.10",
  driversOutput ? true,
}:
let
  inherit
    (
      (lib.evalModules {
        modules = [
          standInOptions
          {
            _module.args.pkgs = standInPkgs { inherit driversOutput; };
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
}
