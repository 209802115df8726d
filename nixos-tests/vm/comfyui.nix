# services.comfyui.intel on a VM without an Intel GPU: this flake's ComfyUI (MordragT's XPU
# PyTorch) with device = "cpu" serves, runs the model-free workflow through /prompt and the
# websocket, and the output image is read back and checked by `xpu check comfyui`; with
# --expect-gpu a random-weight SD1.5 checkpoint (`xpu tiny-checkpoint`) runs a sampler step on the
# CPU and the check fails, saying so.
# Run it alone with: nix build .#checks.x86_64-linux.vm-comfyui
{
  name = "intel-xpu-comfyui";

  nodes.machine = {
    services.comfyui = {
      enable = true;
      intel = {
        enable = true;
        device = "cpu";
      };
    };
    virtualisation = {
      graphics = false;
      qemu.options = [ "-vga none" ];
      memorySize = 4096;
      diskSize = 8192;
    };
  };

  testScript = ''
    import json

    machine.wait_for_unit("comfyui.service")
    machine.wait_for_open_port(8188)

    with subtest("the unit runs on the CPU with the render groups and the Intel environment"):
        cmdline = machine.succeed("systemctl show -p ExecStart --value comfyui.service")
        assert "--cpu" in cmdline and "--listen=127.0.0.1,::1" in cmdline, cmdline
        groups = machine.succeed("systemctl show -p SupplementaryGroups --value comfyui.service").split()
        assert "render" in groups and "video" in groups, groups
        env = machine.succeed("systemctl show -p Environment --value comfyui.service")
        assert "ZES_ENABLE_SYSMAN=1" in env, env

    with subtest("the model-free workflow runs and its image is checked"):
        status, out = machine.execute(
            "xpu check comfyui http://127.0.0.1:8188 --workflow model-free --json"
        )
        print(out)
        report = json.loads(out)
        assert status == 0 and report["ok"], report
        assert report["device"]["type"] == "cpu", report["device"]
        assert report["images"] and report["images"][0]["width"] > 0, report["images"]

    with subtest("the check insisting on the GPU runs a model on the CPU, then fails and says so"):
        machine.succeed(
            "xpu tiny-checkpoint /var/lib/comfyui/models/checkpoints/xpu-tiny-sd15.safetensors"
        )
        status, out = machine.execute("xpu check comfyui http://127.0.0.1:8188 --json --expect-gpu")
        print(out)
        report = json.loads(out)
        assert status == 1 and report["sampler_steps"] >= 1, report
        assert report["findings"], out
  '';
}
