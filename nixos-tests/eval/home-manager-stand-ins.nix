# Typed stand-ins for the Home Manager options this flake's Home Manager modules touch, so they
# evaluate with nixpkgs' library alone (docs/nixpkgs-interface.md lists each with its file):
#   modules/misc/assertions.nix      assertions, warnings
#   modules/home-environment.nix     home.sessionVariables
#   modules/misc/xdg.nix             xdg.dataHome
#   modules/systemd.nix              systemd.user.services (unitType "service")
#   modules/launchd/default.nix      launchd.agents.<name>.{enable, config} (config left open here)
#   modules/misc/meta.nix            meta.maintainers (nixpkgs' modules/generic/meta-maintainers.nix)
# Home Manager's services.ollama is its real file (XPU_HOME_MANAGER: modules/services/ollama.nix).
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
        ./stand-ins/meta-maintainers.nix
        { _module.args.pkgs = pkgs; }
      ]
      ++ modules;
    }).config;

  module =
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
        home.packages = mkOption {
          type = types.listOf types.package;
          default = [ ];
        };
        systemd.user.services = mkOption {
          type =
            let
              primitive = types.either types.bool (types.either types.int types.str);
            in
            types.attrsOf (types.attrsOf (types.attrsOf (types.either primitive (types.listOf primitive))))
            // {
              description = "systemd service unit configuration";
            };
          default = { };
        };
        launchd.agents = mkOption {
          type = types.attrsOf (
            types.submodule {
              options.enable = mkOption {
                type = types.bool;
                default = false;
              };
              options.config = mkOption {
                type = types.attrsOf types.anything;
                default = { };
              };
            }
          );
          default = { };
        };
      };
    };
}
