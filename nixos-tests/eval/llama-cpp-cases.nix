# Evaluation cases for modules/nixos/llama-cpp.nix on top of nixpkgs' services.llama-cpp (the real
# file: its options, its unit and the ExecStart it writes from them).
{ harness, lib, ... }:
let
  module = ../../modules/nixos/llama-cpp.nix;
  model = "/srv/models/tiny.gguf";
  llamaCpp = settings: intel: [
    module
    {
      services.llama-cpp = {
        enable = true;
        inherit model;
        intel = {
          enable = true;
        }
        // intel;
      }
      // settings;
    }
  ];
  # nixpkgs' arguments (--host, --port, -m), then ours, then the user's extraFlags
  args = ours: user: [
    "--host"
    "127.0.0.1"
    "--port"
    "8080"
    "-m"
    model
  ]
  ++ ours
  ++ user;
  # ours: every layer on the GPU, and the verbosity that logs devices and layers
  ourFlags = [
    "--n-gpu-layers"
    "999"
    "--verbosity"
    "4"
  ];
  # nixpkgs' llama-cpp unit as services.llama-cpp.intel leaves it: the render and video groups,
  # after the render node's device unit; devices left open, PrivateUsers kept;
  # MemoryDenyWriteExecute off for SYCL only
  intelUnit =
    { sycl }:
    {
      wants = [ "dev-dri-intel-render.device" ];
      after = [
        "dev-dri-intel-render.device"
        "network.target"
      ];
      serviceConfig = {
        DynamicUser = true;
        MemoryDenyWriteExecute = !sycl;
        PrivateDevices = false;
        PrivateUsers = true;
        SupplementaryGroups = [
          "render"
          "video"
        ];
      };
    };
  # a llama.cpp build of the user's own
  mine = {
    type = "derivation";
    name = "llama-cpp-mine";
    outPath = "/nix/store/00000000000000000000000000000000-llama-cpp-mine";
  };
in
{
  vulkan-by-default = {
    result = harness { modules = llamaCpp { } { }; };
    expect = {
      llamaCpp = {
        package = "llama-cpp-vulkan";
        execStart = {
          program = "llama-cpp-vulkan/bin/llama-server";
          args = args ourFlags [ ];
        };
        environment = { };
      }
      // intelUnit { sycl = false; };
      graphics = true;
      failedAssertions = [ ];
      warnings = [ ];
    };
  };
  sycl-on-a-chosen-device = {
    result = harness {
      modules = llamaCpp { } {
        backend = "sycl";
        device = "level_zero:0";
      };
    };
    expect = {
      llamaCpp = {
        package = "llama-cpp-sycl";
        execStart = {
          program = "llama-cpp-sycl/bin/llama-server";
          args = args ourFlags [ ];
        };
        environment = {
          ONEAPI_DEVICE_SELECTOR = "level_zero:0";
          ZES_ENABLE_SYSMAN = "1";
        };
      }
      // intelUnit { sycl = true; };
      failedAssertions = [ ];
    };
  };
  vulkan-on-a-chosen-device = {
    result = harness { modules = llamaCpp { } { device = "1"; }; };
    expect = {
      llamaCpp = {
        package = "llama-cpp-vulkan";
        execStart = {
          program = "llama-cpp-vulkan/bin/llama-server";
          args = args ourFlags [ ];
        };
        environment.GGML_VK_VISIBLE_DEVICES = "1";
      }
      // intelUnit { sycl = false; };
      failedAssertions = [ ];
    };
  };
  # the user's flags stay, after ours (a -ngl of theirs is the last and wins); gpuLayers = null
  # leaves the layers to llama-server
  user-flags-kept = {
    result =
      (harness {
        modules = llamaCpp {
          extraFlags = [
            "-c"
            "4096"
            "-ngl"
            "20"
          ];
        } { };
      }).llamaCpp.execStart;
    expect.args = args ourFlags [
      "-c"
      "4096"
      "-ngl"
      "20"
    ];
  };
  gpu-layers-chosen-or-left-to-llama-cpp = {
    result = {
      some = (harness { modules = llamaCpp { } { gpuLayers = 20; }; }).llamaCpp.execStart.args;
      unset = (harness { modules = llamaCpp { } { gpuLayers = null; }; }).llamaCpp.execStart.args;
    };
    expect = {
      some = args [
        "--n-gpu-layers"
        "20"
        "--verbosity"
        "4"
      ] [ ];
      unset = args [
        "--verbosity"
        "4"
      ] [ ];
    };
  };
  # llama-server's router mode: a directory of models instead of one
  models-dir-instead-of-a-model = {
    result =
      (harness {
        modules = [
          module
          {
            services.llama-cpp = {
              enable = true;
              modelsDir = "/srv/models";
              intel.enable = true;
            };
          }
        ];
      }).llamaCpp.execStart;
    expect.args = [
      "--host"
      "127.0.0.1"
      "--port"
      "8080"
      "--models-dir"
      "/srv/models"
    ]
    ++ ourFlags;
  };
  # neither: nixpkgs' own assertion says what to set
  no-model = {
    result = harness {
      modules = [
        module
        {
          services.llama-cpp = {
            enable = true;
            intel.enable = true;
          };
        }
      ];
    };
    expect.failedAssertions = [ "services.llama-cpp: Either 'model' or 'modelDir' must be set." ];
  };
  # a package of the user's own wins over the backend's, and stands in for a missing one
  own-package = {
    result = {
      kept =
        (harness {
          modules = llamaCpp { package = mine; } { backend = "sycl"; };
        }).llamaCpp.package;
      without =
        (harness {
          llamaCppBackends = false;
          modules = llamaCpp { package = mine; } { backend = "sycl"; };
        }).failedAssertions;
    };
    expect = {
      kept = "llama-cpp-mine";
      without = [ ];
    };
  };
  sycl-without-mordrag = {
    result =
      let
        r = harness {
          llamaCppBackends = false;
          modules = llamaCpp { } { backend = "sycl"; };
        };
      in
      {
        inherit (r) failedAssertions;
        inherit (r.llamaCpp) package;
      };
    expect = {
      # nixpkgs' default, which the assertion stops
      package = "llama-cpp";
      failedAssertions = [
        "services.llama-cpp.intel.backend = \"sycl\" needs pkgs.intel-xpu.llama-cpp-sycl (MordragT's llama-cpp-sycl): add this flake's overlay (nixpkgs.overlays = [ intel-xpu.overlays.default ]); if it is there, the pinned MordragT flake (the mordrag input) no longer provides packages.<system>.llama-cpp-sycl: update the mordrag input, set services.llama-cpp.package to a SYCL build of your own, or use backend = \"vulkan\"."
      ];
    };
  };
  vulkan-without-llama-cpp-vulkan = {
    result = harness {
      llamaCppBackends = false;
      modules = llamaCpp { } { };
    };
    expect.failedAssertions = [
      "services.llama-cpp.intel.backend = \"vulkan\" needs pkgs.llama-cpp-vulkan, which this nixpkgs lacks: update the nixpkgs input, or set services.llama-cpp.package = pkgs.llama-cpp.override { vulkanSupport = true; }."
    ];
  };
  # each backend's device variable has its own form: the other's is refused
  sycl-given-a-vulkan-index = {
    result = harness {
      modules = llamaCpp { } {
        backend = "sycl";
        device = "1";
      };
    };
    expect.failedAssertions = [
      "services.llama-cpp.intel.device = \"1\" is not a oneAPI device selector, which the sycl backend reads (ONEAPI_DEVICE_SELECTOR): write backend:device, e.g. \"level_zero:0\" (the ids `sycl-ls` prints)."
    ];
  };
  vulkan-given-a-oneapi-selector = {
    result = harness { modules = llamaCpp { } { device = "level_zero:0"; }; };
    expect.failedAssertions = [
      "services.llama-cpp.intel.device = \"level_zero:0\" is not a list of Vulkan device indices, which the vulkan backend reads (GGML_VK_VISIBLE_DEVICES): write e.g. \"1\" or \"0,1\" (the order of `vulkaninfo --summary`)."
    ];
  };
  # services.llama-cpp alone (nixpkgs' unit as it is), or intel.enable alone (nothing)
  intel-off-leaves-nixpkgs-alone = {
    result = harness {
      modules = [
        module
        {
          services.llama-cpp = {
            enable = true;
            inherit model;
          };
        }
      ];
    };
    expect = {
      llamaCpp = {
        package = "llama-cpp";
        execStart = {
          program = "llama-cpp/bin/llama-server";
          args = args [ ] [ ];
        };
        environment = { };
        wants = [ ];
        after = [ "network.target" ];
        serviceConfig = {
          DynamicUser = true;
          MemoryDenyWriteExecute = true;
          PrivateDevices = false;
          PrivateUsers = true;
        };
      };
      graphics = false;
    };
  };
  intel-without-the-service = {
    result = harness {
      modules = [
        module
        { services.llama-cpp.intel.enable = true; }
      ];
    };
    expect = {
      llamaCpp = null;
      graphics = false;
      failedAssertions = [ ];
    };
  };
}
