{
  description = "Ollama, llama.cpp and ComfyUI on one Intel GPU, reachable from elsewhere only through an authenticating proxy (intel-xpu)";

  inputs = {
    nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";
    intel-xpu = {
      # your copy of intel-xpu, as in examples/basic-setup/README.md
      url = "git+file:///opt/intel-xpu";
      inputs.nixpkgs.follows = "nixpkgs";
      # check-only inputs of intel-xpu: never fetched, not in flake.lock
      inputs.home-manager.follows = "";
      inputs.nixos-hardware.follows = "";
    };
  };

  outputs =
    { nixpkgs, intel-xpu, ... }:
    {
      nixosConfigurations.ai-server = nixpkgs.lib.nixosSystem {
        system = "x86_64-linux";
        modules = [
          ./hardware-configuration.nix
          intel-xpu.nixosModules.default
          {
            nixpkgs.overlays = [ intel-xpu.overlays.default ];

            hardware.intel-xpu = {
              enable = true;
              driver = "i915"; # Arc A-series; "xe" for Battlemage and newer
              users = [ "alice" ];
            };

            # Two engines on the GPU: Ollama on Vulkan, and llama.cpp's llama-server on SYCL
            # (MordragT's build: accept his binary cache). Which is faster depends on the card
            # and the model: measure both with `xpu bench` (README) before settling on one.
            services.ollama = {
              enable = true;
              intel.enable = true; # backend = "vulkan"
            };
            services.llama-cpp = {
              enable = true;
              # a GGUF file every user may read (the unit runs as a dynamic user)
              model = "/srv/models/model.gguf";
              intel = {
                enable = true;
                backend = "sycl";
                device = "level_zero:0"; # the discrete GPU when an iGPU is present too
              };
            };

            services.comfyui = {
              enable = true;
              intel.enable = true; # listens on loopback: nginx below is the only way in
            };

            # The services stay on loopback (none has authentication); nginx terminates TLS
            # and asks for a password. Create the file outside the Nix store, e.g.
            #   htpasswd -B -c /var/lib/secrets/ai-htpasswd alice   (then chown it to nginx)
            services.nginx = {
              enable = true;
              recommendedProxySettings = true;
              recommendedTlsSettings = true;
              virtualHosts = {
                "comfyui.example.org" = {
                  forceSSL = true;
                  enableACME = true;
                  basicAuthFile = "/var/lib/secrets/ai-htpasswd";
                  locations."/" = {
                    proxyPass = "http://127.0.0.1:8188";
                    proxyWebsockets = true; # ComfyUI's progress events (/ws)
                  };
                };
                "ollama.example.org" = {
                  forceSSL = true;
                  enableACME = true;
                  basicAuthFile = "/var/lib/secrets/ai-htpasswd";
                  locations."/".proxyPass = "http://127.0.0.1:11434";
                };
                "llama.example.org" = {
                  forceSSL = true;
                  enableACME = true;
                  basicAuthFile = "/var/lib/secrets/ai-htpasswd";
                  locations."/".proxyPass = "http://127.0.0.1:8080";
                };
              };
            };
            security.acme = {
              acceptTerms = true;
              defaults.email = "admin@example.org";
            };
            networking.firewall.allowedTCPPorts = [
              80
              443
            ];

            # UEFI, the EFI system partition at /boot (hardware-configuration.nix)
            boot.loader.systemd-boot.enable = true;
            boot.loader.efi.canTouchEfiVariables = true;

            users.users.alice.isNormalUser = true;
            system.stateVersion = "25.11";
          }
        ];
      };
    };
}
