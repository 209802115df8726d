# The machine: boot loader, user, the Intel GPU and Ollama on it. Merge in what your old
# /etc/nixos/configuration.nix had (host name, time zone, desktop, SSH); the disks are in
# hardware-configuration.nix.
{ pkgs, ... }:
{
  # UEFI with systemd-boot, as `nixos-generate-config` proposes on a UEFI machine: the EFI system
  # partition is the /boot that hardware-configuration.nix mounts. (Legacy BIOS: instead
  # boot.loader.grub.enable = true; boot.loader.grub.devices = [ "/dev/sda" ];)
  boot.loader.systemd-boot.enable = true;
  boot.loader.efi.canTouchEfiVariables = true;

  networking.hostName = "ai-box";

  hardware.intel-xpu = {
    enable = true;
    driver = "xe"; # Lunar Lake, Battlemage and newer need xe; "i915" for older GPUs
    users = [ "alice" ];
  };
  boot.kernelPackages = pkgs.linuxPackages_latest;

  services.ollama = {
    enable = true;
    intel.enable = true; # the Vulkan backend; compare with `xpu bench ollama`
  };

  users.users.alice = {
    isNormalUser = true;
    extraGroups = [ "wheel" ];
  };

  # the NixOS release you first installed; keep it when you upgrade
  system.stateVersion = "25.11";
}
