"""The ``xpu`` command's exit codes: one table from the kind of failure to the code.

    0    ok: the stack is usable, the check passed
    1    a blocking finding or a failed check (a service answered wrongly, or not in time)
    2    usage or configuration: a bad flag, URL, inventory, file (one line on stderr)
    4    a target or service unreachable: its transport failed (ssh cannot connect, a console stopped
         answering), or nothing listens at a service's URL (connection refused, the host does not
         resolve): one line naming it
    5    a VM failed: it did not boot or died, its guest could not be built, or its device could not
         be bound to vfio-pci or given back
    70   an internal error, i.e. a bug (EX_SOFTWARE; one line, XPU_DEBUG=1 shows the trace)
    130  interrupted (Ctrl-C, SIGTERM, SIGHUP), after QEMU is stopped and drivers are restored

Expected failures raise a typed exception (``XpuError`` subclasses); ``for_exception`` maps each to
its code, so none of them is ever an internal error. The test kit's errors map through their
bases (``VmFailure``, ``XpuError``).
"""

from __future__ import annotations

from enum import IntEnum

from ..errors import ConfigError, VmFailure, XpuError
from ..services.api import ServiceError
from ..target import CommandFailed, TargetError
from ..transport.console import ConsoleError


class Exit(IntEnum):
    OK = 0
    FAILED = 1
    USAGE = 2
    UNREACHABLE = 4
    VM_FAILED = 5
    INTERNAL = 70
    INTERRUPTED = 130


EXCEPTIONS: tuple[tuple[type[XpuError], Exit], ...] = (  # the first class that matches decides
    (ConfigError, Exit.USAGE),
    (TargetError, Exit.UNREACHABLE),
    (ConsoleError, Exit.UNREACHABLE),
    (VmFailure, Exit.VM_FAILED),
    (ServiceError, Exit.FAILED),
    (CommandFailed, Exit.FAILED),
    (XpuError, Exit.FAILED),
)


def _codes_help(doc: str) -> str:
    """The table above, as `--help` shows it (every command's epilog)."""
    table = doc.split("\n\n")[1]
    return "exit codes:\n" + "\n".join(
        "  " + line.strip() if line.strip()[:1].isdigit() else "        " + line.strip() for line in table.splitlines()
    )


EXIT_CODES_HELP = _codes_help(__doc__ or "")

SERVICE_ERRORS = (ServiceError,)  # its ``kind`` says whether the service could be reached at all


def for_exception(exc: XpuError) -> Exit:
    if isinstance(exc, SERVICE_ERRORS) and exc.kind == "unreachable":
        return Exit.UNREACHABLE
    return next(code for kind, code in EXCEPTIONS if isinstance(exc, kind))


def for_check(ok: bool, unreachable: bool) -> Exit:
    """A service check that ran to its end: UNREACHABLE when the service could not be reached at all."""
    return Exit.UNREACHABLE if unreachable else for_outcome(ok)


def for_outcome(ok: bool) -> Exit:
    """A command that ran to its end: OK, or FAILED for a blocking finding or a failed check."""
    return Exit.OK if ok else Exit.FAILED
