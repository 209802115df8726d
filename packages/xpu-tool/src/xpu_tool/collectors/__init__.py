"""Collectors: facts only code running **on** the target can gather.

The scripts here (``ze_probe.py``, ``dpctl_probe.py``, ``torch_probe.py``, ``sysfs_scan.sh``) run on
the target, standard library only, shipped as package data and never importing ``xpu_tool``;
``run.py`` is the host side that runs them (``xpu collect NAME``, else the script sent to the
target's ``python3``).
"""
