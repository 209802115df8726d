# Evaluation cases for modules/nixos/comfyui.nix on top of nixpkgs' services.comfyui (the real file).
{ harness, lib, ... }:
let
  module = ../../modules/nixos/comfyui.nix;
  comfyui = intel: extra: [
    module
    {
      services.comfyui.enable = true;
      services.comfyui.intel = { enable = true; } // intel;
    }
    extra
  ];
  base = [
    "--base-directory=/var/lib/comfyui"
    "--database-url=sqlite:////var/lib/comfyui/user/comfyui.db"
    "--listen=127.0.0.1,::1"
    "--port=8188"
  ];
  # nixpkgs' comfyui unit with device = "xpu": after the render node's device unit, with the render groups
  xpuUnit = {
    wants = [ "dev-dri-intel-render.device" ];
    after = [
      "network.target"
      "dev-dri-intel-render.device"
    ];
    environment.ZES_ENABLE_SYSMAN = "1";
    SupplementaryGroups = [
      "render"
      "video"
    ];
  };
in
{
  xpu-by-default = {
    result = harness { modules = comfyui { } { }; };
    expect = {
      failedAssertions = [ ];
      warnings = [ ];
      graphics = true;
      comfyui = {
        package = "comfyui-xpu-0.34.1";
        # nixpkgs' unit runs lib.getExe of it and copies its share/comfyui
        execStart = "/nix/store/00000000000000000000000000000000-comfyui-xpu-0.34.1/bin/comfyui";
        copiesFrom = "/nix/store/00000000000000000000000000000000-comfyui-xpu-0.34.1";
        args = base;
        unit = xpuUnit;
      };
    };
  };
  cpu-baseline-with-fp64-emulation-and-cache = {
    result = harness {
      modules = comfyui {
        device = "cpu";
        fp64Emulation = true;
        persistentSyclCache = true;
      } { };
    };
    expect.comfyui = {
      package = "comfyui-xpu-0.34.1";
      # nixpkgs' unit runs lib.getExe of it and copies its share/comfyui
      execStart = "/nix/store/00000000000000000000000000000000-comfyui-xpu-0.34.1/bin/comfyui";
      copiesFrom = "/nix/store/00000000000000000000000000000000-comfyui-xpu-0.34.1";
      args = base ++ [ "--cpu" ];
      unit = {
        wants = [ ];
        after = [ "network.target" ];
        environment = {
          ZES_ENABLE_SYSMAN = "1";
          OverrideDefaultFP64Settings = "1";
          IGC_EnableDPEmulation = "1";
          SYCL_CACHE_PERSISTENT = "1";
          SYCL_CACHE_DIR = "/var/lib/comfyui/sycl-cache";
        };
        SupplementaryGroups = [
          "render"
          "video"
        ];
      };
    };
  };
  listening-beyond-loopback-warns = {
    result = harness {
      modules = comfyui { } {
        services.comfyui.listen = [
          "0.0.0.0"
          "::1"
        ];
      };
    };
    expect.warnings = [
      ''
        services.comfyui.listen includes 0.0.0.0: ComfyUI has no
        authentication, so anyone who reaches that address can run workflows on this machine.
        Keep it on loopback and put an authenticating reverse proxy in front.
      ''
    ];
  };
  without-the-overlay = {
    result = harness {
      comfyuiXpu = false;
      modules = comfyui { } { };
    };
    expect = {
      failedAssertions = [
        "services.comfyui.intel needs pkgs.intel-xpu.comfyui (ComfyUI on MordragT's XPU PyTorch): add this flake's overlay (nixpkgs.overlays = [ intel-xpu.overlays.default ]), or set services.comfyui.package to a ComfyUI whose torch has XPU."
      ];
      # nixpkgs' package stays (whose torch has no XPU): the assertion stops the build
      comfyui = {
        package = "comfyui-0.34.1";
        # nixpkgs' unit runs lib.getExe of it and copies its share/comfyui
        execStart = "/nix/store/00000000000000000000000000000000-comfyui-0.34.1/bin/comfyui";
        copiesFrom = "/nix/store/00000000000000000000000000000000-comfyui-0.34.1";
        args = base;
        unit = xpuUnit;
      };
    };
  };
  nixpkgs-without-services-comfyui = {
    result = harness {
      comfyuiModule = { };
      modules = [
        module
        { services.comfyui.intel.enable = true; }
      ];
    };
    expect.failedAssertions = [
      "services.comfyui.intel needs a nixpkgs with services.comfyui (nixos/modules/services/misc/comfyui.nix): update the nixpkgs input."
    ];
  };
  off-leaves-nixpkgs-comfyui-alone = {
    result = harness {
      modules = [
        module
        { services.comfyui.enable = true; }
      ];
    };
    expect = {
      failedAssertions = [ ];
      graphics = false;
      comfyui = {
        package = "comfyui-0.34.1";
        # nixpkgs' unit runs lib.getExe of it and copies its share/comfyui
        execStart = "/nix/store/00000000000000000000000000000000-comfyui-0.34.1/bin/comfyui";
        copiesFrom = "/nix/store/00000000000000000000000000000000-comfyui-0.34.1";
        args = base;
        unit = {
          wants = [ ];
          after = [ "network.target" ];
          environment = { };
          SupplementaryGroups = null;
        };
      };
    };
  };
  custom-nodes-and-firewall = {
    result = harness {
      modules = comfyui {
        openFirewall = true;
        customNodes.ComfyUI-GGUF = {
          type = "derivation";
          name = "comfyui-gguf";
          outPath = "/nix/store/00000000000000000000000000000000-comfyui-gguf";
        };
      } { services.comfyui.port = 9000; };
    };
    expect = {
      firewallTCP = [ 9000 ];
      comfyuiPreStart = ''
        find /var/lib/comfyui/custom_nodes -maxdepth 1 -type l -lname '/nix/store/*' -delete
        ln -sfn /nix/store/00000000000000000000000000000000-comfyui-gguf /var/lib/comfyui/custom_nodes/ComfyUI-GGUF
      '';
    };
  };
  no-custom-nodes-no-changes = {
    result = harness { modules = comfyui { } { }; };
    expect = {
      firewallTCP = [ ];
      comfyuiPreStart = "";
    };
  };
}
