# ipex-benchmarks: one command that benchmarks the Intel GPU services on this machine against
# the CPU (the `xpu bench` commands of xpu-testkit), writing JSON, Markdown and a chart.
{
  writeShellApplication,
  xpu-testkit,
}:

writeShellApplication {
  name = "ipex-benchmarks";
  runtimeInputs = [ xpu-testkit ];
  text = builtins.readFile ./ipex-benchmarks.sh;
}
