# What the NixOS and Home Manager ComfyUI modules share: the addresses that count as loopback
# (ComfyUI has no authentication, so anything else gets a warning) and the environment that makes
# the GPU compiler emulate FP64 on iGPUs without it.
{
  loopback = [
    "127.0.0.1"
    "::1"
    "localhost"
  ];

  # name/value pairs, in the order they are set
  fp64Emulation = [
    {
      name = "OverrideDefaultFP64Settings";
      value = "1";
    }
    {
      name = "IGC_EnableDPEmulation";
      value = "1";
    }
  ];
}
