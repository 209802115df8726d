# The cases' harness through nixpkgs' `lib.nixosSystem` (`nix flake check`: checks.eval-modules-nixos),
# where all of NixOS is real: every module of nixos/modules/module-list.nix, its core options and
# assertions. Takes the same arguments as harness.nix and returns the same outputs (view.nix), so
# run.nix evaluates the same cases through it. Evaluation only: nothing is built.
#   nixosSystem  nixpkgs' lib.nixosSystem (nixos/lib/eval-config.nix: modules, specialArgs)
#   pkgs         a real package set; the packages the cases name are replaced by the stand-ins
#                (stand-ins/pkgs.nix) so that names and store paths read as the cases write them
{
  lib,
  nixosSystem,
  pkgs,
}:
let
  standInPkgs = import ./stand-ins/pkgs.nix { inherit lib; };
  pinKernel = import ./pin-kernel.nix;
  # nixpkgs declares what stand-ins/*.nix declare: a case's stand-in module would clash with it
  isStandIn = m: builtins.isPath m && lib.hasPrefix (toString ./stand-ins + "/") (toString m);

  evaluate =
    args@{
      modules,
      kernelVersion ? "6.12.10",
      # harness.nix's: the modules are a whole machine, with their own file systems, boot
      # loader, platform and stateVersion, which NixOS judges as it judges any machine
      wholeMachine ? false,
      # harness.nix's ollamaModule / comfyuiModule: replace nixpkgs' own file ({ } removes it)
      ...
    }:
    let
      variant = builtins.intersectAttrs (lib.functionArgs standInPkgs) args;
      # only the leaves the cases name; bash, coreutils, writeShellScript and the kernels stay real
      leaves = removeAttrs (standInPkgs variant) [
        "bash"
        "coreutils"
        "writeShellScript"
        "linuxPackages_latest"
        "driversi686Linux"
      ];
      # `//` cannot drop an attribute: a variant without ollama-vulkan or llama-cpp-vulkan removes
      # it explicitly
      casePkgs =
        removeAttrs pkgs (
          lib.filter (name: !(leaves ? ${name})) [
            "ollama-vulkan"
            "llama-cpp-vulkan"
          ]
        )
        // leaves;
      replaced =
        lib.optional (args ? ollamaModule) "services/misc/ollama.nix"
        ++ lib.optional (args ? comfyuiModule) "services/misc/comfyui.nix";
    in
    (nixosSystem {
      modules = [
        {
          # paths under nixpkgs' nixos/modules (eval-config.nix's modulesPath)
          disabledModules = replaced;
          # the cases' package set for every module (nixpkgs.nix's own pkgs has a lower priority)
          _module.args.pkgs = lib.mkForce casePkgs;
          # (priority 1001: below the mkDefault of a hardware-configuration.nix)
          nixpkgs.hostPlatform = lib.mkOverride 1001 pkgs.stdenv.hostPlatform.system;
          # survives kernel.nix's apply (extend + kernel.override): pin-kernel.nix
          boot.kernelPackages = lib.mkDefault (pinKernel kernelVersion pkgs.linuxPackages);
        }
      ]
      # what any NixOS machine needs to evaluate, for a case that is only a fragment: a root file
      # system and a boot loader choice. A whole machine brings its own, and NixOS's assertions
      # on them stay as they are.
      ++ lib.optional (!wholeMachine) {
        fileSystems."/" = lib.mkDefault {
          device = "none";
          fsType = "tmpfs";
        };
        boot.loader.grub.enable = lib.mkDefault false;
        system.stateVersion = lib.mkDefault lib.trivial.release;
      }
      ++ lib.optional (args ? ollamaModule) args.ollamaModule
      ++ lib.optional (args ? comfyuiModule) args.comfyuiModule
      ++ lib.filter (m: !isStandIn m) modules;
    }).config;

  view = import ./view.nix { inherit lib; };
  # a bare NixOS machine: what the outputs hold before any case's module adds to them
  base = view (evaluate { modules = [ ]; });
  # what `got` adds to `base`: list items, or attributes that are new or different
  added =
    got: base:
    if lib.isList got then
      lib.filter (x: !lib.elem x base) got
    else
      lib.filterAttrs (n: v: !(base ? ${n}) || base.${n} != v) got;
  addedTo =
    names: got: base:
    got // lib.genAttrs names (n: added got.${n} base.${n});
in
args:
let
  got = view (evaluate args);
in
# failed assertions are all kept: a bare machine has none, and one it had would fail every case
addedTo [
  "warnings"
  "extraPackages"
  "kernelParams"
  "users"
  "sessionVariables"
  "systemPackages"
  "units"
  "firewallTCP"
  "udevRules"
] got base
// {
  monitoring = addedTo [
    "ruleFiles"
    "timers"
  ] got.monitoring base.monitoring;
}
