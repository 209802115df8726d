"""Errors that end a command with a one-line message instead of a traceback."""


class XpuError(Exception):
    """Base class for errors this package reports to the user as one line."""


class ConfigError(XpuError):
    """Bad input from the user: an unknown target URL, an unreadable or invalid inventory.

    The CLI exits 2 on it; the pytest plugin turns it into a usage error.
    """
