"""The test kit's ``xpu`` subcommands, one module each (``add_parser`` and ``run``), registered as
``xpu_tool.commands`` entry points."""
