# The drift check (drift.nix) on the upstream files at hand (in CI: ../shared/upstream), one arm
# per stand-in that some loaded file also declares options of:
#   old-nixpkgs-ollama  stand-ins/old-nixpkgs-ollama.nix (with the core stand-ins) against
#                       nixpkgs' current services/misc/ollama.nix and the other nixpkgs files
#   home-manager        home-manager-stand-ins.nix against the files Home Manager loads for the
#                       same options: nixpkgs' misc/assertions.nix (Home Manager's modules.nix
#                       imports it: assertions, warnings) and its services/ollama.nix
# `uncompared` names the stand-ins no loaded file declares an option of, and why: their types
# rest on the reading in docs/nixpkgs-interface.md until checks.drift-stand-ins (drift-stand-ins.nix)
# compares them with all of NixOS and Home Manager under `nix flake check`.
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
    upstream.nixos.llamaCpp
    upstream.nixosHardware.intelGpu
  ];
  # what the real files declare is all there is here: a stand-in option they lack is not drift
  compare = args: removeAttrs (drift args) [ "missing" ];
in
{
  old-nixpkgs-ollama = compare {
    standIn = optionsOf (nixosStandIns ++ [ ./stand-ins/old-nixpkgs-ollama.nix ]);
    real = realNixos;
  };
  home-manager = compare {
    standIn = optionsOf [ homeManager.module ];
    real = optionsOf [
      upstream.nixos.assertions
      upstream.homeManager.ollama
    ];
  };
  uncompared = {
    "stand-ins/nixos.nix" =
      "the shared nixpkgs files (ollama, comfyui, llama-cpp, graphics, assertions) declare none of its core options";
    "stand-ins/nginx-acme.nix" = "no shared file declares services.nginx or security.acme";
  };
}
