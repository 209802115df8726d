"""llama.cpp's llama-server as a checked service: its HTTP API (``client``), the evidence of where
it ran in its own log (``log``, a saved log file read by ``logfile``), the findings made of them
(``findings``), and the end-to-end check (``check``, `xpu check llama-cpp`).

Self-contained: the CLI, the quick check of ``xpu export`` and the test kit import from here.
"""

from __future__ import annotations

from .check import LlamaCppCheck, check_llama_cpp, check_llama_cpp_quickly
from .client import Completion, LlamaCppClient, LlamaCppError, Props, Timings
from .findings import judge_evidence
from .log import Device, LogEvidence, parse_log
from .logfile import read_log_file

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
