# Every NixOS configuration the documentation shows, evaluated as written: the flakes in
# examples/*/flake.nix and the ```nix blocks of README.md (a whole flake, or a fragment of a
# configuration). A flake's `outputs` is called with stand-in inputs whose nixosSystem hands
# back its modules; the user's own configuration.nix and hardware-configuration.nix are left
# out. Each must evaluate
# with no failed assertion and no warning.
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
  # the user's own files, which the snippets only name
  ownHardware =
    m:
    builtins.isPath m
    && lib.elem (baseNameOf m) [
      "configuration.nix"
      "hardware-configuration.nix"
    ];
  flakeModules =
    flake:
    let
      systems = (flake.outputs inputs).nixosConfigurations;
    in
    lib.concatMap (s: lib.filter (m: !ownHardware m) s.modules) (lib.attrValues systems);
  evaluate =
    modules:
    let
      r = harness {
        modules = [ ./stand-ins/nginx-acme.nix ] ++ modules;
      };
    in
    {
      inherit (r) failedAssertions warnings graphics;
    };
  clean = {
    failedAssertions = [ ];
    warnings = [ ];
    graphics = true;
  };

  examples = lib.mapAttrs' (
    name: _:
    lib.nameValuePair "example-${name}" {
      result = evaluate (flakeModules (import (repo + "/examples/${name}/flake.nix")));
      expect = clean;
    }
  ) (lib.filterAttrs (_: type: type == "directory") (builtins.readDir ../../examples));

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
        result = evaluate (if flake then flakeModules (import file) else [ defaultModule (import file) ]);
        expect = clean;
      }
    ) readmeBlocks
  );
in
examples // readme
