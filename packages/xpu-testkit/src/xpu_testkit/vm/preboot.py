"""What `xpu vm` checks before it starts QEMU, so that what cannot boot is one line and exit 2
instead of a failed boot: a kernel image is a kernel QEMU can load, a run script is a NixOS VM
script, the memory fits this machine (the accelerator: qemu.kvm_device_problem and kvm_trial).

Each check returns None when all is well, else the reason (the caller names the option).
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

HDRS_OFFSET = 0x202  # "HdrS": the Linux x86 boot protocol's header (a bzImage)
MULTIBOOT_MAGIC = 0x1BADB002
MULTIBOOT_SEARCH = 8192  # the multiboot header lies in a file's first 8 KiB, 4-byte aligned
PT_NOTE = 4
XEN_ELFNOTE_PHYS32_ENTRY = 18  # the PVH entry point note QEMU boots an ELF kernel by
MAX_NOTES = 1 << 20
SCRIPT_HEAD = 1 << 20  # a run script is a few KiB; what lies beyond 1 MiB is not read
# nixpkgs' qemu-vm.nix ends its run script with `exec <qemu>/bin/qemu-kvm ...` (qemu-system-* on
# some hosts), with QEMU_OPTS and "$@" after it
STARTS_QEMU = re.compile(rb"^\s*exec\s+(\S*/)?(qemu-kvm|qemu-system-[\w-]+)(\s|$)", re.MULTILINE)


def _multiboot(head: bytes) -> bool:
    for offset in range(0, min(len(head), MULTIBOOT_SEARCH) - 11, 4):
        magic, flags, checksum = struct.unpack_from("<III", head, offset)
        if magic == MULTIBOOT_MAGIC and (magic + flags + checksum) & 0xFFFFFFFF == 0:
            return True
    return False


@dataclass(frozen=True)
class _ElfLayout:
    """Where an ELF class (32 or 64 bit) keeps what the note search reads."""

    word: str  # struct code of an address or offset
    phoff: int  # e_phoff in the file header
    phentsize: int  # e_phentsize (e_phnum follows it)
    p_offset: int  # in a program header
    p_filesz: int


ELF32 = _ElfLayout("I", 0x1C, 0x2A, 4, 16)
ELF64 = _ElfLayout("Q", 0x20, 0x36, 8, 32)


def _elf_notes(f: BinaryIO, head: bytes) -> Iterator[tuple[bytes, int]]:
    """(name, type) of each note in an ELF file's PT_NOTE segments."""
    layout, order = (ELF64 if head[4] == 2 else ELF32), ("<" if head[5] == 1 else ">")
    phoff = struct.unpack_from(order + layout.word, head, layout.phoff)[0]
    phentsize, phnum = struct.unpack_from(order + "HH", head, layout.phentsize)
    for n in range(min(phnum, 64)):
        f.seek(phoff + n * phentsize)
        header = f.read(phentsize)
        if len(header) < layout.p_filesz + 8 or struct.unpack_from(order + "I", header, 0)[0] != PT_NOTE:
            continue
        offset = struct.unpack_from(order + layout.word, header, layout.p_offset)[0]
        size = struct.unpack_from(order + layout.word, header, layout.p_filesz)[0]
        f.seek(offset)
        notes, pos = f.read(min(size, MAX_NOTES)), 0
        while pos + 12 <= len(notes):
            namesz, descsz, kind = struct.unpack_from(order + "III", notes, pos)
            yield notes[pos + 12 : pos + 12 + namesz].rstrip(b"\0"), kind
            pos += 12 + (namesz + 3) // 4 * 4 + (descsz + 3) // 4 * 4


def kernel_problem(path: Path) -> str | None:
    """None when QEMU's `-kernel` can boot ``path``: a Linux bzImage, a multiboot image, or an ELF
    kernel with a PVH entry; else why not."""
    try:
        with open(path, "rb") as f:
            head = f.read(MULTIBOOT_SEARCH)
            if head[HDRS_OFFSET : HDRS_OFFSET + 4] == b"HdrS" or _multiboot(head):
                return None
            if head[:4] == b"\x7fELF" and len(head) >= 0x40:
                if any(name == b"Xen" and kind == XEN_ELFNOTE_PHYS32_ENTRY for name, kind in _elf_notes(f, head)):
                    return None
                return "not a kernel image (an ELF file without a PVH entry: a program, or a vmlinux QEMU cannot boot)"
    except OSError as exc:
        return f"cannot read it: {exc.strerror or exc}"
    except struct.error:
        return "not a kernel image (a truncated ELF file)"
    return 'not a kernel image (a bzImage has "HdrS" at offset 0x202; QEMU also boots multiboot and PVH kernels)'


def run_script_problem(path: Path) -> str | None:
    """None when ``path`` looks like a NixOS VM run script (system.build.vm's bin/run-*-vm): a script
    (#!) that execs QEMU; else why not."""
    try:
        with open(path, "rb") as f:
            head = f.read(SCRIPT_HEAD)
    except OSError as exc:
        return f"cannot read it: {exc.strerror or exc}"
    if head[:2] != b"#!" or not STARTS_QEMU.search(head):
        what = (
            "a program"
            if head[:4] == b"\x7fELF"
            else "a script that does not exec QEMU"
            if head[:2] == b"#!"
            else "not a script"
        )
        return f"not a NixOS VM run script ({what}; system.build.vm's bin/run-*-vm execs qemu-kvm or qemu-system-*)"
    return None


def meminfo(path: str = "/proc/meminfo") -> dict[str, int]:
    """/proc/meminfo's fields in MiB (what could be read of it)."""
    fields: dict[str, int] = {}
    try:
        with open(path) as f:
            for line in f:
                name, _, value = line.partition(":")
                words = value.split()
                if words and words[0].isdigit():
                    fields[name] = int(words[0]) // 1024 if words[1:] == ["kB"] else int(words[0]) >> 20
    except OSError:
        pass
    return fields


def memory_problem(memory_mb: int, *, pinned: bool, fields: dict[str, int] | None = None) -> str | None:
    """None when a VM of ``memory_mb`` MiB fits this machine: at most its MemTotal, and at most what is
    available now when the memory is pinned (a passed-through device locks all of it)."""
    info = meminfo() if fields is None else fields
    total, available = info.get("MemTotal"), info.get("MemAvailable")
    if total is not None and memory_mb > total:
        return f"more than this machine's {total} MiB of memory (MemTotal in /proc/meminfo)"
    if pinned and available is not None and memory_mb > available:
        return f"more than the {available} MiB available now (MemAvailable), and passthrough locks all of a VM's memory"
    return None
