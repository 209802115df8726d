{
  description = "Intel GPU (XPU) AI stack on NixOS: drivers, Ollama, ComfyUI, and the tests that prove it works";

  # MordragT's binary cache serves the oneAPI stack (hours to build otherwise). Key as MordragT's
  # own nix settings module lists it (MordragT/nixos modules/nixos/platform/nix/default.nix at
  # b3dfff2). Nix reads nixConfig only from the flake it is run on (`nix build` in a clone of this
  # one): as an input of yours it is never asked, so a machine puts the cache in its own
  # nix.settings (docs/nixos.md, "Binary caches and build times").
  nixConfig = {
    extra-substituters = [ "https://mordrag.cachix.org" ];
    extra-trusted-public-keys = [ "mordrag.cachix.org-1:6SOBxvzKQ/PyH4xBCXSsUvBLvQPrjNMQhd9jE3d4gWI=" ];
  };

  inputs = {
    nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";
    # ollama-sycl, llama-cpp-sycl and intel-python (overlays/mordrag.nix). Following our nixpkgs
    # keeps one nixpkgs in the closure, but then MordragT's cache rarely has the exact builds:
    # drop the follows to get cache hits at the cost of a second nixpkgs (docs/nixos.md).
    mordrag = {
      url = "github:MordragT/nixos";
      inputs.nixpkgs.follows = "nixpkgs";
    };
    # Check-only inputs (nothing a user's configuration reads): only `checks` uses them. Users point
    # them at their own flake (`inputs.intel-xpu.inputs.home-manager.follows = "";`, as
    # examples/*/flake.nix do), so they are never fetched nor written to the users' flake.lock;
    # pytests/test_flake.py holds every example to that.
    # home-manager: vm-home-manager, and eval-modules, which loads its services.ollama
    # (homeManagerModules.default needs no input)
    home-manager = {
      url = "github:nix-community/home-manager";
      inputs.nixpkgs.follows = "nixpkgs";
    };
    # nixos-hardware: checks.eval-modules, hardware.intel-xpu must agree with its common/gpu/intel
    nixos-hardware.url = "github:NixOS/nixos-hardware";
  };

  outputs =
    {
      self,
      nixpkgs,
      mordrag,
      home-manager,
      nixos-hardware,
    }:
    let
      system = "x86_64-linux";
      pkgs = import nixpkgs {
        inherit system;
        overlays = [ self.overlays.default ];
        # the oneAPI runtime in ollama-ipex-llm is redistributable but not free
        config.allowUnfreePredicate = pkg: nixpkgs.lib.getName pkg == "ollama-ipex-llm";
      };
    in
    {
      overlays = {
        intel-xpu = import ./overlays/intel-xpu.nix;
        mordrag = import ./overlays/mordrag.nix mordrag;
        default = nixpkgs.lib.composeManyExtensions [
          self.overlays.intel-xpu
          self.overlays.mordrag
        ];
      };

      nixosModules = {
        intel-gpu = ./modules/nixos/intel-gpu.nix;
        ollama = ./modules/nixos/ollama.nix;
        comfyui = ./modules/nixos/comfyui.nix;
        llama-cpp = ./modules/nixos/llama-cpp.nix;
        monitoring = ./modules/nixos/monitoring.nix;
        default = {
          imports = [
            self.nixosModules.intel-gpu
            self.nixosModules.ollama
            self.nixosModules.comfyui
            self.nixosModules.llama-cpp
            self.nixosModules.monitoring
          ];
        };
      };

      homeManagerModules = {
        # Home Manager's services.ollama as a user unit, with the same services.ollama.intel options
        ollama = ./modules/home-manager/ollama.nix;
        # ComfyUI on PyTorch XPU as a user unit (services.intel-xpu.comfyui)
        comfyui = ./modules/home-manager/comfyui.nix;
        default = {
          imports = [
            self.homeManagerModules.ollama
            self.homeManagerModules.comfyui
          ];
        };
      };

      checks.${system} =
        let
          upstream = import ./nixos-tests/eval/upstream.nix {
            inherit nixpkgs;
            homeManager = home-manager;
            nixosHardware = nixos-hardware;
          };
          # every case of nixos-tests/eval/*-cases.nix through `harness`: a derivation that fails
          # naming the cases whose results differ from what they expect
          evalCases =
            name: harness:
            let
              results = import ./nixos-tests/eval/run.nix {
                inherit (nixpkgs) lib;
                inherit upstream harness;
              };
              failed = nixpkgs.lib.filterAttrs (_: r: !r.ok) results;
              report = builtins.unsafeDiscardStringContext (builtins.toJSON failed);
            in
            pkgs.runCommand name { inherit report; } (
              if failed == { } then
                "echo ${toString (builtins.length (builtins.attrNames results))} cases > $out"
              else
                ''
                  echo "module evaluation cases failed: ${toString (builtins.attrNames failed)}" >&2
                  echo "$report" >&2
                  exit 1
                ''
            );
          # NixOS VM tests (nixos-tests/vm/*.nix): every node runs this flake's modules on the
          # flake's package set (overlay applied; runNixOSTest makes it the nodes' read-only pkgs).
          vmTest =
            test:
            pkgs.testers.runNixOSTest {
              imports = [ test ];
              defaults.imports = [ self.nixosModules.default ];
            };
        in
        {
          # Module evaluation cases (nixos-tests/eval/*-cases.nix) on the inputs' module files and
          # typed stand-ins of the core options (harness.nix), also run by pytests/test_flake.py on
          # the checkouts XPU_NIXPKGS etc. name.
          eval-modules = evalCases "eval-modules" (
            import ./nixos-tests/eval/harness.nix {
              inherit (nixpkgs) lib;
              inherit upstream;
            }
          );
          # The same cases through nixpkgs.lib.nixosSystem: all of NixOS evaluates them.
          eval-modules-nixos = evalCases "eval-modules-nixos" (
            import ./nixos-tests/eval/harness-nixos.nix {
              inherit (nixpkgs) lib;
              inherit (nixpkgs.lib) nixosSystem;
              pkgs = nixpkgs.legacyPackages.${system};
            }
          );

          # The core stand-ins (nixos-tests/eval/stand-ins/nixos.nix, nginx-acme.nix,
          # home-manager-stand-ins.nix) against all of NixOS and a Home Manager configuration: every
          # option they declare is declared alike there, or known-approximations.nix says why not.
          drift-stand-ins =
            let
              inherit (nixpkgs) lib;
              arms = import ./nixos-tests/eval/drift-stand-ins.nix { inherit lib; } {
                nixosOptions =
                  (nixpkgs.lib.nixosSystem {
                    modules = [ { nixpkgs.hostPlatform = system; } ];
                  }).options;
                homeManagerOptions =
                  (home-manager.lib.homeManagerConfiguration {
                    inherit pkgs;
                    modules = [
                      {
                        home = {
                          username = "drift";
                          homeDirectory = "/home/drift";
                          stateVersion = "25.05";
                        };
                      }
                    ];
                  }).options;
              };
              failed = lib.filterAttrs (_: a: a.unexplained != [ ] || a.stale != [ ]) arms;
              report = builtins.unsafeDiscardStringContext (
                builtins.toJSON (lib.mapAttrs (_: a: { inherit (a) unexplained stale; }) failed)
              );
              counts = lib.concatStringsSep ", " (
                lib.mapAttrsToList (arm: a: "${arm}: ${toString (builtins.length a.compared)}") arms
              );
            in
            pkgs.runCommand "drift-stand-ins" { inherit report; } (
              if failed == { } then
                "echo 'options compared: ${counts}' > $out"
              else
                ''
                  echo "stand-ins differ from the real declarations: ${toString (builtins.attrNames failed)}" >&2
                  echo "$report" >&2
                  exit 1
                ''
            );

          vm-intel-gpu = vmTest ./nixos-tests/vm/intel-gpu.nix;
          vm-ollama = vmTest ./nixos-tests/vm/ollama.nix;
          vm-comfyui = vmTest ./nixos-tests/vm/comfyui.nix;
          vm-home-manager = vmTest (
            import ./nixos-tests/vm/home-manager.nix {
              homeManagerModule = home-manager.nixosModules.home-manager;
              intelXpuHomeModule = self.homeManagerModules.default;
            }
          );
        };

      packages.${system} =
        let
          xpu = pkgs.intel-xpu;
        in
        {
          inherit (xpu) xpu-tool xpu-testkit ollama-ipex-llm benchmarks;
          # the short names docs/nixos.md lists
          ollama-ipex = xpu.ollama-ipex-llm;
          ipex-benchmarks = xpu.benchmarks;
          default = xpu.xpu-tool;
        }
        # MordragT's builds, when its flake still provides them (overlays/mordrag.nix: null if not)
        // nixpkgs.lib.filterAttrs (_: p: p != null) {
          inherit (xpu) ollama-sycl llama-cpp-sycl;
          python-ipex = xpu.python;
          comfyui-ipex = xpu.comfyui;
        };

      devShells.${system}.default = pkgs.mkShell {
        packages = [
          pkgs.intel-xpu.xpu-testkit
          pkgs.clinfo
          pkgs.level-zero
        ];
      };

      formatter.${system} = pkgs.nixfmt;

      templates.default = {
        path = ./examples/basic-setup;
        description = "A NixOS machine (boot loader, your hardware-configuration.nix) with an Intel GPU, Ollama on it, and xpu doctor";
      };

      nixosConfigurations.xpu-test-vm = nixpkgs.lib.nixosSystem {
        inherit system;
        modules = [
          { nixpkgs.overlays = [ self.overlays.default ]; }
          ./nixos-tests/test-vm.nix
        ];
      };
    };
}
