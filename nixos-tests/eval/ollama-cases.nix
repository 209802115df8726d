# Evaluation cases for modules/nixos/ollama.nix on top of nixpkgs' services.ollama (the real file).
{ harness, lib, ... }:
let
  module = ../../modules/nixos/ollama.nix;
  ollama = intel: [
    module
    {
      services.ollama.enable = true;
      services.ollama.intel = { enable = true; } // intel;
    }
  ];
  # nixpkgs' ollama unit as services.ollama.intel leaves it: DRM devices only, the video group,
  # after the render node's device unit; MemoryDenyWriteExecute off for the JIT-compiling backends
  intelUnit =
    { jit }:
    {
      wants = [ "dev-dri-intel-render.device" ];
      after = [
        "dev-dri-intel-render.device"
        "network.target"
      ];
      serviceConfig = {
        DeviceAllow = [ "char-drm" ];
        DevicePolicy = "closed";
        DynamicUser = true;
        MemoryDenyWriteExecute = !jit;
        PrivateDevices = false;
        SupplementaryGroups = [
          "render"
          "video"
        ];
      };
    };
  # what the retired backends warn
  retired = {
    sycl = ''
      services.ollama.intel.backend = "sycl" is retired: MordragT's ollama-sycl is Ollama 0.3.10
      from 2024, and no current Ollama has a SYCL engine. For SYCL on Intel use the NixOS option
      services.llama-cpp.intel with backend = "sycl" (MordragT's current llama.cpp); for Ollama,
      the default backend = "vulkan".
    '';
    ipex-llm = ''
      services.ollama.intel.backend = "ipex-llm" is retired: Intel has archived IPEX-LLM, so its
      Ollama gets no more fixes. Use the default backend = "vulkan" (nixpkgs' ollama-vulkan), or,
      for SYCL, the NixOS option services.llama-cpp.intel with backend = "sycl".
    '';
  };
in
{
  vulkan-by-default = {
    result = harness { modules = ollama { }; };
    expect = {
      ollamaPackage = "ollama-vulkan";
      ollamaEnvironment = {
        OLLAMA_VULKAN = "1";
        ZES_ENABLE_SYSMAN = "1";
      };
      graphics = true;
      failedAssertions = [ ];
      warnings = [ ];
      ollamaUnit = intelUnit { jit = false; };
    };
  };
  sycl-turns-off-mdwe = {
    result = harness {
      modules = ollama {
        backend = "sycl";
        device = "level_zero:0";
        igpu = true;
      };
    };
    expect = {
      ollamaPackage = "ollama-sycl";
      ollamaEnvironment = {
        ONEAPI_DEVICE_SELECTOR = "level_zero:0";
        OLLAMA_IGPU_ENABLE = "1";
        ZES_ENABLE_SYSMAN = "1";
      };
      failedAssertions = [ ];
      # retired, still working
      warnings = [ retired.sycl ];
      ollamaUnit = intelUnit { jit = true; };
    };
  };
  ipex-llm = {
    result = harness { modules = ollama { backend = "ipex-llm"; }; };
    expect = {
      ollamaPackage = "ollama-ipex-llm";
      ollamaEnvironment.ZES_ENABLE_SYSMAN = "1";
      failedAssertions = [ ];
      warnings = [ retired.ipex-llm ];
      ollamaUnit = intelUnit { jit = true; };
    };
  };
  device-without-sycl = {
    result = harness { modules = ollama { device = "level_zero:1"; }; };
    expect.failedAssertions = [
      "services.ollama.intel.device sets ONEAPI_DEVICE_SELECTOR, which only the SYCL backends (sycl, ipex-llm) read: remove it or pick one of them."
    ];
  };
  vulkan-without-ollama-vulkan = {
    result = harness {
      ollamaBackends = false;
      modules = ollama { };
    };
    expect = {
      ollamaPackage = "ollama";
      failedAssertions = [
        "services.ollama.intel.backend = \"vulkan\" needs pkgs.ollama-vulkan, which this nixpkgs lacks: update the nixpkgs input."
      ];
    };
  };
  ipex-llm-without-the-overlay = {
    result = harness {
      ollamaBackends = false;
      modules = ollama { backend = "ipex-llm"; };
    };
    expect.failedAssertions = [
      "services.ollama.intel.backend = \"ipex-llm\" needs pkgs.intel-xpu.ollama-ipex-llm: add this flake's overlay (nixpkgs.overlays = [ intel-xpu.overlays.default ]) and allow it as unfree."
    ];
  };
  # nixpkgs before late 2025: `acceleration` a real option (stand-ins/old-nixpkgs-ollama.nix)
  old-nixpkgs-with-acceleration = {
    result = harness {
      ollamaModule = ./stand-ins/old-nixpkgs-ollama.nix;
      modules = ollama { };
    };
    expect.failedAssertions = [
      ''
        services.ollama.intel needs a nixpkgs whose services.ollama chooses the backend by package
        (no `services.ollama.acceleration` option; nixos-unstable from late 2025). Update the nixpkgs input.
      ''
    ];
  };
  # current nixpkgs (the real file) declares `acceleration` only as a removed option: setting
  # it is nixpkgs' own error, not ours
  acceleration-set-on-current-nixpkgs = {
    result = harness { modules = ollama { } ++ [ { services.ollama.acceleration = "rocm"; } ]; };
    expect.failedAssertions = [
      ''
        The option definition `services.ollama.acceleration' in `<unknown-file>' no longer has any effect; please remove it.
        Set `services.ollama.package` to one of `pkgs.ollama[,-vulkan,-rocm,-cuda,-cpu]` instead.
      ''
    ];
  };
  intel-off-leaves-nixpkgs-alone = {
    result = harness {
      modules = [
        module
        { services.ollama.enable = true; }
      ];
    };
    expect = {
      ollamaPackage = "ollama";
      ollamaEnvironment = { };
      graphics = false;
      ollamaUnit = {
        wants = [ ];
        after = [ "network.target" ];
        serviceConfig = {
          DeviceAllow = [
            "/dev/dxg"
            "char-drm"
            "char-fb"
            "char-kfd"
            "char-nvidia-caps"
            "char-nvidia-frontend"
            "char-nvidia-uvm"
            "char-nvidiactl"
          ];
          DevicePolicy = "closed";
          DynamicUser = true;
          MemoryDenyWriteExecute = true;
          PrivateDevices = false;
          SupplementaryGroups = [ "render" ];
        };
      };
    };
  };
}
