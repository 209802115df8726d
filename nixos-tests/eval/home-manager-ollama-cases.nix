# Evaluation cases for modules/home-manager/ollama.nix on top of Home Manager's services.ollama
# (the real file; the rest of Home Manager as typed stand-ins: home-manager-stand-ins.nix).
{
  lib,
  upstream,
  ...
}:
let
  homeManager = import ./home-manager-stand-ins.nix { inherit lib; };
  inherit (homeManager) drv;
  evalHome =
    {
      settings,
      overlay ? true,
    }:
    let
      config = homeManager.evalConfig {
        modules = [
          upstream.homeManager.ollama
          ../../modules/home-manager/ollama.nix
          { services.ollama.enable = true; }
          settings
        ];
        pkgs = {
          ollama = drv "ollama";
          ollama-vulkan = drv "ollama-vulkan";
        }
        // lib.optionalAttrs overlay {
          intel-xpu.ollama-ipex-llm = drv "ollama-ipex-llm";
          intel-xpu.ollama-sycl = drv "ollama-sycl";
        };
      };
    in
    {
      package = config.services.ollama.package.name;
      environment = config.services.ollama.environmentVariables;
      session = config.home.sessionVariables;
      # Home Manager's user unit runs the package it picks (ExecStart is a list: its type applies toList)
      execStart = config.systemd.user.services.ollama.Service.ExecStart or null;
      failedAssertions = map (a: a.message) (lib.filter (a: !a.assertion) config.assertions);
      inherit (config) warnings;
    };
in
{
  vulkan-by-default = {
    result = evalHome { settings.services.ollama.intel.enable = true; };
    expect = {
      package = "ollama-vulkan";
      execStart = [ "/nix/store/00000000000000000000000000000000-ollama-vulkan/bin/ollama-vulkan serve" ];
      environment = {
        OLLAMA_VULKAN = "1";
        ZES_ENABLE_SYSMAN = "1";
      };
      session.ZES_ENABLE_SYSMAN = "1";
      failedAssertions = [ ];
      warnings = [ ];
    };
  };
  ipex-llm-with-a-device = {
    result = evalHome {
      settings.services.ollama.intel = {
        enable = true;
        backend = "ipex-llm";
        device = "level_zero:0";
      };
    };
    expect = {
      package = "ollama-ipex-llm";
      environment = {
        ONEAPI_DEVICE_SELECTOR = "level_zero:0";
        ZES_ENABLE_SYSMAN = "1";
      };
      failedAssertions = [ ];
      # retired, still working: the same warning as the NixOS module's
      warnings = [
        ''
          services.ollama.intel.backend = "ipex-llm" is retired: Intel has archived IPEX-LLM, so its
          Ollama gets no more fixes. Use the default backend = "vulkan" (nixpkgs' ollama-vulkan), or,
          for SYCL, the NixOS option services.llama-cpp.intel with backend = "sycl".
        ''
      ];
    };
  };
  off-leaves-home-managers-ollama-alone = {
    result = evalHome { settings = { }; };
    expect = {
      package = "ollama";
      environment = { };
      session = { };
      failedAssertions = [ ];
    };
  };
  acceleration-conflicts = {
    result = evalHome {
      settings.services.ollama = {
        intel.enable = true;
        acceleration = "rocm";
      };
    };
    expect.failedAssertions = [
      "services.ollama.intel picks the Ollama package, but services.ollama.acceleration = \"rocm\" makes Home Manager rebuild it for another GPU: remove services.ollama.acceleration."
    ];
  };
  sycl-without-the-overlay = {
    result = evalHome {
      overlay = false;
      settings.services.ollama.intel = {
        enable = true;
        backend = "sycl";
      };
    };
    expect = {
      package = "ollama";
      warnings = [
        ''
          services.ollama.intel.backend = "sycl" is retired: MordragT's ollama-sycl is Ollama 0.3.10
          from 2024, and no current Ollama has a SYCL engine. For SYCL on Intel use the NixOS option
          services.llama-cpp.intel with backend = "sycl" (MordragT's current llama.cpp); for Ollama,
          the default backend = "vulkan".
        ''
      ];
      failedAssertions = [
        "services.ollama.intel.backend = \"sycl\" needs pkgs.intel-xpu.ollama-sycl (MordragT's ollama-sycl): add this flake's overlay (nixpkgs.overlays = [ intel-xpu.overlays.default ]); if it is there, the pinned MordragT flake no longer provides packages.<system>.ollama-sycl: update the mordrag input or use backend = \"vulkan\"."
      ];
    };
  };
}
