"""`xpu vm` refuses what cannot boot before it starts QEMU, as a user runs it (`xpu` in a
subprocess): a kernel image that is no kernel, a run script that is no NixOS VM script, more memory
than the machine has, an accelerator that does not work here, a name that would reach QEMU's
option syntax. Each is one line, exit 2, no QEMU left and no `xpu-vm-*` directory."""

from __future__ import annotations

import fcntl
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from xpu_testkit.vm.guest import GuestImage
from xpu_testkit.vm.preboot import kernel_problem, run_script_problem
from xpu_testkit.vm.qemu import QemuVM, VmSpec

from .faults import fresh_tmpdir
from .test_cli import assert_one_line_error
from .test_vm import qemu_processes

pytestmark = pytest.mark.skipif(
    shutil.which("qemu-system-x86_64") is None, reason="qemu-system-x86_64 is not installed (Debian: qemu-system-x86)"
)

KVM_GET_API_VERSION = 0xAE00


def bzimage(path: Path) -> Path:
    """The smallest file with a Linux x86 boot header: "HdrS" at 0x202 (QEMU reads no more before a
    refusal would have come)."""
    path.write_bytes(b"\0" * 0x202 + b"HdrS" + b"\0" * 0x1000)
    return path


def executable(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(0o755)
    return path


# The shape of nixpkgs' system.build.vm run script (nixos/modules/virtualisation/qemu-vm.nix, startVM)
NIXOS_RUN_SCRIPT = """#! /nix/store/0000000000000000000000000000000a-bash-5.2p37/bin/bash

export PATH=/nix/store/0000000000000000000000000000000b-coreutils-9.5/bin${PATH:+:}$PATH

set -e

NIX_DISK_IMAGE=$(readlink -f "${NIX_DISK_IMAGE:-./xpu-test-vm.qcow2}") || test -z "$NIX_DISK_IMAGE"
cd "$TMPDIR"

# Start QEMU.
exec /nix/store/0000000000000000000000000000000c-qemu-host-9.2.0/bin/qemu-kvm -machine accel=kvm:tcg -cpu max \\
    -name xpu-test-vm \\
    -m 1024 \\
    $QEMU_OPTS \\
    "$@"
"""


def xpu_vm(*args: str, env: dict[str, str], prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*prefix, sys.executable, "-m", "xpu_tool", "vm", "run", *args, "--", "true"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def meminfo_mib(field: str) -> int:
    line = next(ln for ln in Path("/proc/meminfo").read_text().splitlines() if ln.startswith(f"{field}:"))
    return int(line.split()[1]) // 1024


REFUSED = {  # what is given -> the start of its one-line refusal ({path}: the file named)
    "passwd": "--kernel {path}: not a kernel image",
    "program": "--kernel {path}: not a kernel image",  # an ELF program, not a PVH kernel
    "empty": "--kernel {path}: not a kernel image",
    "script-is-a-program": "--run-script {path}: not a NixOS VM run script",
    "script-without-qemu": "--run-script {path}: not a NixOS VM run script",
    "memory": "--memory 99999999: more than this machine's {total} MiB of memory",
    "name": "argument --name: 'x,foo=bar' is not a VM name",
    "name-with-space": "argument --name: 'a b' is not a VM name",
}


@pytest.mark.parametrize("kind", sorted(REFUSED))
def test_what_cannot_boot_is_refused_before_qemu_starts(kind: str, tmp_path: Path) -> None:
    """Before: each tried to boot and ended in exit 5 with 2-3 lines (and a kept xpu-vm-* directory),
    or QEMU took `-name x,foo=bar` as an option list."""
    env, tmp = fresh_tmpdir(tmp_path)
    kernel = str(bzimage(tmp_path / "bzImage"))
    (tmp_path / "empty").write_bytes(b"")
    script = str(executable(tmp_path / "run", "#!/bin/sh\necho starting\nexit 0\n"))
    program = os.path.realpath(sys.executable)
    name = f"xpu-preboot-{os.getpid()}"
    path, args = {
        "passwd": ("/etc/passwd", ["--kernel", "/etc/passwd"]),
        "program": (program, ["--kernel", program]),
        "empty": (str(tmp_path / "empty"), ["--kernel", str(tmp_path / "empty")]),
        "script-is-a-program": ("/bin/false", ["--run-script", "/bin/false"]),
        "script-without-qemu": (script, ["--run-script", script]),
        "memory": ("", ["--kernel", kernel, "--memory", "99999999"]),
        "name": ("", ["--kernel", kernel, "--name", "x,foo=bar"]),
        "name-with-space": ("", ["--kernel", kernel, "--name", "a b"]),
    }[kind]
    if "--name" not in args:
        args += ["--name", name]
    run = xpu_vm(*args, "--accel", "tcg", env=env)
    assert_one_line_error(run, REFUSED[kind].format(path=path, total=meminfo_mib("MemTotal")))
    assert list(tmp.iterdir()) == [] and qemu_processes(name) == [] and qemu_processes("x,foo=bar") == []


def without_kvm() -> tuple[str, ...]:
    """A command prefix under which /dev/kvm is no KVM device (/dev/null bound over it in a mount
    namespace of its own); nothing when this machine has no /dev/kvm at all."""
    if not Path("/dev/kvm").exists():
        return ()
    return (
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        'mount --bind /dev/null /dev/kvm && exec "$@"',
        "sh",
    )


@pytest.mark.parametrize("how", ["option", "environment"])
def test_kvm_that_is_not_there_is_refused_with_the_fix(how: str, tmp_path: Path) -> None:
    """Before: XPU_QEMU_ACCEL=kvm went to QEMU unchecked and the boot failed with exit 5."""
    if os.geteuid() != 0 and Path("/dev/kvm").exists():
        pytest.fail("needs root to hide /dev/kvm in a mount namespace (CI runs as root)")
    env, tmp = fresh_tmpdir(tmp_path)
    name = f"xpu-nokvm-{os.getpid()}"
    args = ["--kernel", str(bzimage(tmp_path / "bzImage")), "--name", name]
    if how == "option":
        run = xpu_vm(*args, "--accel", "kvm", env=env, prefix=without_kvm())
        assert_one_line_error(run, "--accel kvm: KVM does not work here: /dev/kvm")
        assert "use --accel tcg" in run.stderr
    else:
        run = xpu_vm(*args, env={**env, "XPU_QEMU_ACCEL": "kvm"}, prefix=without_kvm())
        assert_one_line_error(run, "XPU_QEMU_ACCEL=kvm: KVM does not work here: /dev/kvm")
        assert "set XPU_QEMU_ACCEL=tcg" in run.stderr
    assert list(tmp.iterdir()) == [] and qemu_processes(name) == []


def test_an_accelerator_override_that_is_no_accelerator_is_refused(tmp_path: Path) -> None:
    env, tmp = fresh_tmpdir(tmp_path)
    run = xpu_vm("--kernel", str(bzimage(tmp_path / "bzImage")), env={**env, "XPU_QEMU_ACCEL": "kvmm"})
    assert_one_line_error(run, "XPU_QEMU_ACCEL='kvmm': must be kvm or tcg (or unset)")
    assert list(tmp.iterdir()) == []


def _kvm_device_answers() -> bool:
    try:
        fd = os.open("/dev/kvm", os.O_RDWR)
    except OSError:
        return False
    try:
        return fcntl.ioctl(fd, KVM_GET_API_VERSION) == 12
    except OSError:
        return False
    finally:
        os.close(fd)


@pytest.mark.xpu_allowed_skip("only where /dev/kvm answers but a KVM guest does not start (as on the Debian CI host)")
def test_kvm_whose_guest_does_not_start_is_refused_with_qemus_reason(
    xpu_guest: GuestImage, xpu_accel: str, tmp_path: Path
) -> None:
    if xpu_accel == "kvm" or not _kvm_device_answers():
        pytest.skip("KVM works here, or there is no /dev/kvm: the other tests cover those")
    env, tmp = fresh_tmpdir(tmp_path)
    name = f"xpu-brokenkvm-{os.getpid()}"
    run = xpu_vm(
        "--kernel",
        str(xpu_guest.kernel),
        "--initrd",
        str(xpu_guest.initrd),
        "--name",
        name,
        env={**env, "XPU_QEMU_ACCEL": "kvm"},
    )
    assert_one_line_error(run, "XPU_QEMU_ACCEL=kvm: KVM does not work here: a KVM guest did not start (qemu: ")
    assert list(tmp.iterdir()) == [] and qemu_processes(name) == []


def elf64(path: Path, note_name: bytes, note_type: int) -> Path:
    """An ELF64 file whose one PT_NOTE segment holds one note (a PVH kernel's is "Xen", type 18)."""
    note = (
        struct.pack("<III", len(note_name), 4, note_type)
        + note_name.ljust(4 * -(-len(note_name) // 4), b"\0")
        + b"\0" * 4
    )
    header = (
        b"\x7fELF"
        + bytes([2, 1, 1])
        + b"\0" * 9
        + struct.pack("<HHIQQQIHHHHHH", 2, 62, 1, 0, 64, 0, 0, 64, 56, 1, 0, 0, 0)
    )
    program = struct.pack("<IIQQQQQQ", 4, 4, 64 + 56, 0, 0, len(note), len(note), 4)
    path.write_bytes(header + program + note)
    return path


def test_the_checks_know_a_kernel_and_a_nixos_run_script(xpu_guest: GuestImage, tmp_path: Path) -> None:
    assert kernel_problem(xpu_guest.kernel) is None  # Debian's cloud kernel: a bzImage
    assert kernel_problem(bzimage(tmp_path / "bzImage")) is None
    magic = 0x1BADB002
    (tmp_path / "multiboot").write_bytes(b"\0" * 16 + struct.pack("<III", magic, 0, -magic & 0xFFFFFFFF) + b"\0" * 64)
    assert kernel_problem(tmp_path / "multiboot") is None
    assert kernel_problem(elf64(tmp_path / "pvh", b"Xen\0", 18)) is None
    assert "an ELF file without a PVH entry" in (kernel_problem(elf64(tmp_path / "gnu", b"GNU\0", 3)) or "")
    assert kernel_problem(Path("/etc/passwd")) is not None
    assert run_script_problem(executable(tmp_path / "run-xpu-test-vm-vm", NIXOS_RUN_SCRIPT)) is None
    assert run_script_problem(executable(tmp_path / "other", '#!/bin/sh\nexec qemu-img info "$@"\n')) is not None


def test_names_and_paths_reach_qemu_options_escaped(tmp_path: Path) -> None:
    """QEMU reads `-name` and `-chardev` values as key=value lists where `,,` is a comma: a comma in a
    name or in the working directory (TMPDIR) stays part of the value."""
    workdir = tmp_path / "a,b"
    argv, _ = QemuVM(VmSpec(name="vm,debug-threads=on", kernel=tmp_path / "k"), workdir=workdir).argv_and_env()
    assert argv[argv.index("-name") + 1] == "vm,,debug-threads=on"
    chardevs = [argv[n + 1] for n, word in enumerate(argv) if word in ("-chardev", "-qmp")]
    assert all(str(workdir) not in value and str(tmp_path / "a,,b") in value for value in chardevs), chardevs
