# nixpkgs' services.ollama before it chose the backend by package (nixos/modules/services/misc/
# ollama.nix until late 2025): `acceleration` a real option, the rest as the current file declares
# it (drift.nix checks that against the real file). Only for the case that needs an old nixpkgs;
# everything else loads the real current file.
{
  config,
  lib,
  pkgs,
  ...
}:
let
  inherit (lib) mkOption types;
  cfg = config.services.ollama;
in
{
  options.services.ollama = {
    enable = lib.mkEnableOption "ollama server for local large language models";
    package = lib.mkPackageOption pkgs "ollama" { };
    acceleration = mkOption {
      type = types.nullOr (
        types.enum [
          false
          "rocm"
          "cuda"
        ]
      );
      default = null;
    };
    host = mkOption {
      type = types.str;
      default = "127.0.0.1";
    };
    port = mkOption {
      type = types.port;
      default = 11434;
    };
    environmentVariables = mkOption {
      type = types.attrsOf types.str;
      default = { };
    };
  };

  config = lib.mkIf cfg.enable {
    systemd.services.ollama = {
      wantedBy = [ "multi-user.target" ];
      after = [ "network.target" ];
      environment = cfg.environmentVariables;
      serviceConfig = {
        ExecStart = "${lib.getExe (cfg.package.override { inherit (cfg) acceleration; })} serve";
        DynamicUser = true;
      };
    };
  };
}
