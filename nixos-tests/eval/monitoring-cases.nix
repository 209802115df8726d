# Evaluation cases for modules/nixos/monitoring.nix.
{ harness, lib, ... }:
let
  module = ../../modules/nixos/monitoring.nix;
  ollama = ../../modules/nixos/ollama.nix;
  comfyui = ../../modules/nixos/comfyui.nix;
  # the repository's rules as the module gives them: each runbook link on `base`
  rulesFor =
    base:
    builtins.toFile "xpu-alerts.yml" (
      builtins.replaceStrings [ "@runbookBaseUrl@" ] [ base ] (
        builtins.readFile ../../modules/nixos/monitoring/xpu-alerts.yml
      )
    );
  # by default docs/operations.md in the Nix store
  rules = rulesFor "file://${../../docs/operations.md}";
  # the runbook_url annotations of the rule files a configuration's Prometheus reads
  runbookUrls =
    result:
    lib.concatMap (
      file:
      lib.concatMap (
        line:
        let
          m = builtins.match " *runbook_url: \"([^\"]*)\"" line;
        in
        if m == null then [ ] else m
      ) (lib.splitString "\n" (builtins.readFile file))
    ) result.monitoring.ruleFiles;
  anchors = [
    "xpustackunusable"
    "xpugpugone"
    "xpuruntimelostgpu"
    "xpumodeloncpu"
    "xpuservicedown"
    "xpuexportstale"
    "xpugpucpuratiolow"
    "xputokensperseconddropped"
  ];
  # bench: the report's name, null for ollama-bench.json
  exportScript = urls: bench: ''
    set -u
    bench=()
    if [ -e /var/lib/xpu-monitoring/bench/${if bench == null then "ollama" else bench}-bench.json ]; then bench=(--bench-json /var/lib/xpu-monitoring/bench/${if bench == null then "ollama" else bench}-bench.json); fi
    exec /nix/store/00000000000000000000000000000000-xpu-tool/bin/xpu export --textfile /var/lib/xpu-monitoring/textfile/xpu.prom --timeout 30 \
      ${urls} \
      "''${bench[@]}"
  '';
  node = {
    enable = true;
    enabledCollectors = [ "textfile" ];
    extraFlags = [ "--collector.textfile.directory=/var/lib/xpu-monitoring/textfile" ];
  };
  exportTimer = {
    wantedBy = [ "timers.target" ];
    timerConfig = {
      OnBootSec = "2min";
      OnUnitActiveSec = "5min";
    };
  };
in
{
  one-option-watches-the-local-services = {
    result = harness {
      modules = [
        module
        ollama
        comfyui
        {
          services.intel-xpu.monitoring.enable = true;
          services.ollama = {
            enable = true;
            host = "0.0.0.0";
            intel.enable = true;
          };
          services.comfyui = {
            enable = true;
            intel.enable = true;
          };
          # nixpkgs' services.llama-cpp: its host (all addresses: checked on the loopback) and port
          services.llama-cpp = {
            enable = true;
            model = "/srv/models/tiny.gguf";
            host = "0.0.0.0";
            port = 8090;
          };
          services.prometheus.enable = true;
        }
      ];
    };
    expect = {
      failedAssertions = [ ];
      monitoring = {
        inherit node;
        ruleFiles = [ rules ];
        timers.xpu-export = exportTimer;
        scripts.xpu-export = exportScript "--ollama http://127.0.0.1:11434 --comfyui http://127.0.0.1:8188 --llama-cpp http://127.0.0.1:8090" null;
      };
    };
  };
  # llama-server alone, at nixpkgs' default port on an IPv6 address; and llamaCppUrls set by hand
  # replace it (a llama-server elsewhere)
  llama-cpp-urls = {
    result = harness {
      modules = [
        module
        {
          services.intel-xpu.monitoring.enable = true;
          services.llama-cpp = {
            enable = true;
            model = "/srv/models/tiny.gguf";
            host = "::1";
          };
        }
      ];
    };
    expect = {
      failedAssertions = [ ];
      monitoring = {
        inherit node;
        ruleFiles = [ ];
        timers.xpu-export = exportTimer;
        scripts.xpu-export = exportScript "--llama-cpp 'http://[::1]:8080'" null;
      };
    };
  };
  llama-cpp-urls-by-hand = {
    result = harness {
      modules = [
        module
        {
          services.intel-xpu.monitoring = {
            enable = true;
            llamaCppUrls = [
              "http://10.0.0.6:8080"
              "http://10.0.0.7:8080"
            ];
          };
          services.llama-cpp = {
            enable = true;
            model = "/srv/models/tiny.gguf";
          };
        }
      ];
    };
    expect = {
      failedAssertions = [ ];
      monitoring = {
        inherit node;
        ruleFiles = [ ];
        timers.xpu-export = exportTimer;
        scripts.xpu-export = exportScript "--llama-cpp http://10.0.0.6:8080 --llama-cpp http://10.0.0.7:8080" null;
      };
    };
  };
  benchmark-on-a-schedule = {
    result = harness {
      modules = [
        module
        {
          services.intel-xpu.monitoring = {
            enable = true;
            ollamaUrls = [ "http://10.0.0.5:11434" ];
            benchmark = {
              enable = true;
              schedule = "Sun 03:00";
            };
          };
        }
      ];
    };
    expect = {
      failedAssertions = [ ];
      # both units run as this static system user (no extra groups of its own: the units add them)
      users.xpu-monitoring = [ ];
      monitoring = {
        inherit node;
        ruleFiles = [ ]; # no Prometheus on this machine: the rules go where Prometheus runs
        timers = {
          xpu-export = exportTimer;
          xpu-benchmark = {
            wantedBy = [ "timers.target" ];
            timerConfig = {
              OnCalendar = "Sun 03:00";
              Persistent = true;
            };
          };
        };
        scripts = {
          xpu-export = exportScript "--ollama http://10.0.0.5:11434" null;
          xpu-benchmark = ''
            set -eu
            exec /nix/store/00000000000000000000000000000000-xpu-testkit/bin/xpu bench ollama --out /var/lib/xpu-monitoring/bench --journal ollama.service \
              '--backend=ollama1=http://10.0.0.5:11434'
          '';
        };
      };
    };
  };
  benchmark-without-ollama = {
    result = harness {
      modules = [
        module
        { services.intel-xpu.monitoring = { enable = true; benchmark.enable = true; }; }
      ];
    };
    expect.failedAssertions = [
      "services.intel-xpu.monitoring.benchmark measures Ollama and llama-server, but neither is configured: enable services.ollama, or set services.intel-xpu.monitoring.ollamaUrls or services.intel-xpu.monitoring.benchmark.llamaCpp."
    ];
  };
  # llama-server endpoints side by side with Ollama: `xpu bench llm`, each with its CPU server or not
  benchmark-with-llama-cpp = {
    result = harness {
      modules = [
        module
        {
          services.intel-xpu.monitoring = {
            enable = true;
            ollamaUrls = [ "http://10.0.0.5:11434" ];
            benchmark = {
              enable = true;
              llamaCpp = {
                vulkan = {
                  url = "http://127.0.0.1:8080";
                  cpuUrl = "http://127.0.0.1:8081";
                };
                sycl.url = "http://127.0.0.1:8082";
              };
            };
          };
        }
      ];
    };
    expect = {
      failedAssertions = [ ];
      monitoring.node = node;
      monitoring.ruleFiles = [ ];
      monitoring.timers = {
        xpu-export = exportTimer;
        xpu-benchmark = {
          wantedBy = [ "timers.target" ];
          timerConfig = {
            OnCalendar = "weekly";
            Persistent = true;
          };
        };
      };
      monitoring.scripts = {
        xpu-export = exportScript "--ollama http://10.0.0.5:11434" "llm";
        xpu-benchmark = ''
          set -eu
          exec /nix/store/00000000000000000000000000000000-xpu-testkit/bin/xpu bench llm --out /var/lib/xpu-monitoring/bench --journal ollama.service \
            '--backend=ollama1=http://10.0.0.5:11434' '--backend=sycl=llama-cpp:http://127.0.0.1:8082' '--backend=vulkan=llama-cpp:http://127.0.0.1:8080' '--cpu=vulkan=http://127.0.0.1:8081'
        '';
      };
    };
  };
  # llama-server alone is enough to benchmark; its names must not take the Ollama servers'
  benchmark-llama-cpp-only-and-a-taken-name = {
    result = harness {
      modules = [
        module
        {
          services.intel-xpu.monitoring = {
            enable = true;
            benchmark = {
              enable = true;
              llamaCpp.ollama1.url = "http://127.0.0.1:8080";
            };
          };
        }
      ];
    };
    expect.failedAssertions = [
      "services.intel-xpu.monitoring.benchmark.llamaCpp: the names ollama1, ollama2, ... are the Ollama servers' in the benchmark; name the llama-server endpoints otherwise."
    ];
  };
  benchmark-without-the-test-kit = {
    result = harness {
      modules = [
        module
        {
          services.intel-xpu.monitoring = {
            enable = true;
            ollamaUrls = [ "http://10.0.0.5:11434" ];
            benchmark = {
              enable = true;
              package = null;
            };
          };
        }
      ];
    };
    expect.failedAssertions = [
      "services.intel-xpu.monitoring.benchmark needs `xpu bench` from the test kit (pkgs.intel-xpu.xpu-testkit): add this flake's overlay (nixpkgs.overlays = [ intel-xpu.overlays.default ]) or set services.intel-xpu.monitoring.benchmark.package."
    ];
  };
  without-the-xpu-command = {
    result = harness {
      modules = [
        module
        {
          services.intel-xpu.monitoring = {
            enable = true;
          };
          hardware.intel-xpu.xpuPackage = null;
        }
      ];
    };
    expect.failedAssertions = [
      "services.intel-xpu.monitoring needs the xpu command (pkgs.intel-xpu.xpu-tool): add this flake's overlay (nixpkgs.overlays = [ intel-xpu.overlays.default ]) or set hardware.intel-xpu.xpuPackage."
    ];
  };
  # the option it had before there was one package option for xpu: still read, with a warning
  old-package-option = {
    result = harness {
      modules = [
        module
        {
          services.intel-xpu.monitoring = {
            enable = true;
            package = {
              type = "derivation";
              name = "my-xpu";
              outPath = "/nix/store/00000000000000000000000000000000-my-xpu";
              meta.mainProgram = "xpu";
            };
          };
        }
      ];
    };
    expect = {
      failedAssertions = [ ];
      warnings = [
        "The option `services.intel-xpu.monitoring.package' defined in `<unknown-file>' has been renamed to `hardware.intel-xpu.xpuPackage'."
      ];
      monitoring = {
        inherit node;
        ruleFiles = [ ];
        timers.xpu-export = exportTimer;
        scripts.xpu-export = builtins.replaceStrings [ "-xpu-tool/" ] [ "-my-xpu/" ] (
          exportScript "" null
        );
      };
    };
  };
  # every alert's runbook link opens its section of docs/operations.md: by default the file in
  # the Nix store (which the rule file keeps alive), else the address runbookBaseUrl gives
  runbook-links-by-default = {
    result =
      let
        r = harness {
          modules = [
            module
            {
              services.intel-xpu.monitoring.enable = true;
              services.prometheus.enable = true;
            }
          ];
        };
      in
      {
        inherit (r) failedAssertions;
        inherit (r.monitoring) ruleFiles;
        runbooks = runbookUrls r;
      };
    expect = {
      failedAssertions = [ ];
      ruleFiles = [ rules ];
      runbooks = map (a: "file://${../../docs/operations.md}#${a}") anchors;
    };
  };
  runbook-links-on-the-web = {
    result =
      let
        r = harness {
          modules = [
            module
            {
              services.intel-xpu.monitoring = {
                enable = true;
                runbookBaseUrl = "https://git.example.org/me/intel-xpu/blob/main/docs/operations.md";
              };
              services.prometheus.enable = true;
            }
          ];
        };
      in
      {
        inherit (r) failedAssertions;
        inherit (r.monitoring) ruleFiles;
        runbooks = runbookUrls r;
      };
    expect = {
      failedAssertions = [ ];
      ruleFiles = [ (rulesFor "https://git.example.org/me/intel-xpu/blob/main/docs/operations.md") ];
      runbooks = map (a: "https://git.example.org/me/intel-xpu/blob/main/docs/operations.md#${a}") anchors;
    };
  };
  # not a URL (a repository path), a fragment of its own, or a quote that would end the YAML
  # string: refused by the option's type
  runbook-links-that-would-not-open = {
    result = {
      refused = map (
        base:
        !(builtins.tryEval (
          builtins.deepSeq (harness {
            modules = [
              module
              {
                services.intel-xpu.monitoring = {
                  enable = true;
                  runbookBaseUrl = base;
                };
                services.prometheus.enable = true;
              }
            ];
          }).monitoring.ruleFiles true
        )).success
      ) [
        "docs/operations.md"
        "https://example.org/operations.md#alerts"
        "https://example.org/\"x"
        "https://example.org/{{ $labels.id }}"
        "https://example.org/operations.md"
      ];
    };
    expect.refused = [
      true
      true
      true
      true
      false
    ];
  };
  off = {
    result = harness { modules = [ module ]; };
    expect.monitoring = {
      node = {
        enable = false;
        enabledCollectors = [ ];
        extraFlags = [ ];
      };
      ruleFiles = [ ];
      timers = { };
      scripts = { };
    };
  };
}
