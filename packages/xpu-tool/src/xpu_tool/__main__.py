"""``python -m xpu_tool`` is the ``xpu`` command.

``main`` answers ``--version`` before importing the CLI, which imports every subcommand's modules
(requests, prometheus_client, PyYAML, the probes: about 0.3 s): ``xpu --version`` then costs the
interpreter's start and this package's ``__init__``. Everything else goes to ``cli.main``.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from . import __version__


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args == ["--version"]:
        print(f"xpu {__version__}")  # what argparse's version action prints
        return 0
    from .cli import main as cli_main  # noqa: PLC0415 - the CLI imports every command: --version answers without it

    return cli_main(args)


if __name__ == "__main__":
    sys.exit(main())
