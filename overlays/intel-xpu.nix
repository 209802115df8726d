# The intel-xpu package set: this flake's packages, and nixpkgs' driver and Ollama pieces under
# the same name so one attribute set holds the whole stack (overlays/mordrag.nix adds MordragT's
# oneAPI builds). Everything stays under `intel-xpu`, so it cannot shadow nixpkgs; the two Python
# packages also join every Python package set under names nixpkgs does not have.
final: prev: {
  # xpu-tool and xpu-testkit as Python packages: python3.withPackages (ps: [ ps.xpu-testkit ])
  # gives pytest the plugin, and an extension overriding ps.xpu-tool reaches the test kit
  pythonPackagesExtensions = (prev.pythonPackagesExtensions or [ ]) ++ [
    (pyfinal: _: {
      xpu-tool = pyfinal.callPackage ../packages/xpu-tool/package.nix { };
      xpu-testkit = pyfinal.callPackage ../packages/xpu-testkit/package.nix { };
    })
  ];

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
      # the programs: the host tool the modules install, and the test kit on top of it
      xpu-tool = final.python3Packages.toPythonApplication final.python3Packages.xpu-tool;
      xpu-testkit = final.python3Packages.toPythonApplication final.python3Packages.xpu-testkit;
      ollama-ipex-llm = final.callPackage ../packages/ollama-ipex-llm/package.nix { };
      benchmarks = final.callPackage ../packages/ipex-benchmarks/package.nix {
        inherit (final.intel-xpu) xpu-testkit;
      };
    };
}
