# A kernel package set whose kernel reports `kernelVersion`, in a form that survives NixOS'
# boot.kernelPackages `apply` (nixos/modules/system/boot/kernel.nix): it calls
# `kp.extend (self: super: { kernel = super.kernel.override ...; })`, and `extend` rebuilds the set
# from its original function, so a `kp // { kernel = ...; }` is lost, and `override` rebuilds the
# kernel from its arguments, so a `kernel // { version = ...; }` is lost too. Here the version is
# set inside the set (extend) and again on every kernel `override` makes.
kernelVersion: kernelPackages:
let
  pin =
    kernel:
    kernel
    // {
      version = kernelVersion;
      override = f: pin (kernel.override f);
    };
in
kernelPackages.extend (_: super: { kernel = pin super.kernel; })
