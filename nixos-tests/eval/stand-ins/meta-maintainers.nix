# meta.maintainers, as nixpkgs' modules/generic/meta-maintainers.nix declares it for NixOS and
# Home Manager. Its value is never read here (lib.maintainers is not part of nixpkgs' library
# alone), so the element check stays as lazy as upstream's.
{ lib, ... }:
{
  options.meta.maintainers = lib.mkOption {
    type = lib.types.listOf (
      lib.mkOptionType {
        name = "maintainer";
        check = m: lib.elem m (lib.attrValues lib.maintainers);
      }
    );
    default = [ ];
  };
}
