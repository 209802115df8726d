# The intel-xpu package set. Later pieces (Ollama backends, ComfyUI on PyTorch XPU, benchmarks)
# join this attribute set; everything stays under `intel-xpu` so it cannot shadow nixpkgs.
final: prev: {
  intel-xpu = (prev.intel-xpu or { }) // {
    xpu-testkit = final.callPackage ../packages/xpu-testkit/package.nix { };
    ollama-ipex-llm = final.callPackage ../packages/ollama-ipex-llm/package.nix { };
  };
}
