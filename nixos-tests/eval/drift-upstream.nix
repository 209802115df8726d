# The drift check (drift.nix) on the upstream files at hand: each stand-in against the real files
# that declare the same options. In CI (../shared/upstream) that is the old-nixpkgs services.ollama
# stand-in against nixpkgs' current file, and the core and Home Manager stand-ins wherever those
# files declare the same options. The core stand-ins (stand-ins/nixos.nix) are compared with no
# whole NixOS yet: checks.eval-modules-nixos judges the cases there instead.
{ lib, upstream }:
let
  drift = import ./drift.nix { inherit lib; };
  pkgs = import ./stand-ins/pkgs.nix { inherit lib; } { };
  optionsOf =
    modules:
    (lib.evalModules {
      modules = modules ++ [
        {
          _module.args.pkgs = pkgs;
          _module.check = false;
        }
      ];
    }).options;
  homeManager = import ./home-manager-stand-ins.nix { inherit lib; };
  nixosStandIns = [
    ./stand-ins/nixos.nix
    ./stand-ins/nginx-acme.nix
  ];
  # the upstream files alone: their option declarations do not need the stand-ins
  realNixos = optionsOf [
    upstream.nixos.assertions
    upstream.nixos.graphics
    upstream.nixos.ollama
    upstream.nixos.comfyui
    upstream.nixosHardware.intelGpu
  ];
in
{
  old-nixpkgs-ollama = drift {
    standIn = optionsOf (nixosStandIns ++ [ ./stand-ins/old-nixpkgs-ollama.nix ]);
    real = realNixos;
  };
  home-manager = drift {
    standIn = optionsOf [ homeManager.module ];
    real = optionsOf [ upstream.homeManager.ollama ];
  };
}
