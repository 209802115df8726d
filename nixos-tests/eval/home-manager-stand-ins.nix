# Typed stand-ins for the Home Manager options this flake's Home Manager modules touch, so they
# evaluate with nixpkgs' library alone (docs/nixpkgs-interface.md lists each with its file):
#   modules/misc/assertions.nix      assertions, warnings
#   modules/home-environment.nix     home.sessionVariables
#   modules/misc/xdg.nix             xdg.dataHome
#   modules/systemd.nix              systemd.user.services (unit sections; a plain attrs stand-in)
#   modules/services/ollama.nix      services.ollama.{enable, package, acceleration, environmentVariables}
{ lib }:
let
  inherit (lib) mkOption types;
in
rec {
  drv = name: {
    type = "derivation";
    inherit name;
    outPath = "/nix/store/00000000000000000000000000000000-${name}";
    meta.mainProgram = name;
  };

  # The configuration of `modules` on top of the stand-ins, with `pkgs` as the package set.
  evalConfig =
    { modules, pkgs }:
    (lib.evalModules {
      modules = [
        module
        { _module.args.pkgs = pkgs; }
      ]
      ++ modules;
    }).config;

  module =
    { pkgs, ... }:
    {
      options = {
        assertions = mkOption {
          type = types.listOf types.unspecified;
          default = [ ];
        };
        warnings = mkOption {
          type = types.listOf types.str;
          default = [ ];
        };
        home.sessionVariables = mkOption {
          type = types.lazyAttrsOf (
            types.oneOf [
              types.str
              types.path
              types.int
              types.float
            ]
          );
          default = { };
        };
        xdg.dataHome = mkOption {
          type = types.str;
          default = "/home/alice/.local/share";
        };
        systemd.user.services = mkOption {
          type = types.attrsOf types.attrs;
          default = { };
        };
        services.ollama = {
          enable = mkOption {
            type = types.bool;
            default = false;
          };
          package = mkOption {
            type = types.package;
            default = pkgs.ollama;
          };
          acceleration = mkOption {
            type = types.nullOr (
              types.enum [
                false
                "rocm"
                "cuda"
              ]
            );
            default = null;
          };
          environmentVariables = mkOption {
            type = types.attrsOf types.str;
            default = { };
          };
        };
      };
    };
}
