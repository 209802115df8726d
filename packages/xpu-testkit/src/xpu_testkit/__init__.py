"""The test kit on top of the host tool (xpu_tool): the pytest plugin, the QEMU VM runner and VFIO
passthrough, benchmarks with their charts, service doubles, and the launchers and model writers
only tests need. Its ``xpu`` subcommands (bench, vm, tiny-model, tiny-checkpoint) join the host
tool's command through the ``xpu_tool.commands`` entry points."""

__version__ = "0.1.0"
