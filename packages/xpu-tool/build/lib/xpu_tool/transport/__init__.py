"""Transports: how commands reach a machine (testinfra's local and SSH backends, a VM's console).

The lowest layer above the package's foundations (errors, model, process, http): nothing here
imports a Target, a probe or a service. ``SCHEMES`` are the URL schemes a target may use; the
target layer maps each to its transport.
"""

SCHEMES: tuple[str, ...] = ("local", "ssh", "paramiko", "backdoor", "serial")
