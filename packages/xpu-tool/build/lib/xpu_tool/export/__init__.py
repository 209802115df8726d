"""Prometheus metrics for the stack: what `xpu export` writes for node-exporter's textfile collector."""
