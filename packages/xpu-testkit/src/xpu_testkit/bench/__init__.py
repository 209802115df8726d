"""Benchmarks: the same model and prompt on the GPU and on the CPU, side by side per backend."""
