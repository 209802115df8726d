"""Build the xpu test guest from Debian's packages: a cloud kernel, busybox and bash in an initramfs.

Everything comes from the machine's apt sources by package name (``apt-get download``), so the
guest needs no network beyond the registry and no root. Built guests are cached by their inputs.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import stat
import subprocess
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from xpu_tool.errors import ConfigError

from .errors import VmFailure

KERNEL_META = "linux-image-cloud-amd64"
# Load order: virtio core before the PCI transport, then the console and the network driver.
MODULES = (
    "kernel/drivers/virtio/virtio_ring.ko",
    "kernel/drivers/virtio/virtio.ko",
    "kernel/drivers/virtio/virtio_pci_modern_dev.ko",
    "kernel/drivers/virtio/virtio_pci_legacy_dev.ko",
    "kernel/drivers/virtio/virtio_pci.ko",
    "kernel/drivers/char/virtio_console.ko",
    "kernel/net/core/failover.ko",
    "kernel/drivers/net/net_failover.ko",
    "kernel/drivers/net/virtio_net.ko",
)
ROOT_PASSWORD = "xpu"
# crypt(3) SHA-512 of ROOT_PASSWORD with salt "xpuguest" (openssl passwd -6 -salt xpuguest xpu)
ROOT_HASH = "$6$xpuguest$8vLepI/N3ZpVGmmVNP/pFIiPZ/TI.HRYmTzGyKx3IDVzr7aEGAtJ.9V9PA0vs5pFvg8DXeSYq2.WZknt7gCGJ."
DEFAULT_APPEND = "console=ttyS0 quiet panic=-1"


class GuestBuildError(VmFailure):
    """The guest could not be built (apt sources, disk)."""


@dataclass(frozen=True)
class GuestImage:
    kernel: Path
    initrd: Path
    append: str = DEFAULT_APPEND
    release: str = ""


def _run(argv: list[str], cwd: Path | None = None) -> str:
    try:
        out = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=600, check=False)
    except FileNotFoundError:
        raise GuestBuildError(f"{argv[0]} is not installed") from None
    if out.returncode != 0:
        raise GuestBuildError(f"{' '.join(argv)} failed: {(out.stderr.strip().splitlines() or ['?'])[-1]}")
    return out.stdout


def kernel_package() -> str:
    """The versioned kernel package the cloud meta-package depends on, e.g. linux-image-6.1.0-56-cloud-amd64."""
    deps: list[str] = re.findall(r"Depends: (linux-image-\S+)", _run(["apt-cache", "depends", KERNEL_META]))
    if not deps:
        raise GuestBuildError(f"apt knows no {KERNEL_META} (run apt-get update)")
    return deps[0]


def _newc(entries: list[tuple[str, int, bytes]]) -> bytes:
    """A cpio archive in the kernel's initramfs ("newc") format. entries: (path, mode, data)."""
    out = bytearray()
    for ino, (name, mode, data) in enumerate([*entries, ("TRAILER!!!", 0, b"")], start=1):
        encoded = name.encode() + b"\0"
        fields = [0x070701, ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(encoded), 0]
        out += b"070701" + b"".join(b"%08X" % f for f in fields[1:])
        out += encoded + b"\0" * (-(110 + len(encoded)) % 4)
        out += data + b"\0" * (-len(data) % 4)
    return bytes(out)


def _initramfs(busybox: Path, bash: Path, modules_dir: Path) -> bytes:
    init = resources.files("xpu_testkit.vm").joinpath("guest_init.sh").read_bytes()
    dirs = ["bin", "dev", "etc", "lib", "lib/modules", "proc", "root", "run", "sys", "tmp", "www"]
    entries: list[tuple[str, int, bytes]] = [(d, stat.S_IFDIR | 0o755, b"") for d in dirs]
    entries += [
        ("init", stat.S_IFREG | 0o755, init),
        ("bin/busybox", stat.S_IFREG | 0o755, busybox.read_bytes()),
        ("bin/sh", stat.S_IFLNK | 0o777, b"busybox"),
        ("bin/bash", stat.S_IFREG | 0o755, bash.read_bytes()),
        (
            "etc/passwd",
            stat.S_IFREG | 0o644,
            b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
        ),
        ("etc/shadow", stat.S_IFREG | 0o600, f"root:{ROOT_HASH}:19000:0:99999:7:::\n".encode()),
        ("etc/group", stat.S_IFREG | 0o644, b"root:x:0:\nvideo:x:44:\nrender:x:105:\nnogroup:x:65534:\n"),
        ("etc/issue", stat.S_IFREG | 0o644, b"xpu test guest\n"),
        ("etc/modules-order", stat.S_IFREG | 0o644, "".join(m.rsplit("/", 1)[1] + "\n" for m in MODULES).encode()),
        ("www/index.html", stat.S_IFREG | 0o644, b"xpu-guest http ok\n"),
    ]
    entries += [
        (f"lib/modules/{m.rsplit('/', 1)[1]}", stat.S_IFREG | 0o644, (modules_dir / m).read_bytes()) for m in MODULES
    ]
    return _newc(entries)


def build_guest(cache_dir: Path) -> GuestImage:
    """Build (or reuse) the test guest below cache_dir."""
    package = kernel_package()
    init_hash = hashlib.sha256(
        resources.files("xpu_testkit.vm").joinpath("guest_init.sh").read_bytes() + repr(MODULES).encode()
    ).hexdigest()[:12]
    out = cache_dir / f"{package}-{init_hash}"
    kernel, initrd = out / "vmlinuz", out / "initrd.cpio"
    release = package.removeprefix("linux-image-")
    if kernel.exists() and initrd.exists():
        return GuestImage(kernel, initrd, release=release)
    _writable(cache_dir)
    with tempfile.TemporaryDirectory(dir=cache_dir) as tmp:
        work = Path(tmp)
        os.chmod(work, 0o755)  # apt's _apt user must be able to write the downloads
        _run(["apt-get", "download", "-q", package, "busybox-static", "bash-static"], cwd=work)
        for deb in work.glob("*.deb"):
            _run(["dpkg-deb", "-x", str(deb), str(work / "root")])
        root = work / "root"
        kernels = sorted((root / "boot").glob("vmlinuz-*"))
        if not kernels:
            raise GuestBuildError(f"{package} holds no kernel")
        staging = work / "out"
        staging.mkdir()
        shutil.copyfile(kernels[0], staging / "vmlinuz")
        (staging / "initrd.cpio").write_bytes(
            _initramfs(root / "bin/busybox", root / "bin/bash-static", root / "lib/modules" / release)
        )
        out.parent.mkdir(parents=True, exist_ok=True)
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    return GuestImage(kernel, initrd, release=release)


def _writable(cache_dir: Path) -> None:
    """Refuse, before any download, a cache directory that cannot be created or written."""
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        os.rmdir(tempfile.mkdtemp(dir=cache_dir))
    except OSError as exc:
        raise ConfigError(
            f"cannot write the guest cache {cache_dir} ({exc.strerror or exc}); set XDG_CACHE_HOME "
            "to a writable directory (the guest goes to $XDG_CACHE_HOME/xpu-testkit/guests)"
        ) from None


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "xpu-testkit" / "guests"
