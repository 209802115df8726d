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
  nixosHardware = upstream.nixosHardware.intelGpu;
  # the refusal of a kernel older than a generation's floor, as the module words it
  tooOld = what: floor: kernel: ''
    Linux too old for ${what}: it needs Linux ${floor} or newer, but this system boots ${kernel}.
    Set boot.kernelPackages = pkgs.linuxPackages_latest; (or another kernel package set of Linux ${floor} or newer).
  '';
  battlemage = "Arc B-series (Battlemage) (BMG; hardware.intel-xpu";
  lunarLake = "Lunar Lake Arc Graphics (LNL; hardware.intel-xpu";
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
        "vulkan-tools"
        "level-zero"
        "intel-gpu-tools"
        "xpu-tool"
      ];
      failedAssertions = [ ];
      udevRules = [ renderNodeRule ];
      units = { };
      # the driver is loaded in the initrd; no generation named, i915: no firmware asked for
      xpuDriver = "i915";
      initrdKernelModules = [ "i915" ];
      redistributableFirmware = false;
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
    expect = {
      kernelParams = [
        "i915.force_probe=!e20b,!e20c"
        "xe.force_probe=e20b,e20c"
      ];
      initrdKernelModules = [ "xe" ];
      # xe needs GuC (and Battlemage HuC) from linux-firmware
      redistributableFirmware = true;
    };
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
  # nixos-hardware's common/gpu/intel (the real file): its driver, runtime and initrd loading are
  # ours. What is set here is passed on to it; it loads the driver in the initrd, we do not again.
  driver-passed-to-nixos-hardware = {
    result = harness {
      modules = enabled {
        driver = "xe";
        computeRuntime = "default";
      }
      ++ [ nixosHardware ];
    };
    expect = {
      failedAssertions = [ ];
      intelgpu = {
        driver = "xe";
        computeRuntime = "default";
        loadInInitrd = true;
      };
      xpuDriver = "xe";
      initrdKernelModules = [ "xe" ];
    };
  };
  # ... and what is set there is read here: the force_probe parameters follow its driver
  driver-read-from-nixos-hardware = {
    result = harness {
      modules = enabled { forceProbe = [ "56a0" ]; } ++ [
        nixosHardware
        {
          hardware.intelgpu = {
            driver = "xe";
            loadInInitrd = false;
          };
        }
      ];
    };
    expect = {
      failedAssertions = [ ];
      xpuDriver = "xe";
      kernelParams = [
        "i915.force_probe=!56a0"
        "xe.force_probe=56a0"
      ];
      initrdKernelModules = [ ];
    };
  };
  # a generation's driver is a default there too
  generation-drives-nixos-hardware = {
    result = harness {
      modules = enabled { generation = "BMG"; } ++ [ nixosHardware ];
    };
    expect = {
      failedAssertions = [ ];
      intelgpu = {
        driver = "xe";
        computeRuntime = "default";
        loadInInitrd = true;
      };
      initrdKernelModules = [ "xe" ];
    };
  };
  # the same value on both sides is one value
  agrees-with-nixos-hardware = {
    result = harness {
      modules = enabled { driver = "xe"; } ++ [
        nixosHardware
        { hardware.intelgpu.driver = "xe"; }
      ];
    };
    expect.failedAssertions = [ ];
  };
  # a legacy runtime set here is nixos-hardware's too: one runtime installed, not two
  runtime-passed-to-nixos-hardware = {
    result = harness {
      modules = enabled { computeRuntime = "legacy"; } ++ [ nixosHardware ];
    };
    expect = {
      failedAssertions = [ ];
      intelgpu = {
        driver = "i915";
        computeRuntime = "legacy";
        loadInInitrd = true;
      };
    };
  };
  # nixos-hardware's driver, set there, against the generation named here
  nixos-hardware-driver-cannot-drive-the-generation = {
    result = harness {
      modules = enabled { generation = "BMG"; } ++ [
        nixosHardware
        { hardware.intelgpu.driver = "i915"; }
      ];
    };
    expect.failedAssertions = [
      ''
        Wrong kernel driver for ${battlemage}.generation = "BMG"): hardware.intel-xpu.driver (nixos-hardware's hardware.intelgpu.driver) = "i915", but only xe drives it.
        Set hardware.intel-xpu.driver = "xe", or leave it unset (it follows the generation).
      ''
    ];
  };

  # The kernel floor of a named generation, refused at evaluation (issue 17): Battlemage needs
  # 6.12, Lunar Lake 6.11, whether named by a force-probed id or by the generation
  battlemage-id-on-linux-6-10 = {
    result = harness {
      kernelVersion = "6.10.14";
      modules = enabled {
        driver = "xe";
        forceProbe = [ "e20b" ];
      };
    };
    expect.failedAssertions = [ (tooOld "${battlemage}.forceProbe = [ \"e20b\" ])" "6.12" "6.10.14") ];
  };
  battlemage-generation-on-linux-6-10 = {
    result = harness {
      kernelVersion = "6.10.14";
      modules = enabled { generation = "BMG"; };
    };
    expect.failedAssertions = [ (tooOld "${battlemage}.generation = \"BMG\")" "6.12" "6.10.14") ];
  };
  lunar-lake-id-on-linux-6-10 = {
    result = harness {
      kernelVersion = "6.10.14";
      modules = enabled { forceProbe = [ "64a0" ]; };
    };
    expect = {
      failedAssertions = [ (tooOld "${lunarLake}.forceProbe = [ \"64a0\" ])" "6.11" "6.10.14") ];
      # only xe drives it: the id names the driver too
      xpuDriver = "xe";
      kernelParams = [
        "i915.force_probe=!64a0"
        "xe.force_probe=64a0"
      ];
    };
  };
  lunar-lake-generation-on-linux-6-10 = {
    result = harness {
      kernelVersion = "6.10.14";
      modules = enabled { generation = "LNL"; };
    };
    expect.failedAssertions = [ (tooOld "${lunarLake}.generation = \"LNL\")" "6.11" "6.10.14") ];
  };
  # a generation named both ways is one generation, refused once
  battlemage-named-twice-on-linux-6-11 = {
    result = harness {
      kernelVersion = "6.11.11";
      modules = enabled {
        generation = "BMG";
        forceProbe = [ "e20b" ];
      };
    };
    expect.failedAssertions = [
      (tooOld "${battlemage}.generation = \"BMG\" and forceProbe = [ \"e20b\" ])" "6.12" "6.11.11")
    ];
  };
  battlemage-on-linux-6-12 = {
    result = harness {
      kernelVersion = "6.12.1";
      modules = enabled { generation = "BMG"; };
    };
    expect = {
      failedAssertions = [ ];
      # the only driver that drives it, loaded in the initrd, with the firmware it needs; no
      # force_probe from 6.12 on
      xpuDriver = "xe";
      initrdKernelModules = [ "xe" ];
      redistributableFirmware = true;
      kernelParams = [ ];
    };
  };
  lunar-lake-on-linux-6-12 = {
    result = harness {
      kernelVersion = "6.12.1";
      modules = enabled { forceProbe = [ "64a0" ]; };
    };
    expect = {
      failedAssertions = [ ];
      xpuDriver = "xe";
      redistributableFirmware = true;
    };
  };
  # Arc A770 on i915 with Linux 6.6 (above DG2's 6.2 floor): accepted
  arc-a770-on-i915-linux-6-6 = {
    result = harness {
      kernelVersion = "6.6.30";
      modules = enabled { forceProbe = [ "56a0" ]; };
    };
    expect = {
      failedAssertions = [ ];
      xpuDriver = "i915";
      kernelParams = [ "i915.force_probe=56a0" ];
      initrdKernelModules = [ "i915" ];
      # i915 submits through GuC on Arc
      redistributableFirmware = true;
    };
  };
  # xe for a generation i915 drives by default: its ids are force-probed onto xe
  generation-moved-to-xe = {
    result = harness {
      modules = enabled {
        generation = "ATS-M";
        driver = "xe";
      };
    };
    expect = {
      failedAssertions = [ ];
      kernelParams = [
        "i915.force_probe=!56c0,!56c2,!56c1"
        "xe.force_probe=56c0,56c2,56c1"
      ];
    };
  };
  i915-cannot-drive-battlemage = {
    result = harness {
      modules = enabled {
        generation = "BMG";
        driver = "i915";
      };
    };
    expect.failedAssertions = [
      ''
        Wrong kernel driver for ${battlemage}.generation = "BMG"): hardware.intel-xpu.driver = "i915", but only xe drives it.
        Set hardware.intel-xpu.driver = "xe", or leave it unset (it follows the generation).
      ''
    ];
  };
  # Gen9.5: i915 only, the legacy runtime, no firmware asked for
  coffee-lake = {
    result = harness { modules = enabled { forceProbe = [ "3e92" ]; }; };
    expect = {
      failedAssertions = [ ];
      xpuDriver = "i915";
      xpuComputeRuntime = "legacy";
      extraPackages = [
        "intel-compute-runtime-legacy1"
        "intel-media-driver"
        "vpl-gpu-rt"
      ];
      redistributableFirmware = false;
    };
  };
  coffee-lake-on-xe-with-the-default-runtime = {
    result = harness {
      modules = enabled {
        generation = "CFL";
        driver = "xe";
        computeRuntime = "default";
      };
    };
    expect.failedAssertions = [
      ''
        Wrong kernel driver for Coffee Lake UHD Graphics (CFL; hardware.intel-xpu.generation = "CFL"): hardware.intel-xpu.driver = "xe", but only i915 drives it.
        Set hardware.intel-xpu.driver = "i915", or leave it unset (it follows the generation).
      ''
      ''
        Wrong compute runtime for Coffee Lake UHD Graphics (CFL; hardware.intel-xpu.generation = "CFL"): hardware.intel-xpu.computeRuntime = "default" does not run it.
        Set hardware.intel-xpu.computeRuntime = "legacy", or leave it unset (it follows the generation).
      ''
    ];
  };
  # what the user sets wins over the generation's defaults
  firmware-and-initrd-turned-off = {
    result = harness {
      modules = enabled {
        generation = "BMG";
        loadInInitrd = false;
      }
      ++ [ { hardware.enableRedistributableFirmware = false; } ];
    };
    expect = {
      initrdKernelModules = [ ];
      redistributableFirmware = false;
    };
  };
  # an id the table does not know names no generation
  unknown-id = {
    result = harness { modules = enabled { forceProbe = [ "ffff" ]; }; };
    expect = {
      failedAssertions = [ ];
      xpuDriver = "i915";
      kernelParams = [ "i915.force_probe=ffff" ];
    };
  };
  # The services' integrated-GPU settings, where their modules are imported: Ollama may use an
  # integrated GPU, ComfyUI emulates FP64 where the GPU has none
  lunar-lake-with-ollama-and-comfyui = {
    result = harness {
      modules = enabled { generation = "LNL"; } ++ [
        ../../modules/nixos/ollama.nix
        ../../modules/nixos/comfyui.nix
      ];
    };
    expect = {
      ollamaIgpu = true;
      # Xe2 has FP64
      comfyuiFp64Emulation = false;
    };
  };
  alder-lake-with-ollama-and-comfyui = {
    result = harness {
      modules = enabled { generation = "ADL-P"; } ++ [
        ../../modules/nixos/ollama.nix
        ../../modules/nixos/comfyui.nix
        {
          services.ollama = {
            enable = true;
            intel.enable = true;
          };
        }
      ];
    };
    expect = {
      ollamaIgpu = true;
      comfyuiFp64Emulation = true;
      ollamaEnvironment = {
        OLLAMA_IGPU_ENABLE = "1";
        OLLAMA_VULKAN = "1";
        ZES_ENABLE_SYSMAN = "1";
      };
    };
  };
  battlemage-with-ollama-and-comfyui = {
    result = harness {
      modules = enabled { generation = "BMG"; } ++ [
        ../../modules/nixos/ollama.nix
        ../../modules/nixos/comfyui.nix
      ];
    };
    expect = {
      ollamaIgpu = false;
      comfyuiFp64Emulation = false;
    };
  };
  # the user's own setting wins
  lunar-lake-igpu-turned-off = {
    result = harness {
      modules = enabled { generation = "LNL"; } ++ [
        ../../modules/nixos/ollama.nix
        { services.ollama.intel.igpu = false; }
      ];
    };
    expect.ollamaIgpu = false;
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
        "vulkan-tools"
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
