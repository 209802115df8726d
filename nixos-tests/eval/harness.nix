# Evaluate this flake's NixOS modules on nixpkgs' real module files (upstream.nix: services.ollama,
# services.comfyui, services.llama-cpp, hardware.graphics, misc/assertions.nix, loaded from a
# nixpkgs checkout) with nixpkgs' library. Only the core options those files do not declare are
# stand-ins (stand-ins/nixos.nix), and so are the packages (derivation-shaped: stand-ins/pkgs.nix)
# and the `utils` argument NixOS gives its modules (stand-ins/utils.nix).
# Run by pytests/test_flake.py; flake.nix's checks run the same cases through nixosSystem
# (harness-nixos.nix), where all of NixOS is real.
{ lib, upstream }:
let
  standInPkgs = import ./stand-ins/pkgs.nix { inherit lib; };
  kernelPackages = import ./stand-ins/kernel-packages.nix { inherit lib; };
  pinKernel = import ./pin-kernel.nix;
in
args@{
  modules,
  kernelVersion ? "6.12.10",
  driversOutput ? true,
  comfyuiXpu ? true,
  syclTools ? true,
  # false: a nixpkgs without ollama-vulkan and no overlay (no ollama-sycl, ollama-ipex-llm)
  ollamaBackends ? true,
  # false: a nixpkgs without llama-cpp-vulkan, a MordragT flake without llama-cpp-sycl
  llamaCppBackends ? true,
  # nixpkgs' services.ollama: the real file, or a stand-in of an older one
  ollamaModule ? upstream.nixos.ollama,
  # nixpkgs' services.comfyui: the real file, or { } for a nixpkgs without it
  comfyuiModule ? upstream.nixos.comfyui,
  # MordragT's flake as overlays/mordrag.nix reads it (stand-ins/pkgs.nix; default its stand-in)
  mordrag ? null,
  # true: the modules are a whole machine (boot loader, file systems: an example with
  # typical-hardware-configuration.nix), judged by NixOS's assertions on those
  # (stand-ins/machine.nix); harness-nixos.nix then adds none of a bare machine's defaults
  wholeMachine ? false,
}:
let
  pkgs =
    let
      standIn = standInPkgs (
        {
          inherit
            driversOutput
            comfyuiXpu
            syclTools
            ollamaBackends
            llamaCppBackends
            ;
        }
        # passed on only when given, unread: a stand-in whose outputs throw must stay unevaluated
        // builtins.intersectAttrs { mordrag = null; } args
      );
    in
    # kernel package sets that NixOS' boot.kernelPackages `apply` can extend, as nixpkgs' can
    standIn
    // {
      linuxPackages = kernelPackages "6.12.10";
      linuxPackages_latest = kernelPackages standIn.linuxPackages_latest.kernel.version;
    };
  inherit
    (
      (lib.evalModules {
        modules = [
          ./stand-ins/nixos.nix
          upstream.nixos.assertions
          upstream.nixos.graphics
          comfyuiModule
          ollamaModule
          upstream.nixos.llamaCpp
          {
            imports = lib.optional wholeMachine ./stand-ins/machine.nix;
            _module.args.pkgs = pkgs;
            _module.args.utils = import ./stand-ins/utils.nix { inherit lib; };
            # the case's kernel version, set as harness-nixos.nix sets it
            boot.kernelPackages = lib.mkDefault (pinKernel kernelVersion pkgs.linuxPackages);
          }
        ]
        ++ modules;
      })
    )
    config
    ;
in
import ./view.nix { inherit lib; } config
