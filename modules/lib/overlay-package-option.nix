# lib.mkPackageOption for a package this flake's overlay adds under pkgs.intel-xpu: where pkgs
# lacks it (no overlay) the default is null instead of mkPackageOption's "cannot be found" throw,
# so the module using it can assert with a message that names the overlay.
{ lib, pkgs }:
name: extraDescription:
let
  path = [
    "intel-xpu"
    name
  ];
in
lib.mkPackageOption pkgs name {
  default = path;
  nullable = true;
  inherit extraDescription;
}
// lib.optionalAttrs (!lib.hasAttrByPath path pkgs) { default = null; }
