# A stand-in of nixpkgs' lib.nixosSystem, to test harness-nixos.nix's own logic here, where
# nixpkgs is not: the module files harness.nix loads (the upstream ones and the typed stand-ins),
# plus a few of the definitions every NixOS machine has, so that the harness's subtraction of a
# bare machine has something to subtract, and machine.nix (file systems, boot loader, with the two
# assertions of NixOS that a machine without them fails). What NixOS itself says about the cases is known only
# under `nix flake check` (checks.eval-modules-nixos).
{ lib, upstream }:
{ modules }:
lib.evalModules {
  specialArgs = { inherit (upstream) modulesPath; };
  modules = [
    ./nixos.nix
    ./nginx-acme.nix
    # file systems, boot loader (GRUB by default, with its assertion), platform
    ./machine.nix
    upstream.nixos.assertions
    upstream.nixos.graphics
    upstream.nixos.ollama
    upstream.nixos.comfyui
    upstream.nixos.llamaCpp
    (
      { pkgs, ... }:
      {
        # a bare machine's own definitions (nixos/modules: users-groups.nix, nscd.nix,
        # logrotate.nix, shells-environment.nix, kernel.nix, system-path.nix)
        config = {
          # what nixos/modules/misc/extra-arguments.nix gives every module
          _module.args.utils = import ./utils.nix { inherit lib; };
          users.users.root.home = "/root";
          systemd.services.nscd.wantedBy = [ "multi-user.target" ];
          systemd.timers.logrotate.wantedBy = [ "timers.target" ];
          environment.sessionVariables.XDG_CONFIG_DIRS = [ "/etc/xdg" ];
          boot.kernelParams = [ "loglevel=4" ];
          environment.systemPackages = [ pkgs.coreutils ];
        };
      }
    )
  ]
  ++ modules;
}
