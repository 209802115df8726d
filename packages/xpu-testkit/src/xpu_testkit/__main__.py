"""``python -m xpu_testkit`` is the ``xpu`` command."""

import sys

from .cli import main

sys.exit(main())
