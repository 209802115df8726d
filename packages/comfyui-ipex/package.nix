# ComfyUI on PyTorch XPU: nixpkgs' comfyui (its source, patch, wrapper and checks) with the Python
# environment built from MordragT's intel-python (python313 whose torch is built with XPU; IPEX is
# not used: ComfyUI runs on upstream torch.xpu) instead of nixpkgs' CUDA-overridden python3.
# The dependency list is nixpkgs' appDependencies (pkgs/by-name/co/comfyui/package.nix, 0.34.1).
# Limitation: services.comfyui.extraPackages re-calls nixpkgs' function and does not reach this
# environment; add custom-node dependencies with `.override { extraDependencies = ps: [ ... ]; }`.
{
  lib,
  comfyui,
  intel-python,
  makeBinaryWrapper,
  extraDependencies ? (_: [ ]),
}:
let
  appDependencies =
    ps:
    with ps;
    [
      aiohttp
      alembic
      av
      blake3
      comfy-aimdo
      comfy-angle
      comfy-kitchen
      comfyui-embedded-docs
      comfyui-frontend-package
      comfyui-workflow-templates
      einops
      filelock
      kornia
      numpy
      pillow
      psutil
      pydantic
      pydantic-settings
      pyopengl
      pyyaml
      requests
      safetensors
      scipy
      sentencepiece
      simpleeval
      spandrel
      sqlalchemy
      tokenizers
      torch
      torchaudio
      torchsde
      torchvision
      tqdm
      transformers
      yarl
    ]
    ++ extraDependencies ps;

  pythonEnv = intel-python.withPackages appDependencies;
in
comfyui.overrideAttrs (old: {
  pname = "comfyui-xpu";

  nativeBuildInputs = [ makeBinaryWrapper ];

  installPhase = ''
    runHook preInstall

    mkdir -p $out/share/comfyui $out/bin
    cp -r . $out/share/comfyui

    makeBinaryWrapper ${lib.getExe pythonEnv} $out/bin/comfyui \
      --add-flag "$out/share/comfyui/main.py" \
      --unset NIX_PYTHONPATH \
      --unset PYTHONPATH

    runHook postInstall
  '';

  # the build machine has no Intel GPU: ComfyUI's own CI smoke test, on the CPU
  installCheckPhase = ''
    runHook preInstallCheck

    "$out"/bin/comfyui --help
    export XDG_DATA_HOME="$(mktemp -d)"
    "$out"/bin/comfyui --cpu --quick-test-for-ci
    ${lib.getExe pythonEnv} -c 'import torch; assert hasattr(torch, "xpu"), "torch without XPU"'

    runHook postInstallCheck
  '';

  passthru = (old.passthru or { }) // {
    python = intel-python;
    inherit pythonEnv;
  };

  meta = old.meta // {
    description = "ComfyUI on PyTorch XPU (Intel GPUs)";
  };
})
