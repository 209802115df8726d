{
  description = "A NixOS machine with an Intel GPU set up for AI workloads (intel-xpu)";

  inputs = {
    nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";
    intel-xpu = {
      url = "github:OWNER/intel-xpu"; # placeholder: OWNER is the GitHub account hosting intel-xpu
      inputs.nixpkgs.follows = "nixpkgs";
    };
  };

  outputs =
    { nixpkgs, intel-xpu, ... }:
    {
      nixosConfigurations.ai-box = nixpkgs.lib.nixosSystem {
        system = "x86_64-linux";
        modules = [
          ./hardware-configuration.nix
          intel-xpu.nixosModules.default
          (
            { pkgs, ... }:
            {
              nixpkgs.overlays = [ intel-xpu.overlays.default ];

              hardware.intel-xpu = {
                enable = true;
                driver = "xe"; # Lunar Lake, Battlemage and newer need xe; "i915" for older GPUs
                users = [ "alice" ];
              };
              boot.kernelPackages = pkgs.linuxPackages_latest;

              services.ollama = {
                enable = true;
                intel.enable = true; # the Vulkan backend; compare with `xpu bench ollama`
              };

              users.users.alice.isNormalUser = true;
              system.stateVersion = "25.11";
            }
          )
        ];
      };
    };
}
