"""The one base of the VM runner's and passthrough's failures; ``xpu vm`` maps it to exit 5
(``cli/vm.py``'s ``EXIT_CODES``, registered with the host tool's CLI)."""

from xpu_tool.errors import XpuError


class VmFailure(XpuError):
    """A VM failed: it did not boot or died, its guest could not be built, or its device could not be
    bound to vfio-pci or given back (the VM runner and passthrough raise subclasses)."""
