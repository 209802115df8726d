"""Virtual machines as targets: a QEMU runner, console protocols, a Debian test guest, passthrough."""
