{
  description = "Ollama and ComfyUI on one Intel GPU, reachable from elsewhere only through an authenticating proxy (intel-xpu)";

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
      nixosConfigurations.ai-server = nixpkgs.lib.nixosSystem {
        system = "x86_64-linux";
        modules = [
          ./hardware-configuration.nix
          intel-xpu.nixosModules.default
          (
            { pkgs, ... }:
            {
              nixpkgs.overlays = [ intel-xpu.overlays.default ];
              # the IPEX-LLM build ships Intel's oneAPI runtime (redistributable, not free)
              nixpkgs.config.allowUnfreePredicate = pkg: pkgs.lib.getName pkg == "ollama-ipex-llm";

              hardware.intel-xpu = {
                enable = true;
                driver = "i915"; # Arc A-series; "xe" for Battlemage and newer
                users = [ "alice" ];
              };

              # Backend choice: measure before settling, e.g.
              #   xpu bench ollama --backend vulkan=http://127.0.0.1:11434 --backend ipex-llm=http://127.0.0.1:11435
              # with a second instance of the other backend on 11435.
              services.ollama = {
                enable = true;
                intel = {
                  enable = true;
                  backend = "ipex-llm";
                  device = "level_zero:0"; # the discrete GPU when an iGPU is present too
                };
              };

              services.comfyui = {
                enable = true;
                intel.enable = true; # listens on loopback: nginx below is the only way in
              };

              # Both services stay on loopback (neither has authentication); nginx terminates TLS
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

              users.users.alice.isNormalUser = true;
              system.stateVersion = "25.11";
            }
          )
        ];
      };
    };
}
