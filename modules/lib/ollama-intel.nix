# What `services.ollama.intel` means, shared by the NixOS module (modules/nixos/ollama.nix) and
# the Home Manager module (modules/home-manager/ollama.nix): the options, the package each backend
# uses, the message when it is missing, the warning for a retired one, and the environment it needs.
{ lib, pkgs }:
let
  inherit (lib) types;
in
rec {
  options = {
    enable = lib.mkEnableOption "Intel GPU acceleration for {option}`services.ollama`";

    backend = lib.mkOption {
      type = types.enum [
        "vulkan"
        "sycl"
        "ipex-llm"
      ];
      default = "vulkan";
      description = ''
        `vulkan`: nixpkgs' ollama-vulkan, built by Hydra. Retired, still working, with a warning:
        `sycl`, MordragT's ollama-sycl (Ollama 0.3.10 on oneAPI, from 2024; current Ollama has no
        SYCL engine), and `ipex-llm`, Intel's IPEX-LLM Ollama (unfree oneAPI runtime; IPEX-LLM is
        archived). For SYCL on Intel use the NixOS option `services.llama-cpp.intel` with
        `backend = "sycl"`, and compare it with this one with `xpu bench`.
      '';
    };

    device = lib.mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "level_zero:0";
      description = "ONEAPI_DEVICE_SELECTOR for the SYCL backends, e.g. to pick the discrete GPU over an iGPU.";
    };

    igpu = lib.mkOption {
      type = types.bool;
      default = false;
      description = "Let Ollama use an integrated GPU (OLLAMA_IGPU_ENABLE=1); Ollama drops iGPUs otherwise.";
    };
  };

  packages = {
    # nixpkgs' Vulkan build: no local build, the default.
    vulkan = pkgs.ollama-vulkan or null;
    # MordragT's SYCL build (Ollama 0.3.10 on oneAPI), brought by this flake's overlay
    # (overlays/mordrag.nix).
    sycl = pkgs.intel-xpu.ollama-sycl or null;
    # Intel's IPEX-LLM build (an older Ollama on SYCL; IPEX-LLM is archived), from PyPI wheels:
    # this flake's overlay.
    ipex-llm = pkgs.intel-xpu.ollama-ipex-llm or null;
  };

  # The retired backends keep working, with a warning naming what replaces them.
  warnings =
    cfg:
    lib.optional (cfg.backend == "sycl") ''
      services.ollama.intel.backend = "sycl" is retired: MordragT's ollama-sycl is Ollama 0.3.10
      from 2024, and no current Ollama has a SYCL engine. For SYCL on Intel use the NixOS option
      services.llama-cpp.intel with backend = "sycl" (MordragT's current llama.cpp); for Ollama,
      the default backend = "vulkan".
    ''
    ++ lib.optional (cfg.backend == "ipex-llm") ''
      services.ollama.intel.backend = "ipex-llm" is retired: Intel has archived IPEX-LLM, so its
      Ollama gets no more fixes. Use the default backend = "vulkan" (nixpkgs' ollama-vulkan), or,
      for SYCL, the NixOS option services.llama-cpp.intel with backend = "sycl".
    '';

  # Backends that compile GPU and CPU code at run time (SYCL through IGC and oneDNN's JIT) need
  # writable+executable memory.
  jit = cfg: cfg.backend != "vulkan";

  assertions = cfg: [
    {
      assertion = packages.${cfg.backend} != null;
      message =
        if cfg.backend == "ipex-llm" then
          "services.ollama.intel.backend = \"ipex-llm\" needs pkgs.intel-xpu.ollama-ipex-llm: add this flake's overlay (nixpkgs.overlays = [ intel-xpu.overlays.default ]) and allow it as unfree."
        else if cfg.backend == "sycl" then
          "services.ollama.intel.backend = \"sycl\" needs pkgs.intel-xpu.ollama-sycl (MordragT's ollama-sycl): add this flake's overlay (nixpkgs.overlays = [ intel-xpu.overlays.default ]); if it is there, the pinned MordragT flake no longer provides packages.<system>.ollama-sycl: update the mordrag input or use backend = \"vulkan\"."
        else
          "services.ollama.intel.backend = \"vulkan\" needs pkgs.ollama-vulkan, which this nixpkgs lacks: update the nixpkgs input.";
    }
    {
      assertion = cfg.device == null || cfg.backend != "vulkan";
      message = "services.ollama.intel.device sets ONEAPI_DEVICE_SELECTOR, which only the SYCL backends (sycl, ipex-llm) read: remove it or pick one of them.";
    }
  ];

  environment =
    cfg:
    {
      ZES_ENABLE_SYSMAN = "1";
    }
    // lib.optionalAttrs (cfg.backend == "vulkan") { OLLAMA_VULKAN = "1"; }
    // lib.optionalAttrs cfg.igpu { OLLAMA_IGPU_ENABLE = "1"; }
    // lib.optionalAttrs (cfg.device != null) { ONEAPI_DEVICE_SELECTOR = cfg.device; };
}
