# services.ollama.intel: run nixpkgs' services.ollama on an Intel GPU.
{
  config,
  lib,
  options,
  pkgs,
  ...
}:
let
  cfg = config.services.ollama.intel;
  intel = import ../lib/ollama-intel.nix { inherit lib pkgs; };
  package = intel.packages.${cfg.backend};
  # nixpkgs before late 2025 picked the GPU with services.ollama.acceleration (and rebuilt the
  # package for it); current nixpkgs keeps the name only as lib.mkRemovedOptionModule, an
  # invisible option that throws when set. Only a visible one is the old option.
  oldAcceleration =
    options.services.ollama ? acceleration && options.services.ollama.acceleration.visible or true != false;
in
{
  imports = [ ./intel-gpu.nix ];

  options.services.ollama.intel = intel.options;

  config = lib.mkIf (config.services.ollama.enable && cfg.enable) {
    assertions = [
      {
        assertion = !oldAcceleration;
        message = ''
          services.ollama.intel needs a nixpkgs whose services.ollama chooses the backend by package
          (no `services.ollama.acceleration` option; nixos-unstable from late 2025). Update the nixpkgs input.
        '';
      }
    ]
    ++ intel.assertions cfg;

    warnings = intel.warnings cfg;

    hardware.intel-xpu.enable = lib.mkDefault true;

    services.ollama.package = lib.mkIf (package != null) (lib.mkDefault package);
    services.ollama.environmentVariables = intel.environment cfg;

    systemd.services.ollama = {
      # after the render node exists (or systemd's device timeout on a host without one)
      wants = [ config.hardware.intel-xpu.renderNodeUnit ];
      after = [ config.hardware.intel-xpu.renderNodeUnit ];
      serviceConfig = {
        # DRM render nodes only (nixpkgs' unit also allows NVIDIA, AMD and WSL devices)
        DeviceAllow = lib.mkForce [ "char-drm" ];
        SupplementaryGroups = [ "video" ];
        # nixpkgs' unit forbids writable+executable memory, which the SYCL JIT needs
        MemoryDenyWriteExecute = lib.mkIf (intel.jit cfg) (lib.mkForce false);
      };
    };
  };
}
