# ComfyUI on PyTorch XPU: nixpkgs' comfyui (pkgs/by-name/co/comfyui/package.nix) called with
# MordragT's intel-python (python313 whose torch is built with XPU; ComfyUI runs on upstream
# torch.xpu, no IPEX) as its `python3`. Everything else (source, patch, dependency list, wrapper,
# checks) is nixpkgs' own.
#
# The overlay wraps this function in lib.makeOverridable, so `.override` takes nixpkgs' comfyui
# arguments (`withManager`, `python3`, ...), passed on to nixpkgs' package, plus `extraPackages`
# (ps: [ ... ]), Python packages for custom nodes added to the environment.
{
  lib,
  comfyui,
  python3,
  extraPackages ? (_: [ ]),
  ...
}@args:
let
  # nixpkgs' comfyui rebuilds torch and triton for CUDA through python3.override's
  # packageOverrides; MordragT's XPU torch takes no cudaPackages, so that override is left out
  # and intel-python keeps its own package set.
  xpuPython = python3 // {
    override = change: python3.override (old: removeAttrs (lib.toFunction change old) [ "packageOverrides" ]);
  };

  base = comfyui.override (
    removeAttrs args [
      "comfyui"
      "extraPackages"
    ]
    // {
      python3 = xpuPython;
    }
  );

  extras = extraPackages base.python.pkgs;
  pythonEnv =
    if extras == [ ] then
      base.pythonEnv
    else
      base.pythonEnv.override (old: {
        extraLibs = old.extraLibs ++ extras;
      });
  # nixpkgs' phases name its pythonEnv: the wrapper runs it, the install check resolves
  # requirements.txt in it; both take the one with the extra packages
  withExtras = builtins.replaceStrings [ "${base.pythonEnv}" ] [ "${pythonEnv}" ];
in
base.overrideAttrs (old: {
  pname = "comfyui-xpu";

  installPhase = withExtras old.installPhase;
  installCheckPhase = withExtras old.installCheckPhase;

  # the build machine has no Intel GPU: nixpkgs' checks run on the CPU; this one checks the build
  postInstallCheck = (old.postInstallCheck or "") + ''
    ${lib.getExe pythonEnv} -c 'import torch; assert hasattr(torch, "xpu"), "torch without XPU"'
  '';

  passthru =
    old.passthru
    // {
      inherit pythonEnv;
    }
    # nixpkgs' test builds its own CUDA comfyui with the manager: this package's instead
    // lib.optionalAttrs (old.passthru ? tests.withManager) {
      tests = old.passthru.tests // {
        withManager = import ./package.nix (args // { withManager = true; });
      };
    };

  meta = old.meta // {
    description = "ComfyUI on PyTorch XPU (Intel GPUs)";
  };
})
