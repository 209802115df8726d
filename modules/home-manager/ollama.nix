# services.ollama.intel for Home Manager: Home Manager's services.ollama (a systemd user unit)
# on an Intel GPU, for people who do not run Ollama system-wide. The user still needs the render
# group (hardware.intel-xpu.users on NixOS) and the compute runtime from the system.
{
  config,
  lib,
  pkgs,
  ...
}:
let
  cfg = config.services.ollama.intel;
  intel = import ../lib/ollama-intel.nix { inherit lib pkgs; };
  package = intel.packages.${cfg.backend};
  acceleration = config.services.ollama.acceleration or null;
in
{
  options.services.ollama.intel = intel.options;

  config = lib.mkIf (config.services.ollama.enable && cfg.enable) {
    assertions = [
      {
        assertion = acceleration == null;
        message = "services.ollama.intel picks the Ollama package, but services.ollama.acceleration = ${builtins.toJSON acceleration} makes Home Manager rebuild it for another GPU: remove services.ollama.acceleration.";
      }
    ]
    ++ intel.assertions cfg;

    warnings = intel.warnings cfg;

    services.ollama.package = lib.mkIf (package != null) (lib.mkDefault package);
    services.ollama.environmentVariables = intel.environment cfg;
    # for `ollama`, sycl-ls and the like run from the user's shell
    home.sessionVariables.ZES_ENABLE_SYSMAN = "1";
  };
}
