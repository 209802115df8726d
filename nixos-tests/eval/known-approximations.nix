# Options a stand-in declares that the real declaration types differently, on purpose, each with
# the reason. drift-stand-ins.nix (checks.drift-stand-ins) accepts exactly these mismatches: a
# mismatch not listed here fails it, and so does an entry here that no longer mismatches.
{
  nixos = { };
  home-manager = {
    "systemd.user.services" = ''
      Home Manager's modules/systemd.nix types each unit as a submodule: its freeformType
      (sections of primitives or lists of them) plus declared Unit.Description (default null),
      Unit.Documentation, Unit.X-Reload-Triggers, Unit.X-Restart-Triggers, Unit.X-SwitchMethod,
      Service.Environment and Service.ExecStart (apply lib.toList). The stand-in keeps only the
      freeform layout, so a unit reads back as the module wrote it; with the declared options
      every unit would also carry their defaults, which the Home Manager cases do not expect.
    '';
    "launchd.agents.<name>.config" = ''
      Home Manager's modules/launchd/launchd.nix declares the whole launchd.plist(5) schema as a
      submodule (Darwin only); the stand-in leaves it an open attribute set of anything.
    '';
  };
}
