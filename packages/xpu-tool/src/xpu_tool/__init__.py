"""Probe, diagnose and test an Intel GPU (XPU) AI stack on Linux and NixOS."""

__version__ = "0.1.0"
