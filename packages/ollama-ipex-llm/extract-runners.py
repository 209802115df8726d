"""Unpack the model runners an Ollama 0.3 binary embeds, as its server would, without running it.

Ollama 0.3 embeds its runners with Go's `embed` (llm/llm_linux.go: `//go:embed build/linux/*/*/bin/*`),
gzipped, and unpacks `build/linux/<arch>/<variant>/bin/<file>.gz` to `<dir>/<variant>/<file>` at
every start unless the file is already there (llm/payload.go). An embed.FS is a sorted array of
{name string, data string, hash [16]byte} in the binary's data; a Go string is a (pointer,
length) pair. So each runner's name string is found in the file, the array entry that points at
it, and the data it points to.

Usage: extract-runners.py OLLAMA_BINARY OUT_DIR  (prints one line per unpacked file)
"""

from __future__ import annotations

import gzip
import re
import struct
import sys
from dataclasses import dataclass
from pathlib import Path

PAYLOAD = re.compile(rb"build/linux/[a-z0-9_]+/([a-z0-9_]+)/bin/([A-Za-z0-9_.\-]+)\.gz")


@dataclass(frozen=True)
class Segment:
    vaddr: int
    offset: int
    size: int


@dataclass(frozen=True)
class Runner:
    variant: str
    file: str
    payload: bytes  # gzipped


def load_segments(elf: bytes) -> list[Segment]:
    if elf[:4] != b"\x7fELF" or elf[4] != 2 or elf[5] != 1:
        raise ValueError("not a 64-bit little-endian ELF file")
    phoff = struct.unpack_from("<Q", elf, 0x20)[0]
    phentsize, phnum = struct.unpack_from("<HH", elf, 0x36)
    segments = []
    for i in range(phnum):
        kind, _flags, offset, vaddr, _paddr, filesz = struct.unpack_from("<IIQQQQ", elf, phoff + i * phentsize)
        if kind == 1:  # PT_LOAD
            segments.append(Segment(vaddr, offset, filesz))
    return segments


def to_vaddr(segments: list[Segment], offset: int) -> int:
    return next(s.vaddr + offset - s.offset for s in segments if s.offset <= offset < s.offset + s.size)


def to_offset(segments: list[Segment], vaddr: int) -> int:
    return next(s.offset + vaddr - s.vaddr for s in segments if s.vaddr <= vaddr < s.vaddr + s.size)


def runners(elf: bytes) -> list[Runner]:
    segments = load_segments(elf)
    found = {}
    for match in PAYLOAD.finditer(elf):
        name = match.group(0)
        entry = elf.find(struct.pack("<QQ", to_vaddr(segments, match.start()), len(name)))
        if entry < 0:
            continue  # the same text elsewhere (a log message), not an embed.FS name
        pointer, length = struct.unpack_from("<QQ", elf, entry + 16)
        start = to_offset(segments, pointer)
        found[name] = Runner(match.group(1).decode(), match.group(2).decode(), elf[start : start + length])
    if not found:
        raise ValueError("no embedded runners (build/linux/<arch>/<variant>/bin/*.gz) in this binary")
    return [found[name] for name in sorted(found)]


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print("usage: extract-runners.py OLLAMA_BINARY OUT_DIR", file=sys.stderr)
        return 2
    binary, out = Path(argv[1]), Path(argv[2])
    try:
        found = runners(binary.read_bytes())
        for runner in found:
            target = out / runner.variant / runner.file
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(gzip.decompress(runner.payload))
            target.chmod(0o755)
            print(target)
    except (OSError, ValueError, gzip.BadGzipFile, StopIteration) as error:
        print(f"extract-runners: {binary}: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
