"""Service checks: Ollama and ComfyUI end to end, and the models they need."""
