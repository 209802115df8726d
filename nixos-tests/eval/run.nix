# Evaluate every case of every *-cases.nix file here: { "<file>/<case>" = { ok; got; expect; }; }
{ lib }:
let
  harness = import ./harness.nix { inherit lib; };
  caseFiles = lib.filterAttrs (name: _: lib.hasSuffix "-cases.nix" name) (builtins.readDir ./.);
  evalFile =
    file:
    lib.mapAttrs' (
      case: c:
      let
        got = lib.getAttrs (lib.attrNames c.expect) c.result;
      in
      lib.nameValuePair "${lib.removeSuffix "-cases.nix" file}/${case}" {
        ok = got == c.expect;
        inherit got;
        inherit (c) expect;
      }
    ) (import (./. + "/${file}") { inherit harness lib; });
in
lib.foldl' (acc: file: acc // evalFile file) { } (lib.attrNames caseFiles)
