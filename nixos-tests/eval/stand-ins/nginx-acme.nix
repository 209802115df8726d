# Typed stand-ins for the nginx and ACME options examples/advanced-workflows sets (the options it
# uses, as nixpkgs declares them):
#   nixos/modules/services/web-servers/nginx/default.nix       enable, recommended*, virtualHosts
#   nixos/modules/services/web-servers/nginx/vhost-options.nix  forceSSL, enableACME, basicAuthFile, locations
#   nixos/modules/services/web-servers/nginx/location-options.nix  proxyPass, proxyWebsockets
#   nixos/modules/security/acme/default.nix                     acceptTerms, defaults.email
{ lib, ... }:
let
  inherit (lib) mkOption types;
  bool = mkOption {
    type = types.bool;
    default = false;
  };
  location = {
    options = {
      proxyPass = mkOption {
        type = types.nullOr types.str;
        default = null;
      };
      proxyWebsockets = bool;
    };
  };
  vhost = {
    options = {
      forceSSL = bool;
      enableACME = bool;
      basicAuthFile = mkOption {
        type = types.nullOr types.path;
        default = null;
      };
      locations = mkOption {
        type = types.attrsOf (types.submodule location);
        default = { };
      };
    };
  };
in
{
  options = {
    services.nginx = {
      enable = bool;
      recommendedProxySettings = bool;
      recommendedTlsSettings = bool;
      virtualHosts = mkOption {
        type = types.attrsOf (types.submodule vhost);
        default = { };
      };
    };
    security.acme = {
      acceptTerms = bool;
      defaults.email = mkOption {
        type = types.nullOr types.str;
        default = null;
      };
    };
  };
}
