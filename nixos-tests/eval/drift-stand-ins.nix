# checks.drift-stand-ins: the drift check (drift.nix) of every core stand-in against a whole real
# evaluation, where `nix flake check` has one: stand-ins/nixos.nix and stand-ins/nginx-acme.nix
# against `(nixpkgs.lib.nixosSystem { ... }).options`, home-manager-stand-ins.nix against a Home
# Manager configuration's `.options` (home-manager.lib.homeManagerConfiguration). A stand-in
# option the real evaluation lacks, or types differently, fails it unless known-approximations.nix
# lists it with the reason; a listed option that no longer differs fails it too.
# Returns { <arm> = { compared; mismatches; missing; unexplained; stale; }; } for the arms
# `nixos` and `home-manager`.
{ lib }:
{
  nixosOptions,
  homeManagerOptions,
}:
let
  drift = import ./drift.nix { inherit lib; };
  known = import ./known-approximations.nix;
  homeManager = import ./home-manager-stand-ins.nix { inherit lib; };
  # the stand-ins' own options (their defaults read `pkgs` only lazily)
  optionsOf =
    modules:
    (lib.evalModules {
      modules = modules ++ [
        {
          _module.args.pkgs = { };
          _module.check = false;
        }
      ];
    }).options;
  judge =
    arm: result:
    let
      mismatched = map (m: m.option) result.mismatches;
    in
    result
    // {
      unexplained =
        lib.filter (m: !(known.${arm} ? ${m.option})) result.mismatches
        ++ map (option: {
          inherit option;
          real = "not declared";
        }) result.missing;
      stale = lib.filter (option: !(lib.elem option mismatched)) (lib.attrNames known.${arm});
    };
in
lib.mapAttrs judge {
  nixos = drift {
    standIn = optionsOf [
      ./stand-ins/nixos.nix
      ./stand-ins/nginx-acme.nix
    ];
    real = nixosOptions;
  };
  home-manager = drift {
    standIn = optionsOf [ homeManager.module ];
    real = homeManagerOptions;
  };
}
