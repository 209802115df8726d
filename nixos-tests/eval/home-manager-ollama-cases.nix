# Evaluation cases for modules/home-manager/ollama.nix on top of Home Manager's services.ollama.
# Stand-ins for the Home Manager options it touches, typed as Home Manager declares them:
# modules/services/ollama.nix (enable, package, acceleration, environmentVariables),
# modules/home-environment.nix (home.sessionVariables), modules/misc/assertions.nix.
{ harness, lib }:
let
  inherit (lib) mkOption types;
  drv = name: {
    type = "derivation";
    inherit name;
    outPath = "/nix/store/00000000000000000000000000000000-${name}";
  };
  homeManager =
    { pkgs, ... }:
    {
      options = {
        assertions = mkOption {
          type = types.listOf types.unspecified;
          default = [ ];
        };
        home.sessionVariables = mkOption {
          type = types.lazyAttrsOf (
            types.oneOf [
              types.str
              types.path
              types.int
              types.float
            ]
          );
          default = { };
        };
        services.ollama = {
          enable = mkOption {
            type = types.bool;
            default = false;
          };
          package = mkOption {
            type = types.package;
            default = pkgs.ollama;
          };
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
          environmentVariables = mkOption {
            type = types.attrsOf types.str;
            default = { };
          };
        };
      };
    };
  evalHome =
    {
      settings,
      overlay ? true,
    }:
    let
      inherit
        (lib.evalModules {
          modules = [
            homeManager
            ../../modules/home-manager/ollama.nix
            {
              _module.args.pkgs = {
                ollama = drv "ollama";
                ollama-vulkan = drv "ollama-vulkan";
              }
              // lib.optionalAttrs overlay {
                intel-xpu.ollama-ipex-llm = drv "ollama-ipex-llm";
                intel-xpu.ollama-sycl = drv "ollama-sycl";
              };
              services.ollama.enable = true;
            }
            settings
          ];
        })
        config
        ;
    in
    {
      package = config.services.ollama.package.name;
      environment = config.services.ollama.environmentVariables;
      session = config.home.sessionVariables;
      failedAssertions = map (a: a.message) (lib.filter (a: !a.assertion) config.assertions);
    };
in
{
  vulkan-by-default = {
    result = evalHome { settings.services.ollama.intel.enable = true; };
    expect = {
      package = "ollama-vulkan";
      environment = {
        OLLAMA_VULKAN = "1";
        ZES_ENABLE_SYSMAN = "1";
      };
      session.ZES_ENABLE_SYSMAN = "1";
      failedAssertions = [ ];
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
      failedAssertions = [
        "services.ollama.intel.backend = \"sycl\" needs pkgs.intel-xpu.ollama-sycl (MordragT's ollama-sycl): add this flake's overlay (nixpkgs.overlays = [ intel-xpu.overlays.default ]); if it is there, the pinned MordragT flake no longer provides packages.<system>.ollama-sycl: update the mordrag input or use backend = \"vulkan\"."
      ];
    };
  };
}
