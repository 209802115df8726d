# services.ollama.intel on VMs without an Intel GPU, one node per backend that this flake ships:
#  - vulkan (nixpkgs' ollama-vulkan): with no GPU it falls back to the CPU, so the whole check
#    passes: a model is created from a GGUF file offline and generates text;
#  - ipex-llm (Intel's IPEX-LLM build): the API serves, the SYCL runner aborts, and the check
#    reads the unit's journal to name the cause (no Intel GPU visible to SYCL).
# Run it alone with: nix build .#checks.x86_64-linux.vm-ollama
let
  node = backend: {
    services.ollama = {
      enable = true;
      intel = {
        enable = true;
        inherit backend;
      };
    };
    virtualisation = {
      graphics = false;
      qemu.options = [ "-vga none" ];
      memorySize = 3072;
      diskSize = 8192;
    };
  };
in
{
  name = "intel-xpu-ollama";

  nodes = {
    vulkan = node "vulkan";
    ipex = node "ipex-llm";
  };

  testScript = ''
    import json

    def check(machine):
        status, out = machine.execute(
            "xpu check ollama http://127.0.0.1:11434 --json --journal ollama.service"
        )
        print(out)
        return status, json.loads(out)

    start_all()

    for machine in (vulkan, ipex):
        with subtest(f"{machine.name}: the unit is confined to DRM devices and set up for Intel GPUs"):
            machine.wait_for_unit("ollama.service")
            machine.wait_for_open_port(11434)
            allow = machine.succeed("systemctl show -p DeviceAllow --value ollama.service")
            assert "char-drm" in allow and "nvidia" not in allow, allow
            env = machine.succeed("systemctl show -p Environment --value ollama.service")
            assert "ZES_ENABLE_SYSMAN=1" in env, env
            groups = machine.succeed("systemctl show -p SupplementaryGroups --value ollama.service")
            assert "video" in groups.split(), groups
            # ordered after the render node's device unit, which never appears here: Ollama
            # starts after systemd's device timeout, and no unit fails
            after = machine.succeed("systemctl show -p After --value ollama.service")
            assert "dev-dri-intel-render.device" in after.split(), after
            assert machine.succeed("systemctl list-units --failed --plain --no-legend").strip() == ""

    with subtest("vulkan: OLLAMA_VULKAN is set and MemoryDenyWriteExecute stays on"):
        assert "OLLAMA_VULKAN=1" in vulkan.succeed("systemctl show -p Environment --value ollama.service")
        assert vulkan.succeed("systemctl show -p MemoryDenyWriteExecute --value ollama.service").strip() == "yes"

    with subtest("vulkan: a model made offline generates text (on the CPU: the VM has no GPU)"):
        status, report = check(vulkan)
        assert status == 0 and report["ok"], report
        assert report["created"] and report["generation"]["eval_count"] > 0, report
        # /api/ps lists the model after generating; where it ran (CPU, or lavapipe's Vulkan
        # device if Ollama takes it) is logged, not asserted: the VM has no Intel GPU either way
        assert report["placement"] is not None and report["placement"]["size"] > 0, report

    with subtest("ipex-llm: the JIT backends may map writable+executable memory"):
        assert ipex.succeed("systemctl show -p MemoryDenyWriteExecute --value ollama.service").strip() == "no"

    with subtest("ipex-llm: the runner aborts without a GPU and the check names why"):
        status, report = check(ipex)
        assert status == 1 and report["created"] and report["generation"] is None, report
        assert [f["id"] for f in report["findings"]] == ["ollama-no-sycl-gpu"], report["findings"]
  '';
}
