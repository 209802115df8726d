"""Launchers of real servers for tests (IPEX-LLM Ollama, ComfyUI on the CPU) and the SD1.5 checkpoint writer."""
