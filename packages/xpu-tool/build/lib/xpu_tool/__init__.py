"""The host tool of the Intel GPU (XPU) AI stack: probe, diagnose and check it on Linux and NixOS."""

__version__ = "0.1.0"
