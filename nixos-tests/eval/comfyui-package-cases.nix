# Evaluation cases for packages/comfyui-ipex (pkgs.intel-xpu.comfyui, through overlays/mordrag.nix)
# on a stand-in of nixpkgs' comfyui package function with its real argument list
# (stand-ins/nixpkgs-comfyui.nix): services.comfyui treats the package as nixpkgs' own, so it
# must take nixpkgs' arguments in `.override`. How nixpkgs' module uses it (getExe, share/comfyui)
# is in comfyui-cases.nix, on the real module file.
{ lib, ... }:
let
  pkgs = import ./stand-ins/pkgs.nix { inherit lib; } { };
  describe = package: {
    name = package.name;
    mainProgram = package.meta.mainProgram;
    python = package.python.name;
    pythonLibs = map (p: p.name) package.pythonEnv.extraLibs;
    # nixpkgs' installPhase wraps main.py with the environment's interpreter
    wrapsItsEnvironment = lib.hasInfix "${package.pythonEnv}/bin/python3" package.installPhase;
    # and its install check resolves requirements.txt in that environment
    installChecksItsEnvironment = lib.hasInfix "PYTHONPATH=${package.pythonEnv}/" package.installCheckPhase;
    checksTorchXpu = lib.hasInfix "hasattr(torch, \"xpu\")" package.postInstallCheck;
  };
  xpuLibs = [
    "python3.13-pillow"
    "python3.13-torch-xpu"
    "python3.13-torchvision"
  ];
in
{
  nixpkgs-comfyui-on-xpu-torch = {
    result = describe pkgs.intel-xpu.comfyui;
    expect = {
      name = "comfyui-xpu-0.34.1";
      mainProgram = "comfyui";
      python = "intel-python3";
      pythonLibs = xpuLibs;
      wrapsItsEnvironment = true;
      installChecksItsEnvironment = true;
      checksTorchXpu = true;
    };
  };
  # nixpkgs' passthru test (withManager) is the XPU package with the manager, not nixpkgs' CUDA one
  passthru-test-is-this-package = {
    result = describe pkgs.intel-xpu.comfyui.tests.withManager;
    expect = {
      name = "comfyui-xpu-0.34.1";
      python = "intel-python3";
      pythonLibs = xpuLibs ++ [ "python3.13-comfyui-manager" ];
    };
  };
  # the stand-in takes nixpkgs' CUDA path for its own python3, so the case above shows the
  # package really swaps the interpreter and keeps MordragT's torch
  nixpkgs-own-comfyui-has-cuda-torch = {
    result.pythonLibs = (describe pkgs.comfyui).pythonLibs;
    expect.pythonLibs = [
      "python3.13-pillow"
      "python3.13-torch"
      "python3.13-torchvision"
    ];
  };
  nixpkgs-arguments-pass-through = {
    result = describe (pkgs.intel-xpu.comfyui.override { withManager = true; });
    expect = {
      name = "comfyui-xpu-0.34.1";
      pythonLibs = xpuLibs ++ [ "python3.13-comfyui-manager" ];
      wrapsItsEnvironment = true;
    };
  };
  override-with-a-function = {
    result = describe (
      pkgs.intel-xpu.comfyui.override (old: {
        withManager = !(old.withManager or false);
      })
    );
    expect.pythonLibs = xpuLibs ++ [ "python3.13-comfyui-manager" ];
  };
  extra-packages-for-custom-nodes = {
    result = describe (
      pkgs.intel-xpu.comfyui.override {
        extraPackages = ps: [ ps.comfyui-gguf-deps ];
      }
    );
    expect = {
      pythonLibs = xpuLibs ++ [ "python3.13-comfyui-gguf-deps" ];
      wrapsItsEnvironment = true;
      installChecksItsEnvironment = true;
      checksTorchXpu = true;
    };
  };
}
