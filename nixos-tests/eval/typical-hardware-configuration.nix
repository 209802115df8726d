# A typical hardware-configuration.nix, as `nixos-generate-config` writes it for a UEFI machine
# with an NVMe disk and an Intel CPU: what the examples' cases put where the user's own file goes
# (examples/basic-setup/README.md). Not a stand-in: under `nix flake check` all of NixOS
# evaluates it. Left out: the generated `imports = [ (modulesPath +
# "/installer/scan/not-detected.nix") ]`, which only turns on redistributable firmware (the GPU
# module does that where the GPU needs it), and which the module files here do not include.
{ config, lib, ... }:
{
  boot.initrd.availableKernelModules = [
    "xhci_pci"
    "thunderbolt"
    "nvme"
    "usb_storage"
    "sd_mod"
  ];
  boot.kernelModules = [ "kvm-intel" ];
  boot.extraModulePackages = [ ];

  fileSystems."/" = {
    device = "/dev/disk/by-uuid/2f7c1d9e-5b0a-4c3e-9a71-6d2b8e4f0c11";
    fsType = "ext4";
  };
  fileSystems."/boot" = {
    device = "/dev/disk/by-uuid/7A3C-1F2E";
    fsType = "vfat";
    options = [
      "fmask=0077"
      "dmask=0077"
    ];
  };
  swapDevices = [ ];

  networking.useDHCP = lib.mkDefault true;
  nixpkgs.hostPlatform = lib.mkDefault "x86_64-linux";
  hardware.cpu.intel.updateMicrocode = lib.mkDefault config.hardware.enableRedistributableFirmware;
}
