# Evaluate every case of every *-cases.nix file here: { "<file>/<case>" = { ok; got; expect; }; }
# `upstream` is upstream.nix applied to the checkouts holding nixpkgs', Home Manager's and
# nixos-hardware's module files; `harness` defaults to the one on nixpkgs' library alone
# (harness.nix) and is harness-nixos.nix under `nix flake check`.
{
  lib,
  upstream,
  harness ? import ./harness.nix { inherit lib upstream; },
}:
let
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
    ) (import (./. + "/${file}") { inherit harness lib upstream; });
in
lib.foldl' (acc: file: acc // evalFile file) { } (lib.attrNames caseFiles)
