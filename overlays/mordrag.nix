# MordragT's oneAPI builds (github:MordragT/nixos) under pkgs.intel-xpu. Its flake-parts outputs,
# read from its pkgs/default.nix at 6442b7e (2026-07-02):
#   packages.<system>.{ollama-sycl, llama-cpp-sycl}   (pkgs/by-name)
#   legacyPackages.<system>.intel-python              (pkgs/by-lang: python313 with XPU torch)
# and, from intel-python and nixpkgs' comfyui, our ComfyUI on PyTorch XPU.
# An output MordragT drops or renames is left out rather than breaking evaluation; the modules
# that need it assert with a message instead.
mordrag: final: prev:
let
  system = final.stdenv.hostPlatform.system;
  packages = mordrag.packages.${system} or { };
  legacyPackages = mordrag.legacyPackages.${system} or { };
  take =
    set: from: to:
    if set ? ${from} then { ${to} = set.${from}; } else { };
in
{
  intel-xpu =
    (prev.intel-xpu or { })
    // take packages "ollama-sycl" "ollama-sycl"
    // take packages "llama-cpp-sycl" "llama-cpp-sycl"
    // take legacyPackages "intel-python" "python"
    # sycl-ls comes with MordragT's SYCL LLVM (legacyPackages.<system>.intel-sycl.llvm, intel/llvm
    # nightly-2026-01-01 with the sycl project; a large build unless the cache has it)
    // take (legacyPackages.intel-sycl or { }) "llvm" "sycl-tools"
    # ComfyUI on MordragT's XPU PyTorch (packages/comfyui-ipex), where nixpkgs has comfyui
    // (
      if legacyPackages ? intel-python && prev ? comfyui then
        {
          # makeOverridable, not callPackage: `.override` then takes nixpkgs' comfyui arguments
          # (services.comfyui treats this as nixpkgs' package)
          comfyui = final.lib.makeOverridable (import ../packages/comfyui-ipex/package.nix) {
            inherit (final) lib;
            inherit (prev) comfyui;
            python3 = legacyPackages.intel-python;
          };
        }
      else
        { }
    );
}
