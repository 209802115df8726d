"""Test doubles for what cannot run on machines without an Intel GPU.

Each double is a real HTTP server on 127.0.0.1 that follows the real service's documented API and
replays recorded responses; every sample names its source and version beside it. What a double
does not model is listed in its module docstring.
"""
