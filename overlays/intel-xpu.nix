# The intel-xpu package set: this flake's packages, and nixpkgs' driver and Ollama pieces under
# the same name so one attribute set holds the whole stack (overlays/mordrag.nix adds MordragT's
# oneAPI builds). Everything stays under `intel-xpu`, so it cannot shadow nixpkgs.
final: prev: {
  intel-xpu =
    (prev.intel-xpu or { })
    # nixpkgs' pieces, where this nixpkgs has them (the modules pick them up from here too)
    // builtins.intersectAttrs {
      level-zero = null;
      intel-compute-runtime = null;
      intel-compute-runtime-legacy1 = null;
      ollama-vulkan = null;
    } prev
    // {
      # the host tool the modules install, and the test kit on top of it
      xpu-tool = final.callPackage ../packages/xpu-tool/package.nix { };
      xpu-testkit = final.callPackage ../packages/xpu-testkit/package.nix {
        inherit (final.intel-xpu) xpu-tool;
      };
      ollama-ipex-llm = final.callPackage ../packages/ollama-ipex-llm/package.nix { };
      benchmarks = final.callPackage ../packages/ipex-benchmarks/package.nix {
        inherit (final.intel-xpu) xpu-testkit;
      };
    };
}
