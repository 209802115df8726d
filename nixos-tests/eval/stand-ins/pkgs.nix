# The package set the evaluation cases run with: derivation-shaped attribute sets (nothing is
# built), nixpkgs' comfyui as a stand-in of its package function (nixpkgs-comfyui.nix) with
# fake Pythons, and this flake's real overlays/mordrag.nix applied to a stand-in of MordragT's
# flake outputs, so pkgs.intel-xpu.comfyui is packages/comfyui-ipex/package.nix for real (and
# pkgs.intel-xpu.llama-cpp-sycl MordragT's packages.<system>.llama-cpp-sycl through it).
# pkgs.intel-xpu is what the overlay makes of this flake's own packages: what MordragT's flake
# lacks is null there, as with the real overlay.
{ lib }:
args@{
  driversOutput ? true,
  # false: a MordragT flake without intel-python (no pkgs.intel-xpu.python, comfyui)
  comfyuiXpu ? true,
  # false: a MordragT flake without intel-sycl (no pkgs.intel-xpu.sycl-tools)
  syclTools ? true,
  # false: a nixpkgs without ollama-vulkan, a MordragT flake without ollama-sycl, no ollama-ipex-llm
  ollamaBackends ? true,
  # false: a nixpkgs without llama-cpp-vulkan and a MordragT flake without llama-cpp-sycl
  llamaCppBackends ? true,
  # MordragT's flake as overlays/mordrag.nix reads it; by default the stand-in below, shaped by
  # the flags (a case may give one whose outputs throw: the overlay must not read them unasked)
  mordrag ? null,
}:
let
  drv =
    name: extra:
    {
      type = "derivation";
      inherit name;
      outPath = "/nix/store/00000000000000000000000000000000-${name}";
      outputs = [ "out" ];
    }
    // extra;

  # stdenv.mkDerivation's shape: finalAttrs, overrideAttrs (prev: ... or final: prev: ...)
  mkDerivation =
    f:
    let
      attrs = lib.fix (lib.toFunction f);
    in
    drv "${attrs.pname}-${attrs.version}" (attrs // attrs.passthru or { })
    // {
      overrideAttrs =
        g:
        mkDerivation (
          final:
          let
            prev = lib.toFunction f final;
          in
          prev // lib.toExtension g final prev
        );
    };

  # python3's shape: override { self, packageOverrides } (a makeOverridable function, so
  # overrides compose), pkgs, withPackages (a python env whose extraLibs can be overridden)
  mkPython =
    name: packages:
    lib.makeOverridable (
      {
        self ? null,
        packageOverrides ? (_: _: { }),
      }:
      let
        pkgs = lib.fix (lib.extends packageOverrides packages);
      in
      drv name { meta.mainProgram = "python3"; }
      // {
        inherit pkgs;
        sitePackages = "lib/python3.13/site-packages";
        withPackages =
          f:
          lib.makeOverridable (
            { extraLibs }:
            drv "${name}-env" {
              inherit extraLibs;
              meta.mainProgram = "python3";
              # another package list, another store path
              outPath = "/nix/store/${
                builtins.hashString "sha1" (lib.concatMapStrings (p: p.name) extraLibs)
              }-${name}-env";
            }
          ) { extraLibs = f pkgs; };
      }
    ) { };

  pythonPackages =
    torch: _:
    lib.genAttrs [
      "pillow"
      "torchvision"
      "comfyui-manager"
      "comfyui-gguf-deps"
      "pip"
    ] (n: drv "python3.13-${n}" { meta.mainProgram = n; })
    // torch;
  # nixpkgs' torch and triton take cudaPackages
  cudaCapable = name: lib.makeOverridable ({ cudaPackages ? null }: drv "python3.13-${name}" { }) { };
  # MordragT's XPU torch has no such argument
  xpuOnly = name: lib.makeOverridable ({ }: drv "python3.13-${name}-xpu" { }) { };

  nixpkgs = lib.fix (self: {
    inherit lib;
    callPackage = lib.callPackageWith self;
    stdenvNoCC.mkDerivation = mkDerivation;
    fetchFromGitHub = args: drv "source" { };
    makeBinaryWrapper = drv "make-binary-wrapper-hook" { };
    cudaPackages_13 = { };
    python3 = mkPython "python3" (pythonPackages {
      torch = cudaCapable "torch";
      triton = cudaCapable "triton";
    });
    comfyui = self.callPackage ./nixpkgs-comfyui.nix { };
  });

  # MordragT's flake outputs as overlays/mordrag.nix reads them
  standInMordrag.packages.x86_64-linux =
    lib.optionalAttrs llamaCppBackends {
      llama-cpp-sycl = drv "llama-cpp-sycl" { meta.mainProgram = "llama"; };
    }
    // lib.optionalAttrs ollamaBackends {
      ollama-sycl = drv "ollama-sycl" { meta.mainProgram = "ollama"; };
    };
  standInMordrag.legacyPackages.x86_64-linux =
    lib.optionalAttrs comfyuiXpu {
      intel-python = mkPython "intel-python3" (pythonPackages {
        torch = xpuOnly "torch";
        triton = xpuOnly "triton";
      });
    }
    // lib.optionalAttrs syclTools { intel-sycl.llvm = drv "intel-llvm" { }; };
  # `args.mordrag or`, not a comparison with null: a throwing stand-in must stay unread
  mordrag = args.mordrag or standInMordrag;

  final = {
    inherit lib;
    stdenv.hostPlatform.system = "x86_64-linux";
  };
  # this flake's own part of pkgs.intel-xpu (overlays/intel-xpu.nix), as derivations' shapes
  ours = {
    xpu-tool = drv "xpu-tool" { meta.mainProgram = "xpu"; };
    xpu-testkit = drv "xpu-testkit" { meta.mainProgram = "xpu"; };
  }
  // lib.optionalAttrs ollamaBackends {
    ollama-ipex-llm = drv "ollama-ipex-llm" { meta.mainProgram = "ollama"; };
  };
  mordragOverlay = (import ../../../overlays/mordrag.nix mordrag) final {
    inherit (nixpkgs) comfyui;
    intel-xpu = ours;
  };
in
{
  inherit (nixpkgs) comfyui;
  intel-compute-runtime = drv "intel-compute-runtime" (
    lib.optionalAttrs driversOutput {
      outputs = [
        "out"
        "drivers"
      ];
      drivers = drv "intel-compute-runtime-drivers" { };
    }
  );
  intel-compute-runtime-legacy1 = drv "intel-compute-runtime-legacy1" { };
  intel-media-driver = drv "intel-media-driver" { };
  intel-media-sdk = drv "intel-media-sdk" { };
  intel-vaapi-driver = lib.makeOverridable (
    { enableHybridCodec ? false }: drv "intel-vaapi-driver" { }
  ) { };
  intel-ocl = drv "intel-ocl" { };
  driversi686Linux = {
    intel-vaapi-driver = lib.makeOverridable (
      { enableHybridCodec ? false }: drv "intel-vaapi-driver-i686" { }
    ) { };
    intel-media-driver = drv "intel-media-driver-i686" { };
  };
  vpl-gpu-rt = drv "vpl-gpu-rt" { };
  clinfo = drv "clinfo" { };
  vulkan-tools = drv "vulkan-tools" { };
  level-zero = drv "level-zero" { };
  intel-gpu-tools = drv "intel-gpu-tools" { };
  ollama = drv "ollama" { meta.mainProgram = "ollama"; };
  llama-cpp = drv "llama-cpp" { meta.mainProgram = "llama"; };
  bash = drv "bash" { };
  coreutils = drv "coreutils" { };
  linuxPackages_latest.kernel.version = "6.17.1";
  # trivial-builders.nix: the text is `#!${runtimeShell}`, a newline, the script and a newline
  writeShellScript =
    name: text:
    drv name {
      text = "#!/nix/store/00000000000000000000000000000000-bash/bin/bash\n${text}\n";
    };
}
// lib.optionalAttrs ollamaBackends {
  ollama-vulkan = drv "ollama-vulkan" { meta.mainProgram = "ollama"; };
}
// lib.optionalAttrs llamaCppBackends {
  llama-cpp-vulkan = drv "llama-cpp-vulkan" { meta.mainProgram = "llama"; };
}
// {
  inherit (mordragOverlay) intel-xpu;
}
