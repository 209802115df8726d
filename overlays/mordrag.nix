# MordragT's oneAPI builds (github:MordragT/nixos) under pkgs.intel-xpu. Its flake-parts outputs,
# read from its pkgs/default.nix at 6442b7e (2026-07-02):
#   packages.<system>.{ollama-sycl, llama-cpp-sycl}   (pkgs/by-name)
#   legacyPackages.<system>.intel-python              (pkgs/by-lang: python313 with XPU torch)
# and, from intel-python and nixpkgs' comfyui, our ComfyUI on PyTorch XPU.
#
# Lazy: the attribute names below are fixed, and only a value reads MordragT's flake. A
# configuration that uses none of them (Vulkan only: nixpkgs' ollama-vulkan, llama-cpp-vulkan)
# never evaluates MordragT's outputs, nor fetches its source (flake inputs are fetched when first
# read). An output MordragT drops or renames is null rather than breaking evaluation; the modules
# that need it (`pkgs.intel-xpu.<name> or null`) assert with a message instead.
mordrag: final: prev:
let
  system = final.stdenv.hostPlatform.system;
  packages = mordrag.packages.${system} or { };
  legacyPackages = mordrag.legacyPackages.${system} or { };
in
{
  intel-xpu = (prev.intel-xpu or { }) // {
    ollama-sycl = packages.ollama-sycl or null;
    llama-cpp-sycl = packages.llama-cpp-sycl or null;
    python = legacyPackages.intel-python or null;
    # sycl-ls comes with MordragT's SYCL LLVM (legacyPackages.<system>.intel-sycl.llvm, intel/llvm
    # nightly-2026-01-01 with the sycl project; a large build unless the cache has it)
    sycl-tools = legacyPackages.intel-sycl.llvm or null;
    # ComfyUI on MordragT's XPU PyTorch (packages/comfyui-ipex), where nixpkgs has comfyui
    comfyui =
      if prev ? comfyui && legacyPackages ? intel-python then
        # makeOverridable, not callPackage: `.override` then takes nixpkgs' comfyui arguments
        # (services.comfyui treats this as nixpkgs' package)
        final.lib.makeOverridable (import ../packages/comfyui-ipex/package.nix) {
          inherit (final) lib;
          inherit (prev) comfyui;
          python3 = legacyPackages.intel-python;
        }
      else
        null;
  };
}
