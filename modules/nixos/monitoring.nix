# services.intel-xpu.monitoring: `xpu export` on a timer into node-exporter's textfile collector,
# an opt-in periodic benchmark whose speed becomes metrics too, and Prometheus alert rules.
# docs/operations.md explains the metrics and what to do about each alert.
{
  config,
  lib,
  pkgs,
  ...
}:
let
  inherit (lib) types;
  cfg = config.services.intel-xpu.monitoring;
  xpuPackage = config.hardware.intel-xpu.xpuPackage;
  packageOption = import ../lib/overlay-package-option.nix { inherit lib pkgs; };
  stateDir = "/var/lib/xpu-monitoring";
  textfileDir = "${stateDir}/textfile";
  llamaCpp = cfg.benchmark.llamaCpp;
  # `xpu bench ollama` while only Ollama is measured (its report as before), else `xpu bench llm`
  benchCommand = if llamaCpp == { } then "ollama" else "llm";
  benchJson = "${stateDir}/bench/${benchCommand}-bench.json";
  user = "xpu-monitoring";

  ollama = config.services.ollama or { };
  comfyui = config.services.comfyui or { };
  llamaCppService = config.services.llama-cpp or { };
  loopbackOr = address: if lib.elem address [ "0.0.0.0" "::" "" ] then "127.0.0.1" else address;
  urlHost = address: if lib.hasInfix ":" address then "[${address}]" else address;
  ollamaUrls = lib.optional (ollama.enable or false) "http://${urlHost (loopbackOr ollama.host)}:${toString ollama.port}";
  comfyuiUrls = lib.optional (
    comfyui.enable or false
  ) "http://${urlHost (loopbackOr (lib.head (comfyui.listen ++ [ "127.0.0.1" ])))}:${toString comfyui.port}";
  llamaCppUrls = lib.optional (
    llamaCppService.enable or false
  ) "http://${urlHost (loopbackOr llamaCppService.host)}:${toString llamaCppService.port}";
  serviceArgs = lib.concatMap (u: [ "--ollama" u ]) cfg.ollamaUrls
    ++ lib.concatMap (u: [ "--comfyui" u ]) cfg.comfyuiUrls
    ++ lib.concatMap (u: [ "--llama-cpp" u ]) cfg.llamaCppUrls;

  # docs/operations.md as this configuration's Nix store holds it: the runbook links' default
  operationsDoc = "file://${../../docs/operations.md}";
  # the repository's rules with each runbook_url's @runbookBaseUrl@ replaced; written at
  # evaluation (builtins.toFile: nothing to build), and it keeps the store's operations.md alive
  # where the default links to it
  alertRules = builtins.toFile "xpu-alerts.yml" (
    builtins.replaceStrings [ "@runbookBaseUrl@" ] [ cfg.runbookBaseUrl ] (
      builtins.readFile ./monitoring/xpu-alerts.yml
    )
  );

  xpu = lib.getExe xpuPackage;
  exportScript = pkgs.writeShellScript "xpu-export" ''
    set -u
    bench=()
    if [ -e ${benchJson} ]; then bench=(--bench-json ${benchJson}); fi
    exec ${xpu} export --textfile ${textfileDir}/xpu.prom --timeout ${toString cfg.timeout} \
      ${lib.escapeShellArgs serviceArgs} \
      "''${bench[@]}"
  '';
  benchScript = pkgs.writeShellScript "xpu-benchmark" ''
    set -eu
    exec ${lib.getExe cfg.benchmark.package} bench ${benchCommand} --out ${stateDir}/bench --journal ollama.service \
      ${
        lib.escapeShellArgs (
          lib.imap1 (i: u: "--backend=ollama${toString i}=${u}") cfg.ollamaUrls
          ++ lib.concatLists (
            lib.mapAttrsToList (
              name: e: [ "--backend=${name}=llama-cpp:${e.url}" ] ++ lib.optional (e.cpuUrl != null) "--cpu=${name}=${e.cpuUrl}"
            ) llamaCpp
          )
        )
      }
  '';
  # Both units run as the static user xpu-monitoring, in render and video so that the
  # render-node check means what it says, and see the system read-only but for their own state
  # directory (/var/lib/xpu-monitoring/<dir>), with DRM devices only and no capabilities.
  hardened = dir: {
    User = user;
    Group = user;
    SupplementaryGroups = [
      "render"
      "video"
    ];
    StateDirectory = "xpu-monitoring/${dir}";
    StateDirectoryMode = "0755"; # node-exporter reads the textfile
    UMask = "0022";
    ProtectSystem = "strict";
    ProtectHome = true;
    ProtectProc = "invisible";
    PrivateTmp = true;
    PrivateMounts = true;
    # /dev/dri only (PrivateDevices would hide it); /sys stays readable (ProtectKernelTunables
    # makes it read-only)
    PrivateDevices = false;
    DevicePolicy = "closed";
    DeviceAllow = [ "char-drm" ];
    NoNewPrivileges = true;
    CapabilityBoundingSet = "";
    AmbientCapabilities = "";
    ProtectKernelTunables = true;
    ProtectKernelModules = true;
    ProtectKernelLogs = true;
    ProtectControlGroups = true;
    ProtectClock = true;
    ProtectHostname = true;
    RestrictNamespaces = true;
    RestrictRealtime = true;
    RestrictSUIDSGID = true;
    LockPersonality = true;
    RemoveIPC = true;
    # HTTP to the services, and systemctl's D-Bus for the unit checks
    RestrictAddressFamilies = [
      "AF_UNIX"
      "AF_INET"
      "AF_INET6"
    ];
    SystemCallArchitectures = "native";
    SystemCallFilter = [
      "@system-service"
      "~@privileged"
    ];
    # left on: the Level Zero and SYCL probes load the GPU compiler, which maps W+X memory
    MemoryDenyWriteExecute = false;
  };
in
{
  imports = [
    ./intel-gpu.nix
    # one option for the xpu package, shared with hardware.intel-xpu
    (lib.mkRenamedOptionModule
      [ "services" "intel-xpu" "monitoring" "package" ]
      [ "hardware" "intel-xpu" "xpuPackage" ]
    )
  ];

  options.services.intel-xpu.monitoring = {
    enable = lib.mkEnableOption "health metrics for the Intel GPU stack (xpu export into node-exporter's textfile collector)";

    interval = lib.mkOption {
      type = types.str;
      default = "5min";
      description = "How often `xpu export` runs (systemd time span, OnUnitActiveSec).";
    };

    timeout = lib.mkOption {
      type = types.ints.positive;
      default = 30;
      description = "Seconds each probe and service check may take before it counts as failed.";
    };

    ollamaUrls = lib.mkOption {
      type = types.listOf types.str;
      default = ollamaUrls;
      defaultText = lib.literalMD "the local `services.ollama`, when enabled";
      description = "Ollama servers to check (reachability, where loaded models run).";
    };

    comfyuiUrls = lib.mkOption {
      type = types.listOf types.str;
      default = comfyuiUrls;
      defaultText = lib.literalMD "the local `services.comfyui`, when enabled";
      description = "ComfyUI servers to check.";
    };

    llamaCppUrls = lib.mkOption {
      type = types.listOf types.str;
      default = llamaCppUrls;
      defaultText = lib.literalMD "the local `services.llama-cpp` (its `host` and `port`), when enabled";
      example = [ "http://127.0.0.1:8080" ];
      description = "llama.cpp servers (llama-server) to check: `/health` and `/props` answer, the model loaded (`xpu_service_up{service=\"llama-cpp\"}`).";
    };

    benchmark = {
      enable = lib.mkEnableOption "a periodic light benchmark of the Ollama servers and the llama-servers in {option}`services.intel-xpu.monitoring.benchmark.llamaCpp` (GPU against CPU, the same model), so regressions show in the metrics";
      schedule = lib.mkOption {
        type = types.str;
        default = "weekly";
        description = "When it runs (systemd OnCalendar).";
      };
      llamaCpp = lib.mkOption {
        type = types.attrsOf (
          types.submodule {
            options = {
              url = lib.mkOption {
                type = types.str;
                example = "http://127.0.0.1:8080";
                description = "The llama-server to measure: its GPU side (started with `-ngl`).";
              };
              cpuUrl = lib.mkOption {
                type = types.nullOr types.str;
                default = null;
                example = "http://127.0.0.1:8081";
                description = "A llama-server with the same model on the CPU (`-ngl 0`): this backend's CPU side. Without it the backend is measured and ranked but gets no GPU-over-CPU verdict.";
              };
            };
          }
        );
        default = { };
        example = lib.literalExpression ''
          {
            vulkan = { url = "http://127.0.0.1:8080"; cpuUrl = "http://127.0.0.1:8081"; };
          }
        '';
        description = ''
          llama-server endpoints, by backend name, that the benchmark puts side by side with the Ollama
          servers (`xpu bench llm`): the same GGUF (the llama-servers' model, which the Ollama servers
          get too), the speeds from each server's own timings, and the fastest backend named.
        '';
      };
      package = packageOption "xpu-testkit" "It provides `xpu bench`, which the host tool in {option}`hardware.intel-xpu.xpuPackage` leaves out; this flake's overlay adds it.";
    };

    runbookBaseUrl = lib.mkOption {
      # a URL without a fragment, with nothing YAML or Prometheus' templates would read as syntax
      type = types.strMatching ''[a-zA-Z][a-zA-Z0-9+.-]*://[^#"\\{}[:space:]]+'';
      default = operationsDoc;
      defaultText = lib.literalExpression ''"file://''${<intel-xpu>/docs/operations.md}" # its copy in the Nix store'';
      example = "https://github.com/you/intel-xpu/blob/main/docs/operations.md";
      description = ''
        Where docs/operations.md opens in a browser. Each alert's `runbook_url` annotation is this
        and the alert's section (`#xpustackunusable`, ...), which Grafana and Alertmanager show as
        a link. The default, the file in the Nix store, opens only on a machine that has it (pasted
        into a browser there; browsers do not follow `file://` links from a web page): set your
        copy's web address (a fork's page on GitHub or GitLab, which renders the sections'
        anchors) for links that open from anywhere.
      '';
    };

    alertRules = lib.mkOption {
      type = types.path;
      readOnly = true;
      default = alertRules;
      defaultText = lib.literalMD "`<intel-xpu>/modules/nixos/monitoring/xpu-alerts.yml` with {option}`services.intel-xpu.monitoring.runbookBaseUrl` in its runbook links";
      description = "Prometheus alert rules for these metrics, for {option}`services.prometheus.ruleFiles` (on this machine's Prometheus with {option}`services.intel-xpu.monitoring.addAlertRules`, or on another's: docs/operations.md).";
    };

    addAlertRules = lib.mkOption {
      type = types.bool;
      default = true;
      description = "Add {option}`services.intel-xpu.monitoring.alertRules` to this machine's Prometheus, when it runs one.";
    };
  };

  config = lib.mkIf cfg.enable {
    assertions = [
      {
        assertion = xpuPackage != null;
        message = "services.intel-xpu.monitoring needs the xpu command (pkgs.intel-xpu.xpu-tool): add this flake's overlay (nixpkgs.overlays = [ intel-xpu.overlays.default ]) or set hardware.intel-xpu.xpuPackage.";
      }
      {
        assertion = !cfg.benchmark.enable || cfg.benchmark.package != null;
        message = "services.intel-xpu.monitoring.benchmark needs `xpu bench` from the test kit (pkgs.intel-xpu.xpu-testkit): add this flake's overlay (nixpkgs.overlays = [ intel-xpu.overlays.default ]) or set services.intel-xpu.monitoring.benchmark.package.";
      }
      {
        assertion = !cfg.benchmark.enable || cfg.ollamaUrls != [ ] || llamaCpp != { };
        message = "services.intel-xpu.monitoring.benchmark measures Ollama and llama-server, but neither is configured: enable services.ollama, or set services.intel-xpu.monitoring.ollamaUrls or services.intel-xpu.monitoring.benchmark.llamaCpp.";
      }
      {
        assertion = lib.all (name: builtins.match "ollama[0-9]+" name == null) (lib.attrNames llamaCpp);
        message = "services.intel-xpu.monitoring.benchmark.llamaCpp: the names ollama1, ollama2, ... are the Ollama servers' in the benchmark; name the llama-server endpoints otherwise.";
      }
    ];

    services.prometheus.exporters.node = {
      enable = lib.mkDefault true;
      enabledCollectors = [ "textfile" ];
      extraFlags = [ "--collector.textfile.directory=${textfileDir}" ];
    };
    services.prometheus.ruleFiles = lib.mkIf (cfg.addAlertRules && (config.services.prometheus.enable or false)) [
      cfg.alertRules
    ];

    users.users.${user} = {
      isSystemUser = true;
      group = user;
    };
    users.groups.${user} = { };

    systemd.services.xpu-export = {
      description = "Export Intel GPU stack health to Prometheus (xpu export)";
      # not `wants`: without a GPU it runs anyway and reports that
      after = [ config.hardware.intel-xpu.renderNodeUnit ];
      serviceConfig = hardened "textfile" // {
        Type = "oneshot";
        ExecStart = exportScript;
      };
    };
    systemd.timers.xpu-export = {
      wantedBy = [ "timers.target" ];
      timerConfig = {
        OnBootSec = "2min";
        OnUnitActiveSec = cfg.interval;
      };
    };

    systemd.services.xpu-benchmark = lib.mkIf cfg.benchmark.enable {
      description = "Benchmark Ollama and llama-server on the Intel GPU against the CPU (xpu bench)";
      serviceConfig = hardened "bench" // {
        Type = "oneshot";
        ExecStart = benchScript;
        # --journal reads ollama.service's journal
        SupplementaryGroups = [
          "render"
          "video"
          "systemd-journal"
        ];
      };
    };
    systemd.timers.xpu-benchmark = lib.mkIf cfg.benchmark.enable {
      wantedBy = [ "timers.target" ];
      timerConfig = {
        OnCalendar = cfg.benchmark.schedule;
        Persistent = true;
      };
    };
  };
}
