# A NixOS machine for driving by hand or from pytest (pytests/test_vm.py): nixpkgs' test
# instrumentation (the backdoor root shell on hvc0 that xpu-tool's console target speaks),
# no graphics (the serial console goes to the run script's stdout), and the xpu command.
# Build its run script with:
#   nix build .#nixosConfigurations.xpu-test-vm.config.system.build.vm
{ modulesPath, pkgs, ... }:
{
  imports = [ "${modulesPath}/testing/test-instrumentation.nix" ];

  networking.hostName = "xpu-test-vm";
  environment.systemPackages = [ pkgs.intel-xpu.xpu-tool ];

  virtualisation.vmVariant.virtualisation = {
    graphics = false;
    memorySize = 1024;
  };

  system.stateVersion = "25.11";
}
