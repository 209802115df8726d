{
  description = "A NixOS machine with an Intel GPU set up for AI workloads (intel-xpu)";

  inputs = {
    nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";
    intel-xpu = {
      # Your copy of intel-xpu: the clone you ran `nix flake init -t` from (README.md here). A
      # fork on a forge works as well: "git+https://<host>/<you>/<repo>.git" or
      # "github:<you>/<repo>".
      url = "git+file:///opt/intel-xpu";
      inputs.nixpkgs.follows = "nixpkgs";
      # Only intel-xpu's own checks use these: point them at this flake, so nothing of theirs is
      # fetched or written to flake.lock.
      inputs.home-manager.follows = "";
      inputs.nixos-hardware.follows = "";
    };
  };

  outputs =
    { nixpkgs, intel-xpu, ... }:
    {
      nixosConfigurations.ai-box = nixpkgs.lib.nixosSystem {
        system = "x86_64-linux";
        modules = [
          # yours, from `nixos-generate-config` (README.md here): disks, file systems, kernel
          # modules of this machine
          ./hardware-configuration.nix
          # the machine: boot loader, users, the GPU, Ollama
          ./configuration.nix
          intel-xpu.nixosModules.default
          { nixpkgs.overlays = [ intel-xpu.overlays.default ]; }
        ];
      };
    };
}
