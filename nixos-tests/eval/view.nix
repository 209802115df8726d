# What the evaluation cases inspect of a NixOS configuration, shared by harness.nix (the
# stand-ins) and harness-nixos.nix (nixosSystem): `config` in, the outputs the cases name out.
{ lib }:
let
  sorted = v: if lib.isList v then lib.sort lib.lessThan v else v;
  # the settings of nixpkgs' ollama unit that services.ollama.intel changes
  ollamaKeys = [
    "DeviceAllow"
    "DevicePolicy"
    "DynamicUser"
    "MemoryDenyWriteExecute"
    "PrivateDevices"
    "SupplementaryGroups"
  ];
  # the settings of nixpkgs' llama-cpp unit that services.llama-cpp.intel changes or relies on
  llamaCppKeys = [
    "DeviceAllow"
    "DevicePolicy"
    "DynamicUser"
    "MemoryDenyWriteExecute"
    "PrivateDevices"
    "PrivateUsers"
    "SupplementaryGroups"
  ];
  # nixpkgs' ExecStart for llama-server: the program, then utils.escapeSystemdExecArgs' arguments
  # (each a JSON string with % and $ doubled, space-separated); the program without the store
  # directory and hash, the arguments as the list they were
  execStart =
    line:
    let
      parts = builtins.match "/nix/store/[^-]*-([^ ]*) (.*)" line;
      quoted = builtins.split "(\"([^\"\\\\]|\\\\.)*\")" (lib.elemAt parts 1);
      unescape = q: builtins.replaceStrings [ "%%" "$$" ] [ "%" "$" ] (builtins.fromJSON (lib.head q));
    in
    {
      program = lib.head parts;
      args = map unescape (lib.filter lib.isList quoted);
    };
in
config:
{
  failedAssertions = map (a: a.message) (lib.filter (a: !a.assertion) config.assertions);
  graphics = config.hardware.graphics.enable;
  extraPackages = map (p: p.name) config.hardware.graphics.extraPackages;
  kernelParams = config.boot.kernelParams;
  users = lib.mapAttrs (_: u: u.extraGroups) config.users.users;
  sessionVariables = config.environment.sessionVariables;
  systemPackages = map (p: p.name) config.environment.systemPackages;
  units = lib.mapAttrs (_: u: {
    inherit (u) wantedBy wants after;
    serviceConfig = lib.filterAttrs (n: _: n != "ExecStart") u.serviceConfig;
  }) config.systemd.services;
  # lists sorted: their order follows module order and means nothing to systemd
  ollamaUnit =
    (lib.mapAttrs (_: u: {
      wants = sorted u.wants;
      after = sorted u.after;
      serviceConfig = lib.mapAttrs (_: sorted) (
        lib.filterAttrs (n: _: lib.elem n ollamaKeys) u.serviceConfig
      );
    }) config.systemd.services).ollama or null;
  ollamaPackage = config.services.ollama.package.name;
  warnings = config.warnings;
  firewallTCP = config.networking.firewall.allowedTCPPorts;
  udevRules = lib.filter (l: l != "") (lib.splitString "\n" config.services.udev.extraRules);
  monitoring = {
    node = config.services.prometheus.exporters.node;
    ruleFiles = map toString config.services.prometheus.ruleFiles;
    timers = lib.mapAttrs (_: t: { inherit (t) wantedBy timerConfig; }) config.systemd.timers;
    # the body of writeShellScript's text, without the `#!` line and the newline it adds
    scripts = lib.mapAttrs (_: u: lib.head (builtins.match "#![^\n]*\n(.*)\n" u.serviceConfig.ExecStart.text)) (
      lib.filterAttrs (n: _: lib.hasPrefix "xpu-" n) config.systemd.services
    );
  };
  # what this flake appends to nixpkgs' preStart (which copies custom_nodes, input, output and
  # models from the package on first start): from its `find` on
  comfyuiPreStart =
    let
      preStart = (config.systemd.services.comfyui or { preStart = ""; }).preStart;
      ours = builtins.match "(.*\n)?(find .*)" preStart;
    in
    if ours == null then "" else lib.last ours;
  comfyui = {
    package = config.services.comfyui.package.name;
    # the unit nixpkgs' module writes from the package: lib.getExe and its share/comfyui
    execStart = lib.head (lib.splitString " " config.systemd.services.comfyui.serviceConfig.ExecStart);
    copiesFrom = lib.elemAt (builtins.match ".* -r ([^ ]*)/share/comfyui/.*" config.systemd.services.comfyui.preStart) 0;
    args = config.services.comfyui.extraArgs;
    unit =
      let
        u = config.systemd.services.comfyui or null;
      in
      if u == null then
        null
      else
        {
          inherit (u) wants after environment;
          SupplementaryGroups = u.serviceConfig.SupplementaryGroups or null;
        };
  };
  ollamaEnvironment = config.services.ollama.environmentVariables;
  # what hardware.intel-xpu derives from the GPU generation a configuration names (null where
  # the option is not declared); of the initrd's modules only the GPU drivers
  xpuDriver = config.hardware.intel-xpu.driver or null;
  xpuComputeRuntime = config.hardware.intel-xpu.computeRuntime or null;
  initrdKernelModules = lib.filter (m: lib.elem m [ "i915" "xe" ]) config.boot.initrd.kernelModules;
  redistributableFirmware = config.hardware.enableRedistributableFirmware;
  # nixos-hardware's common/gpu/intel, where a case imports it
  intelgpu =
    if config.hardware ? intelgpu then
      { inherit (config.hardware.intelgpu) driver computeRuntime loadInInitrd; }
    else
      null;
  ollamaIgpu = config.services.ollama.intel.igpu or null;
  comfyuiFp64Emulation = config.services.comfyui.intel.fp64Emulation or null;
  # nixpkgs' llama-cpp unit (null when services.llama-cpp is off); lists but the arguments sorted
  llamaCpp =
    let
      u = config.systemd.services.llama-cpp or null;
    in
    if u == null then
      null
    else
      {
        package = config.services.llama-cpp.package.name;
        execStart = execStart u.serviceConfig.ExecStart;
        # NixOS adds PATH (from the unit's `path`) to every unit's environment
        environment = removeAttrs u.environment [ "PATH" ];
        wants = sorted u.wants;
        after = sorted u.after;
        serviceConfig = lib.mapAttrs (_: sorted) (
          lib.filterAttrs (n: _: lib.elem n llamaCppKeys) u.serviceConfig
        );
      };
}
