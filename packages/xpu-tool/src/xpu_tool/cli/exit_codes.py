"""The ``xpu`` command's exit codes: one table from the kind of failure to the code.

    0    ok: the stack is usable, the check passed
    1    a blocking finding or a failed check (a service answered wrongly or not in time, or failed TLS)
    2    usage or configuration: a bad flag, URL, inventory, file (one line on stderr)
    4    a target or service unreachable: its transport failed (ssh cannot connect, a console stopped
         answering), or nothing listens at a service's URL (connection refused, the host does not
         resolve): one line naming it
    5    a VM failed (the test kit's `xpu vm`): it did not boot or died, its guest could not be built,
         or its device could not be bound to vfio-pci or given back
    70   an internal error, i.e. a bug (EX_SOFTWARE; one line, XPU_DEBUG=1 shows the trace)
    130  interrupted (Ctrl-C, SIGTERM, SIGHUP), after QEMU is stopped and drivers are restored

Expected failures raise a typed exception (``XpuError`` subclasses); ``for_exception`` maps each to
its code, so none of them is ever an internal error. A command an installed package adds (an
``xpu_tool.commands`` entry point) may register its own exceptions: an optional ``EXIT_CODES``
attribute on its module, ``((ExceptionClass, Exit.CODE), ...)``, tried after this table's rows and
before its last, ``XpuError``'s. The test kit registers 5 for its ``VmFailure`` that way; its other
errors map through ``XpuError`` (or ``ServiceError``).
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import IntEnum
from types import ModuleType

from ..errors import ConfigError, XpuError
from ..services.api import ServiceError
from ..target import CommandFailed, TargetError
from ..transport.console import ConsoleError


class Exit(IntEnum):
    OK = 0
    FAILED = 1
    USAGE = 2
    UNREACHABLE = 4
    VM_FAILED = 5  # the test kit's: its `xpu vm` registers it (EXIT_CODES on the command's module)
    INTERNAL = 70
    INTERRUPTED = 130


Rows = tuple[tuple[type[XpuError], Exit], ...]

EXCEPTIONS: Rows = (  # the first class that matches decides; the commands' own rows go before the last
    (ConfigError, Exit.USAGE),
    (TargetError, Exit.UNREACHABLE),
    (ConsoleError, Exit.UNREACHABLE),
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


def registered(commands: Iterable[ModuleType]) -> Rows:
    """The rows the commands' modules register (their optional ``EXIT_CODES``), in their order."""
    return tuple(row for module in commands for row in getattr(module, "EXIT_CODES", ()))


def table(extra: Rows = ()) -> Rows:
    """The whole table with the commands' rows (``registered``): after the host tool's own, before
    ``XpuError``'s, so a command's row decides for its own classes and never for the host tool's."""
    return (*EXCEPTIONS[:-1], *extra, EXCEPTIONS[-1])


def for_exception(exc: XpuError, extra: Rows = ()) -> Exit:
    if isinstance(exc, SERVICE_ERRORS) and exc.kind == "unreachable":
        return Exit.UNREACHABLE
    return next(code for kind, code in table(extra) if isinstance(exc, kind))


def for_check(ok: bool, unreachable: bool) -> Exit:
    """A service check that ran to its end: UNREACHABLE when the service could not be reached at all."""
    return Exit.UNREACHABLE if unreachable else for_outcome(ok)


def for_outcome(ok: bool) -> Exit:
    """A command that ran to its end: OK, or FAILED for a blocking finding or a failed check."""
    return Exit.OK if ok else Exit.FAILED
