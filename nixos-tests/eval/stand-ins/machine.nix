# What every NixOS machine sets and no module of this flake reads: file systems, the boot loader,
# the hardware scan's kernel modules (nixos-generate-config's hardware-configuration.nix). Declared
# loosely, for the cases that evaluate a whole machine (`wholeMachine = true`: the examples, with
# typical-hardware-configuration.nix) and for the stand-in nixosSystem. Two of NixOS's own
# assertions come with them, as NixOS words them (nixos/modules/system/boot/loader/grub/grub.nix,
# nixos/modules/system/boot/stage-1.nix), together with GRUB being the default boot loader until
# another one (systemd-boot.nix: grub.enable = mkDefault false) is chosen: a machine without a boot
# loader or a root file system fails here as `nixos-rebuild` would. All the rest of what NixOS
# asserts of a machine only `nix flake check` (checks.eval-modules-nixos) shows; these
# declarations are not compared with NixOS's (drift-stand-ins.nix), being loose on purpose.
{ config, lib, ... }:
let
  inherit (lib) mkOption types;
  bool =
    default:
    mkOption {
      type = types.bool;
      inherit default;
    };
  list = mkOption {
    type = types.listOf types.anything;
    default = [ ];
  };
in
{
  options = {
    fileSystems = mkOption {
      type = types.attrsOf types.anything;
      default = { };
    };
    swapDevices = list;
    boot.loader.grub.enable = bool true;
    boot.loader.grub.devices = list;
    boot.loader.systemd-boot.enable = bool false;
    boot.loader.efi.canTouchEfiVariables = bool false;
    boot.initrd.availableKernelModules = list;
    boot.kernelModules = list;
    boot.extraModulePackages = list;
    networking.useDHCP = bool true;
    networking.hostName = mkOption {
      type = types.str;
      default = "nixos";
    };
    hardware.cpu.intel.updateMicrocode = bool false;
    nixpkgs.hostPlatform = mkOption { type = types.anything; };
  };
  config = {
    boot.loader.grub.enable = lib.mkIf config.boot.loader.systemd-boot.enable (lib.mkDefault false);
    assertions = [
      {
        assertion = !config.boot.loader.grub.enable || config.boot.loader.grub.devices != [ ];
        message = "You must set the option ‘boot.loader.grub.devices’ or 'boot.loader.grub.mirroredBoots' to make the system bootable.";
      }
      {
        assertion = config.fileSystems ? "/";
        message = "The ‘fileSystems’ option does not specify your root file system.";
      }
    ];
  };
}
