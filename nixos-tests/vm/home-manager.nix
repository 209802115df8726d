# homeManagerModules.default on a VM without an Intel GPU: Home Manager's services.ollama as
# alice's user unit with services.ollama.intel (vulkan), the environment in the unit, and a tiny
# model generating on the CPU fallback, checked by `xpu check ollama`.
# Run it alone with: nix build .#checks.x86_64-linux.vm-home-manager
{ homeManagerModule, intelXpuHomeModule }:
{
  name = "intel-xpu-home-manager";

  nodes.machine = {
    imports = [ homeManagerModule ];

    hardware.intel-xpu = {
      enable = true;
      users = [ "alice" ];
    };
    users.users.alice = {
      isNormalUser = true;
      linger = true; # start alice's user units at boot
    };

    home-manager = {
      useGlobalPkgs = true; # the nodes' read-only pkgs, with this flake's overlay
      users.alice = {
        imports = [ intelXpuHomeModule ];
        services.ollama = {
          enable = true;
          intel.enable = true;
        };
        home.stateVersion = "25.11";
      };
    };

    virtualisation = {
      graphics = false;
      qemu.options = [ "-vga none" ];
      memorySize = 3072;
    };
  };

  testScript = ''
    import json

    machine.wait_for_unit("ollama.service", "alice")
    machine.wait_for_open_port(11434)

    with subtest("the user unit carries the Intel environment"):
        env = machine.succeed("su - alice -c 'XDG_RUNTIME_DIR=/run/user/$(id -u) systemctl --user show -p Environment --value ollama.service'")
        assert "OLLAMA_VULKAN=1" in env and "ZES_ENABLE_SYSMAN=1" in env, env

    with subtest("a tiny model generates through alice's Ollama"):
        status, out = machine.execute("su - alice -c 'xpu check ollama http://127.0.0.1:11434 --json'")
        print(out)
        report = json.loads(out)
        assert status == 0 and report["ok"] and report["generation"]["eval_count"] > 0, report
  '';
}
