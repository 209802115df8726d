# A stand-in of a nixpkgs kernel package set (pkgs/top-level/linux-kernels.nix: `packagesFor`
# returns `lib.makeExtensible`; the kernel comes from `callPackage`, so it has `override`, which
# takes an attribute set or a function of the original arguments). Only what NixOS'
# boot.kernelPackages (nixos/modules/system/boot/kernel.nix) uses: `extend`, `kernel.override`,
# `kernel.features`, `kernel.kernelPatches`, `kernel.version`.
{ lib }:
version:
lib.makeExtensible (_: {
  kernel = lib.makeOverridable (
    {
      version,
      kernelPatches ? [ ],
      features ? { },
      randstructSeed ? "",
    }:
    {
      type = "derivation";
      name = "linux-${version}";
      outPath = "/nix/store/00000000000000000000000000000000-linux-${version}";
      inherit
        version
        kernelPatches
        features
        randstructSeed
        ;
    }
  ) { inherit version; };
})
