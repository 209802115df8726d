"""llama.cpp's llama-server as a checked service: its HTTP API (``client``), the evidence of where
it ran in its own log (``log``), and the end-to-end check (``check``, `xpu check llama-cpp`).

Self-contained: the CLI, the quick check of ``xpu export`` and the test kit import from here.
"""

from __future__ import annotations

from .check import LlamaCppCheck, check_llama_cpp, check_llama_cpp_quickly, judge_evidence, read_log_file
from .client import Completion, LlamaCppClient, LlamaCppError, Props, Timings
from .log import Device, LogEvidence, parse_log

__all__ = [
    "Completion",
    "Device",
    "LlamaCppCheck",
    "LlamaCppClient",
    "LlamaCppError",
    "LogEvidence",
    "Props",
    "Timings",
    "check_llama_cpp",
    "check_llama_cpp_quickly",
    "judge_evidence",
    "parse_log",
    "read_log_file",
]
