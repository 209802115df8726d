"""Probes: each looks at one part of the Intel GPU stack on a target and returns a ProbeResult."""

from .context import ProbeContext

__all__ = ["ProbeContext"]
