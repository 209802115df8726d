# Evaluation cases for modules/home-manager/comfyui.nix (typed stand-ins: home-manager-stand-ins.nix).
{ harness, lib, ... }:
let
  homeManager = import ./home-manager-stand-ins.nix { inherit lib; };
  drv = name: homeManager.drv name // { meta.mainProgram = "comfyui"; };
  evalHome =
    {
      settings,
      overlay ? true,
    }:
    let
      config = homeManager.evalConfig {
        modules = [
          ../../modules/home-manager/comfyui.nix
          settings
        ];
        pkgs = {
          coreutils = drv "coreutils";
        }
        // lib.optionalAttrs overlay { intel-xpu.comfyui = drv "comfyui-xpu"; };
      };
      unit = config.systemd.user.services.comfyui-xpu or null;
    in
    {
      failedAssertions = map (a: a.message) (lib.filter (a: !a.assertion) config.assertions);
      inherit (config) warnings;
      execStart = if unit == null then null else unit.Service.ExecStart;
      environment = if unit == null then null else unit.Service.Environment;
      wantedBy = if unit == null then null else unit.Install.WantedBy;
    };
in
{
  xpu-on-loopback = {
    result = evalHome { settings.services.intel-xpu.comfyui.enable = true; };
    expect = {
      failedAssertions = [ ];
      warnings = [ ];
      # systemd unquotes single quotes in ExecStart
      execStart = [ "/nix/store/00000000000000000000000000000000-comfyui-xpu/bin/comfyui '--base-directory=/home/alice/.local/share/comfyui' '--listen=127.0.0.1' '--port=8188'" ];
      environment = [ "ZES_ENABLE_SYSMAN=1" ];
      wantedBy = [ "default.target" ];
    };
  };
  cpu-exposed-with-fp64 = {
    result = evalHome {
      settings.services.intel-xpu.comfyui = {
        enable = true;
        device = "cpu";
        listen = "0.0.0.0";
        fp64Emulation = true;
      };
    };
    expect = {
      warnings = [
        ''
          services.intel-xpu.comfyui.listen = "0.0.0.0": ComfyUI has no authentication, so
          anyone who reaches that address can run workflows as you. Keep it on loopback.
        ''
      ];
      execStart = [ "/nix/store/00000000000000000000000000000000-comfyui-xpu/bin/comfyui '--base-directory=/home/alice/.local/share/comfyui' '--listen=0.0.0.0' '--port=8188' --cpu" ];
      environment = [
        "ZES_ENABLE_SYSMAN=1"
        "OverrideDefaultFP64Settings=1"
        "IGC_EnableDPEmulation=1"
      ];
    };
  };
  without-the-overlay = {
    result = evalHome {
      overlay = false;
      settings.services.intel-xpu.comfyui.enable = true;
    };
    expect = {
      failedAssertions = [
        "services.intel-xpu.comfyui needs pkgs.intel-xpu.comfyui: add the intel-xpu overlay (nixpkgs.overlays, or home-manager.useGlobalPkgs on NixOS), or set services.intel-xpu.comfyui.package."
      ];
      execStart = null;
    };
  };
}
