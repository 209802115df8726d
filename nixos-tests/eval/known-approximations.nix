# Options a stand-in declares that the real declaration types differently, on purpose, each with
# the reason. drift-stand-ins.nix (checks.drift-stand-ins) accepts exactly these mismatches: a
# mismatch not listed here fails it, and so does an entry here that no longer mismatches.
{
  nixos = { };
  home-manager = {
    "launchd.agents.<name>.config" = ''
      Home Manager's modules/launchd/launchd.nix declares the whole launchd.plist(5) schema as a
      submodule (Darwin only); the stand-in leaves it an open attribute set of anything.
    '';
  };
}
