# A stand-in of home-manager's lib.homeManagerConfiguration (lib/default.nix: `modules/default.nix`,
# whose result carries the evaluation's `options`), to test flake.nix's checks.drift-stand-ins here,
# where Home Manager is only its services/ollama.nix: the Home Manager stand-ins (which declare
# assertions and warnings as nixpkgs' misc/assertions.nix does) and that file. Home Manager's
# own home.username, home.homeDirectory and home.stateVersion are not declared, so definitions
# are not checked against declarations (only `options` is read).
{ lib, upstream }:
{ modules, ... }:
lib.evalModules {
  modules = [
    (import ../home-manager-stand-ins.nix { inherit lib; }).module
    ./meta-maintainers.nix
    upstream.homeManager.ollama
    {
      _module.args.pkgs = { };
      _module.check = false;
    }
  ]
  ++ modules;
}
