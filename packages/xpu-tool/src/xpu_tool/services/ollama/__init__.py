"""Ollama as a checked service: its API client (``client``) and the end-to-end check (``check``,
`xpu check ollama`, with the quick check of `xpu export`)."""

from __future__ import annotations

from .check import CHECK_MODEL, OllamaCheck, check_ollama, check_ollama_quickly
from .client import (
    FILES_API_VERSION,
    SIGNATURES,
    Generation,
    OllamaClient,
    OllamaError,
    Placement,
    diagnose_text,
    parse_version,
)

__all__ = [
    "CHECK_MODEL",
    "FILES_API_VERSION",
    "SIGNATURES",
    "Generation",
    "OllamaCheck",
    "OllamaClient",
    "OllamaError",
    "Placement",
    "check_ollama",
    "check_ollama_quickly",
    "diagnose_text",
    "parse_version",
]
