# The upstream module files the evaluation loads for real, from checkouts given by path:
#   nixpkgs        a nixpkgs checkout (XPU_NIXPKGS; `nix flake check`: the nixpkgs input)
#   homeManager    a home-manager checkout (XPU_HOME_MANAGER; the home-manager input)
#   nixosHardware  a nixos-hardware checkout (XPU_NIXOS_HARDWARE; the nixos-hardware input)
{
  nixpkgs,
  homeManager,
  nixosHardware,
}:
let
  nixos = "${toString nixpkgs}/nixos/modules";
in
{
  # what nixosSystem's modules see as modulesPath (disabledModules are relative to it)
  modulesPath = nixos;
  nixos = {
    assertions = /. + "${nixos}/misc/assertions.nix";
    graphics = /. + "${nixos}/hardware/graphics.nix";
    ollama = /. + "${nixos}/services/misc/ollama.nix";
    comfyui = /. + "${nixos}/services/misc/comfyui.nix";
    llamaCpp = /. + "${nixos}/services/misc/llama-cpp.nix";
  };
  homeManager.ollama = /. + "${toString homeManager}/modules/services/ollama.nix";
  nixosHardware.intelGpu = /. + "${toString nixosHardware}/common/gpu/intel/default.nix";
}
