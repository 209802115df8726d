# A stand-in of nixpkgs' comfyui package function (pkgs/by-name/co/comfyui/package.nix, read at
# NixOS/nixpkgs 05e3304): the same arguments, the same python3.override with CUDA
# packageOverrides for torch and triton, the same pythonEnv interpolated into installPhase, the
# same pythonEnv in installCheckPhase, the
# same passthru. Only a few of its dependencies are named (the list is nixpkgs' business).
{
  lib,
  callPackage,
  cudaPackages_13,
  fetchFromGitHub,
  makeBinaryWrapper,
  python3,
  stdenvNoCC,
  withManager ? false,
}:
let
  python = python3.override {
    self = python;
    packageOverrides = final: prev: {
      torch = prev.torch.override { cudaPackages = cudaPackages_13; };
      triton = prev.triton.override { cudaPackages = cudaPackages_13; };
    };
  };
  appDependencies =
    ps:
    [
      ps.pillow
      ps.torch
      ps.torchvision
    ]
    ++ lib.optionals withManager [ ps.comfyui-manager ];
  pythonEnv = python.withPackages appDependencies;
in
stdenvNoCC.mkDerivation (finalAttrs: {
  pname = "comfyui";
  version = "0.34.1";
  src = fetchFromGitHub {
    owner = "Comfy-Org";
    repo = "ComfyUI";
    tag = "v${finalAttrs.version}";
  };
  nativeBuildInputs = [ makeBinaryWrapper ];
  installPhase = ''
    makeBinaryWrapper ${lib.getExe pythonEnv} $out/bin/comfyui --add-flag "$out/share/comfyui/main.py"
  '';
  doInstallCheck = true;
  installCheckPhase = ''
    runHook preInstallCheck
    PYTHONPATH=${pythonEnv}/${python.sitePackages} ${lib.getExe python.pkgs.pip} install --break-system-packages --dry-run --no-index -r requirements.txt
    "$out"/bin/comfyui --cpu --quick-test-for-ci
    runHook postInstallCheck
  '';
  passthru = {
    inherit python pythonEnv;
  }
  // lib.optionalAttrs (!withManager) {
    tests.withManager = callPackage ./nixpkgs-comfyui.nix { withManager = true; };
  };
  meta = {
    mainProgram = "comfyui";
    maintainers = [ ];
  };
})
