# Typed stand-ins for the Home Manager options this flake's Home Manager modules touch, so they
# evaluate with nixpkgs' library alone. Each is declared as the Home Manager file named here
# declares it (read at nix-community/home-manager ec1a8fd, the commit of the shared
# modules/services/ollama.nix):
#   nixpkgs' nixos/modules/misc/assertions.nix  assertions, warnings (Home Manager's modules.nix
#                                    imports that file; the drift check compares with it in CI)
#   modules/home-environment.nix     home.sessionVariables, home.packages
#   modules/misc/xdg/default.nix     xdg.dataHome (no default: its config sets one with
#                                    mkOptionDefault from home.homeDirectory, as here)
#   modules/systemd.nix              systemd.user.services (serviceType: its freeformType and the
#                                    options it declares, e.g. ExecStart applied to a list)
#   modules/launchd/default.nix      launchd.agents.<name>.{enable, config}: `config` approximated
#   nixpkgs' modules/generic/meta-maintainers.nix  meta.maintainers
# `nix flake check` compares every one with a real Home Manager evaluation (checks.drift-stand-ins).
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
          type =
            with types;
            lazyAttrsOf (
              nullOr (oneOf [
                str
                path
                int
                float
                bool
              ])
            );
          default = { };
        };
        xdg.dataHome = mkOption {
          type = types.path;
          defaultText = "~/.local/share";
          apply = toString;
        };
        home.packages = mkOption {
          type = types.listOf types.package;
          default = [ ];
        };
        # modules/systemd.nix: serviceType (unitBaseType "service" with its declared options)
        systemd.user.services = mkOption {
          type = types.attrsOf (
            types.submodule {
              freeformType =
                let
                  primitive = types.oneOf [
                    types.bool
                    types.int
                    types.str
                    types.path
                  ];
                in
                types.attrsOf (types.attrsOf (types.either primitive (types.listOf primitive)))
                // {
                  description = "systemd service unit configuration";
                };
              options = {
                Unit = {
                  Description = mkOption {
                    type = types.nullOr types.str;
                    default = null;
                  };
                  Documentation = mkOption {
                    type = types.coercedTo types.str lib.toList (types.listOf types.str);
                    default = [ ];
                  };
                  X-Reload-Triggers = mkOption {
                    type = types.listOf (types.either types.package types.str);
                    default = [ ];
                  };
                  X-Restart-Triggers = mkOption {
                    type = types.listOf (types.either types.package types.str);
                    default = [ ];
                  };
                  X-SwitchMethod = mkOption {
                    type = types.enum [
                      null
                      "reload"
                      "restart"
                      "stop-start"
                      "keep-old"
                    ];
                    default = null;
                  };
                };
                Service = {
                  Environment = mkOption {
                    type = types.coercedTo types.str lib.toList (types.listOf types.str);
                    default = [ ];
                  };
                  ExecStart = mkOption {
                    type =
                      let
                        primitive = types.either types.package types.str;
                      in
                      types.either primitive (types.listOf primitive);
                    apply = lib.toList;
                    default = [ ];
                  };
                };
              };
            }
          );
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
      # Home Manager's xdg module sets it from home.homeDirectory with mkOptionDefault
      config.xdg.dataHome = lib.mkOptionDefault "/home/alice/.local/share";
    };
}
