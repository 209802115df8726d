# Evaluation cases for modules/nixos/intel-gpu.nix: each evaluates the module with a configuration
# and names what must come out (only the keys given in `expect` are compared).
{
  harness,
  lib,
  upstream,
  ...
}:
let
  module = ../../modules/nixos/intel-gpu.nix;
  enabled = cfg: [
    module
    { hardware.intel-xpu = { enable = true; } // cfg; }
  ];
  # Intel render nodes get a systemd device unit (hardware.intel-xpu.renderNodeUnit) through
  # this link; no unit polls for them
  renderNodeRule = ''SUBSYSTEM=="drm", KERNEL=="renderD*", ATTRS{vendor}=="0x8086", TAG+="systemd", SYMLINK+="dri/intel/render"'';
in
{
  defaults = {
    result = harness { modules = enabled { }; };
    expect = {
      graphics = true;
      extraPackages = [
        "intel-compute-runtime"
        "intel-compute-runtime-drivers"
        "intel-media-driver"
        "vpl-gpu-rt"
      ];
      kernelParams = [ ];
      sessionVariables.ZES_ENABLE_SYSMAN = "1";
      systemPackages = [
        "clinfo"
        "level-zero"
        "intel-gpu-tools"
        "xpu-tool"
      ];
      failedAssertions = [ ];
      udevRules = [ renderNodeRule ];
      units = { };
    };
  };
  nixpkgs-without-drivers-output = {
    result = harness {
      driversOutput = false;
      modules = enabled { media = false; };
    };
    expect.extraPackages = [ "intel-compute-runtime" ];
  };
  xe-force-probe = {
    result = harness {
      modules = enabled {
        driver = "xe";
        forceProbe = [
          "e20b"
          "e20c"
        ];
      };
    };
    expect.kernelParams = [
      "i915.force_probe=!e20b,!e20c"
      "xe.force_probe=e20b,e20c"
    ];
  };
  i915-force-probe = {
    result = harness {
      modules = enabled { forceProbe = [ "7d55" ]; };
    };
    expect.kernelParams = [ "i915.force_probe=7d55" ];
  };
  render-groups = {
    result = harness {
      modules = enabled {
        users = [
          "alice"
          "bob"
        ];
        sysman = false;
        tools = false;
      };
    };
    expect = {
      users = {
        alice = [
          "render"
          "video"
        ];
        bob = [
          "render"
          "video"
        ];
      };
      sessionVariables = { };
      systemPackages = [ ];
    };
  };
  legacy-runtime = {
    result = harness { modules = enabled { computeRuntime = "legacy"; }; };
    expect.extraPackages = [
      "intel-compute-runtime-legacy1"
      "intel-media-driver"
      "vpl-gpu-rt"
    ];
  };
  xe-on-an-old-kernel = {
    result = harness {
      kernelVersion = "6.6.30";
      modules = enabled { driver = "xe"; };
    };
    expect.failedAssertions = [
      ''
        hardware.intel-xpu.driver = "xe" needs Linux 6.8 or newer, but this system boots 6.6.30.
        Set boot.kernelPackages = pkgs.linuxPackages_latest, or use driver = "i915" (GPUs before Lunar Lake and Battlemage).
      ''
    ];
  };
  legacy-with-xe = {
    result = harness { modules = enabled { driver = "xe"; computeRuntime = "legacy"; }; };
    expect.failedAssertions = [
      ''
        hardware.intel-xpu.computeRuntime = "legacy" is for Gen8-Gen11 GPUs, which only i915 drives.
        Set hardware.intel-xpu.driver = "i915", or computeRuntime = "default" for a Gen12+ GPU.
      ''
    ];
  };
  disagrees-with-nixos-hardware = {
    result = harness {
      modules = enabled { driver = "xe"; } ++ [
        upstream.nixosHardware.intelGpu
        { hardware.intelgpu.driver = "i915"; }
      ];
    };
    expect.failedAssertions = [
      ''
        hardware.intel-xpu.driver = "xe" but nixos-hardware's hardware.intelgpu.driver = "i915".
        Set both to the same driver.
      ''
    ];
  };
  runtime-disagrees-with-nixos-hardware = {
    result = harness {
      modules = enabled {
        driver = "i915";
        computeRuntime = "legacy";
      }
      ++ [
        upstream.nixosHardware.intelGpu
        { hardware.intelgpu.driver = "i915"; }
      ];
    };
    expect.failedAssertions = [
      ''
        hardware.intel-xpu.computeRuntime = "legacy" but nixos-hardware's hardware.intelgpu.computeRuntime = "default": both runtimes would be installed.
        Set both to the same runtime.
      ''
    ];
  };
  # nixos-hardware's common/gpu/intel (the real file) choosing the same driver
  agrees-with-nixos-hardware = {
    result = harness {
      modules = enabled { driver = "xe"; } ++ [
        upstream.nixosHardware.intelGpu
        { hardware.intelgpu.driver = "xe"; }
      ];
    };
    expect.failedAssertions = [ ];
  };
  disabled = {
    result = harness { modules = [ module ]; };
    expect = {
      graphics = false;
      extraPackages = [ ];
      systemPackages = [ ];
      udevRules = [ ];
      units = { };
    };
  };
  sycl-tools = {
    result = harness { modules = enabled { syclTools = true; }; };
    expect = {
      failedAssertions = [ ];
      systemPackages = [
        "intel-llvm"
        "clinfo"
        "level-zero"
        "intel-gpu-tools"
        "xpu-tool"
      ];
    };
  };
  sycl-tools-without-the-overlay = {
    result = harness {
      syclTools = false;
      modules = enabled { syclTools = true; };
    };
    expect.failedAssertions = [
      "hardware.intel-xpu.syclTools needs pkgs.intel-xpu.sycl-tools (MordragT's SYCL LLVM, which brings sycl-ls): add this flake's overlay (nixpkgs.overlays = [ intel-xpu.overlays.default ]), set hardware.intel-xpu.syclToolsPackage, or turn syclTools off (xpu doctor enumerates SYCL through dpctl or PyTorch XPU)."
    ];
  };
  # mkPackageOption: a package of one's own where the overlay has none
  sycl-tools-of-ones-own = {
    result = harness {
      syclTools = false;
      modules = enabled {
        syclTools = true;
        syclToolsPackage = {
          type = "derivation";
          name = "my-sycl-ls";
          outPath = "/nix/store/00000000000000000000000000000000-my-sycl-ls";
        };
        tools = false;
      };
    };
    expect = {
      failedAssertions = [ ];
      systemPackages = [ "my-sycl-ls" ];
    };
  };
}
