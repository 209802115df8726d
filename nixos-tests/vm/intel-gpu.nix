# The driver module on a VM without an Intel GPU (what every CI runner is): the compute runtime
# lands where the loaders look, the user gets the render group, the render node's device unit
# simply never appears (no unit fails), and `xpu doctor` names the missing GPU as the cause
# instead of blaming the driver stack.
# Run it alone with: nix build .#checks.x86_64-linux.vm-intel-gpu
{
  name = "intel-xpu-driver-stack";

  nodes.machine = {
    hardware.intel-xpu = {
      enable = true;
      users = [ "alice" ];
    };
    users.users.alice.isNormalUser = true;

    virtualisation = {
      graphics = false;
      # no emulated VGA: no DRM device at all, so no render node can appear
      qemu.options = [ "-vga none" ];
    };
  };

  testScript = ''
    import json

    machine.wait_for_unit("multi-user.target")

    with subtest("the compute runtime is where the Level Zero and OpenCL loaders look"):
        machine.succeed("test -e /run/opengl-driver/lib/libze_intel_gpu.so.1")
        machine.succeed("ls /run/opengl-driver/etc/OpenCL/vendors/ | grep -q intel")
        machine.succeed("command -v clinfo xpu")

    with subtest("users listed in hardware.intel-xpu.users may open render nodes"):
        machine.succeed("id -nG alice | grep -qw render")
        machine.succeed("id -nG alice | grep -qw video")

    with subtest("without a render node nothing fails: its device unit stays inactive"):
        machine.succeed("grep -rq 'SYMLINK+=\"dri/intel/render\"' /etc/udev/rules.d/")
        state = machine.succeed("systemctl show -p ActiveState --value dev-dri-intel-render.device")
        assert state.strip() == "inactive", state
        failed = machine.succeed("systemctl list-units --failed --plain --no-legend")
        assert failed.strip() == "", f"failed units on a host without a GPU: {failed}"

    with subtest("xpu doctor blames the missing GPU, not the driver stack"):
        status, out = machine.execute("xpu doctor --json")
        assert status == 1, f"xpu doctor exited {status}, expected 1 (no usable GPU)"
        report = json.loads(out)["reports"][0]
        assert report["usable"] is False
        finding_ids = [f["id"] for f in report["findings"]]
        assert finding_ids[0] == "no-intel-gpu", finding_ids
        probes = {p["probe"]: p for p in report["probes"]}
        assert probes["pci"]["status"] == "absent", probes["pci"]
        # the loader itself comes from the Nix store (the xpu wrapper's LD_LIBRARY_PATH)
        assert probes["level-zero"]["data"]["loader"].startswith("/nix/store/"), probes["level-zero"]

    with subtest("a bad target is one line and exit 2"):
        status, out = machine.execute("xpu doctor --target ftp://nowhere 2>&1")
        assert status == 2 and "Traceback" not in out and len(out.strip().splitlines()) == 1, out
  '';
}
