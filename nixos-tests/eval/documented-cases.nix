# Every NixOS configuration the documentation shows, evaluated as written: the flakes in
# examples/*/flake.nix and the ```nix blocks of README.md (a whole flake, or a fragment of a
# configuration). A flake's `outputs` is called with stand-in inputs whose nixosSystem hands
# back its modules. Each must evaluate with no failed assertion and no warning.
#
# The examples are whole machines (`wholeMachine`): the user's hardware-configuration.nix, which
# `nixos-generate-config` writes and the examples do not ship, is a typical one
# (typical-hardware-configuration.nix); everything else is the example's own (its
# configuration.nix included), boot loader and all, and nothing of NixOS's assertions on a
# machine is turned off (harness-nixos.nix under `nix flake check`; stand-ins/machine.nix here).
# README.md's flakes name the user's own files without showing them: there the files are left
# out and the harness supplies a bare machine's file system and boot loader choice.
{ harness, lib, ... }:
let
  repo = ../..;
  defaultModule = {
    imports = [
      ../../modules/nixos/intel-gpu.nix
      ../../modules/nixos/ollama.nix
      ../../modules/nixos/comfyui.nix
      ../../modules/nixos/llama-cpp.nix
      ../../modules/nixos/monitoring.nix
    ];
  };
  inputs = {
    self = { };
    nixpkgs.lib = lib // {
      nixosSystem = args: args;
    };
    intel-xpu = {
      nixosModules.default = defaultModule;
      overlays.default = _: _: { };
    };
  };
  # the user's own files, which the flakes name but do not hold
  isOwn = name: m: builtins.isPath m && baseNameOf m == name && !builtins.pathExists m;
  # `hardware`: what stands for the user's hardware-configuration.nix (null: nothing)
  flakeModules =
    hardware: flake:
    let
      systems = (flake.outputs inputs).nixosConfigurations;
      replace =
        m:
        if isOwn "hardware-configuration.nix" m then
          lib.optional (hardware != null) hardware
        else if isOwn "configuration.nix" m then
          [ ]
        else
          [ m ];
    in
    lib.concatMap (s: lib.concatMap replace s.modules) (lib.attrValues systems);
  evaluateAll =
    extra: modules:
    harness (
      {
        modules = [ ./stand-ins/nginx-acme.nix ] ++ modules;
      }
      // extra
    );
  evaluate =
    extra: modules:
    {
      inherit (evaluateAll extra modules) failedAssertions warnings graphics;
    };
  example = name: import (repo + "/examples/${name}/flake.nix");
  wholeMachine = flakeModules ./typical-hardware-configuration.nix;
  clean = {
    failedAssertions = [ ];
    warnings = [ ];
    graphics = true;
  };

  examples = lib.mapAttrs' (
    name: _:
    lib.nameValuePair "example-${name}" {
      result = evaluate { wholeMachine = true; } (wholeMachine (example name));
      expect = clean;
    }
  ) (lib.filterAttrs (_: type: type == "directory") (builtins.readDir ../../examples));

  # The template uses no MordragT package (Vulkan only): it evaluates with a MordragT flake that
  # throws when read at all, to the same packages, units and assertions as with one that works,
  # so nothing of MordragT's is evaluated (overlays/mordrag.nix is lazy).
  lean =
    let
      outputs = r: {
        inherit (r)
          failedAssertions
          warnings
          graphics
          systemPackages
          units
          extraPackages
          ;
      };
      template = wholeMachine (example "basic-setup");
    in
    {
      example-basic-setup-without-mordrag = {
        result = outputs (evaluateAll {
          wholeMachine = true;
          mordrag = throw "MordragT's flake was evaluated";
        } template);
        expect = outputs (evaluateAll { wholeMachine = true; } template);
      };
    };

  # ```nix blocks of README.md: a block starting with `{` is a flake, anything else a fragment
  # of a configuration (`services.ollama = { ... };`)
  readmeBlocks = lib.pipe (builtins.readFile ../../README.md) [
    (builtins.split "```nix\n")
    lib.tail
    (lib.filter lib.isString)
    (map (s: lib.head (builtins.split "```" s)))
  ];
  readme = lib.listToAttrs (
    lib.imap1 (
      i: text:
      let
        flake = lib.hasPrefix "{" text;
        file = builtins.toFile "readme-${toString i}.nix" (if flake then text else "{ ${text} }");
      in
      lib.nameValuePair "readme-block-${toString i}" {
        result = evaluate { } (
          if flake then flakeModules null (import file) else [ defaultModule (import file) ]
        );
        expect = clean;
      }
    ) readmeBlocks
  );
in
examples // lean // readme
