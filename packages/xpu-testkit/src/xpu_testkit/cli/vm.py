"""``xpu vm boot|run|shell``: boot a VM by hand, run one command in it, or get its console.

What cannot boot is refused before QEMU starts (one line, exit 2): a kernel that is no kernel, a
run script that is no NixOS VM script, more memory than the machine has, an accelerator that does
not work, a name that is not a plain word. Whatever ends the run (the command's end, Ctrl-C,
SIGTERM, SIGHUP, a refusal, a failure), QEMU is stopped, a passed-through device is given back to
its driver (or, if the kernel does not answer in time, the commands that finish it are printed)
and the VM's working directory is removed; it is kept only when the VM failed, for its logs (and
always when the error names one of them), and a line names it then.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import re
import shlex
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from xpu_tool.cli.common import clip, readable, tcp_port
from xpu_tool.cli.exit_codes import Exit
from xpu_tool.errors import ConfigError
from xpu_tool.model import Severity
from xpu_tool.probes.context import ProbeContext
from xpu_tool.probes.pci import parse_pci_address
from xpu_tool.target import open_target
from xpu_tool.transport.console import MAX_TIMEOUT, BackdoorShell, ConsoleError, SerialShell

from ..process import signals_deferred, signals_interrupt
from ..vm.attach import Terminal, attach
from ..vm.errors import VmFailure
from ..vm.guest import ROOT_PASSWORD, build_guest, default_cache_dir
from ..vm.passthrough import MAX_SYSFS_TIMEOUT, SYSFS_TIMEOUT, RestoreError, VfioBinding, preflight, qemu_device_args
from ..vm.preboot import kernel_problem, memory_problem, run_script_problem
from ..vm.qemu import QemuVM, VmError, VmSpec, detect_accel, kvm_device_problem, kvm_trial

# the exit code of a VM failure (the host tool's CLI reads this module's EXIT_CODES: cli.exit_codes)
EXIT_CODES = ((VmFailure, Exit.VM_FAILED),)
VM_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
KVM_TRIAL = 10.0  # seconds an explicit --accel kvm is tried before the boot


def say(line: str) -> None:
    """One line for the user on stderr (quietly nothing once the terminal has gone away)."""
    with contextlib.suppress(OSError):
        print(f"xpu vm: {line}", file=sys.stderr, flush=True)


def _pci_address(text: str) -> str:
    try:
        return parse_pci_address(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _vm_name(text: str) -> str:
    """A VM name reaches QEMU's `-name`, file names and process lists as it is: a plain word."""
    if not VM_NAME.fullmatch(text):
        raise argparse.ArgumentTypeError(
            f"{clip(text)} is not a VM name (letters, digits, '.', '_' and '-', "
            "at most 64, starting with a letter or a digit)"
        )
    return text


def add_parser(sub: argparse._SubParsersAction) -> None:
    vm = sub.add_parser("vm", help="boot a VM, run a command in it, or open its console")
    verbs = vm.add_subparsers(dest="vm_command", required=True, parser_class=type(vm))
    for verb, text in (
        ("boot", "boot and keep running until Ctrl-C"),
        ("run", "boot, run COMMAND, stop"),
        ("shell", "boot and attach to its console (Ctrl-] detaches and stops the VM)"),
    ):
        p = verbs.add_parser(verb, help=text)
        what = p.add_mutually_exclusive_group(required=True)
        what.add_argument("--kernel", type=Path, help="kernel image (with --initrd and --append)")
        what.add_argument("--run-script", type=Path, help="a NixOS VM run script (system.build.vm's bin/run-*-vm)")
        what.add_argument(
            "--debian-guest", action="store_true", help="the busybox test guest built from Debian's packages"
        )
        p.add_argument("--initrd", type=Path)
        p.add_argument("--append", default="console=ttyS0 panic=-1")
        p.add_argument(
            "--name",
            default="xpu-vm",
            type=_vm_name,
            help="the VM's name for QEMU (letters, digits, '.', '_' and '-'; default xpu-vm)",
        )
        p.add_argument("--memory", type=int, default=512, metavar="MB")
        p.add_argument(
            "--forward",
            type=tcp_port,
            action="append",
            default=[],
            metavar="GUEST_PORT",
            help="forward a guest TCP port from a free host port on 127.0.0.1; repeatable",
        )
        p.add_argument("--accel", choices=("auto", "kvm", "tcg"), default="auto")
        p.add_argument("--boot-timeout", type=float, default=120.0, metavar="SECONDS")
        p.add_argument(
            "--pci",
            metavar="ADDRESS",
            type=_pci_address,
            help="pass this host PCI device through (vfio-pci; restored afterwards)",
        )
        p.add_argument("--force", action="store_true", help="with --pci: take a device that drives the host display")
        p.add_argument(
            "--sysfs-timeout",
            type=float,
            default=SYSFS_TIMEOUT,
            metavar="SECONDS",
            help=f"with --pci: the longest one sysfs write (bind, give-back) may take (default "
            f"{SYSFS_TIMEOUT:g}); a signal ends the wait at once",
        )
        p.add_argument("--sysroot", default="", metavar="DIR", help=argparse.SUPPRESS)  # a recorded host layout
        if verb == "run":
            p.add_argument(
                "guest_command", nargs="+", metavar="COMMAND", help="the command to run in the guest (after --)"
            )


def _spec(args: argparse.Namespace) -> VmSpec:
    """The VM to boot, once everything that can be checked before QEMU starts is."""
    if args.memory <= 0 or not (math.isfinite(args.boot_timeout) and 0 < args.boot_timeout <= MAX_TIMEOUT):
        raise ConfigError(f"--memory must be positive and --boot-timeout above 0 and at most {MAX_TIMEOUT:g} s")
    if not (math.isfinite(args.sysfs_timeout) and 0 < args.sysfs_timeout <= MAX_SYSFS_TIMEOUT):
        raise ConfigError(
            f"--sysfs-timeout {args.sysfs_timeout:g}: must be seconds above 0 and at most {MAX_SYSFS_TIMEOUT:g}"
        )
    memory = memory_problem(args.memory, pinned=bool(args.pci))
    if memory:
        raise ConfigError(f"--memory {args.memory}: {memory}")
    if args.sysroot and not os.path.isdir(args.sysroot):
        raise ConfigError(f"--sysroot {args.sysroot}: not a directory")
    script = args.run_script
    if script is not None and not (script.is_file() and os.access(script, os.X_OK)):
        raise ConfigError(f"{script}: {'not an executable file' if script.exists() else 'no such file'}")
    if script is not None and (problem := run_script_problem(script)):
        raise ConfigError(f"--run-script {script}: {problem}")
    kernel, initrd, append = args.kernel, args.initrd, args.append
    if args.debian_guest:
        guest = build_guest(default_cache_dir())
        kernel, initrd, append = guest.kernel, guest.initrd, guest.append
    for path in (kernel, initrd):
        if path is not None and not path.is_file():
            raise ConfigError(f"{path}: no such file")
    if kernel is not None and (problem := kernel_problem(kernel)):
        raise ConfigError(f"--kernel {kernel}: {problem}")
    accel = "tcg" if script else _accel(args.accel, kernel)
    return VmSpec(
        name=args.name,
        kernel=kernel,
        initrd=initrd,
        append=append,
        run_script=script,
        memory_mb=args.memory,
        forwards=tuple(args.forward),
        boot_timeout=args.boot_timeout,
        accel=accel,
    )


def _accel(option: str, kernel: Path) -> str:
    """The accelerator for ``kernel``: --accel, else XPU_QEMU_ACCEL, else what works here (tried). KVM
    asked for by name is checked first: /dev/kvm answers, and a KVM guest does not die at once."""
    forced = os.environ.get("XPU_QEMU_ACCEL") or None
    if option != "auto":
        choice, named, fix = option, f"--accel {option}", "use --accel tcg"
    elif forced is not None:
        if forced not in ("kvm", "tcg"):
            raise ConfigError(f"XPU_QEMU_ACCEL={clip(forced)}: must be kvm or tcg (or unset)")
        choice, named, fix = forced, f"XPU_QEMU_ACCEL={forced}", "set XPU_QEMU_ACCEL=tcg (or unset it)"
    else:
        return detect_accel(kernel)
    if choice == "kvm":
        problem = kvm_device_problem()
        if problem is None and (trial := kvm_trial(kernel, timeout=KVM_TRIAL)).failed is not None:
            problem = f"a KVM guest did not start (qemu: {trial.failed})"
        if problem:
            raise ConfigError(f"{named}: KVM does not work here: {problem}; {fix}")
    return choice


def _passthrough(args: argparse.Namespace, spec: VmSpec, stack: contextlib.ExitStack) -> None:
    ctx = ProbeContext(open_target("local://"), sysroot=args.sysroot)
    pf = preflight(ctx, args.pci, memory_mb=spec.memory_mb, force=args.force)
    blocking = [f for f in pf.findings if f.severity is Severity.FAIL]
    if blocking:
        raise ConfigError(
            f"{args.pci} cannot be passed through: " + "; ".join(f"{f.title} -> {f.fix}" for f in blocking)
        )
    for f in pf.findings:
        say(f"{f.severity.value}: {f.title} -> {f.fix}")
    binding = VfioBinding(ctx, pf.device, say=say, timeout=args.sysfs_timeout)
    with signals_deferred() as received:  # bound or given back: no signal lands between the bind and its undo
        stack.enter_context(binding)
    if received:
        raise KeyboardInterrupt
    spec.extra_args = (*spec.extra_args, *qemu_device_args(pf.device))


@contextlib.contextmanager
def _workdir() -> Iterator[Path]:
    """The VM's working directory: removed on the way out, unless the VM failed and left logs there
    or its error names a file in it (a boot that failed names the console log, empty or not)."""
    path = Path(tempfile.mkdtemp(prefix="xpu-vm-"))
    keep = False
    try:
        yield path
    except (VmError, ConsoleError) as exc:
        keep = str(path) in str(exc) or any(
            p.stat().st_size for p in path.glob("*") if p.name in ("console.log", "qemu.stderr")
        )
        raise
    finally:
        if keep:
            say(f"kept {path} (the VM's console log and QEMU's messages)")
        else:
            with signals_deferred():  # one more Ctrl-C must not leave half of it
                shutil.rmtree(path, ignore_errors=True)


def run(args: argparse.Namespace) -> int:
    with signals_interrupt():  # SIGTERM and SIGHUP unwind as Ctrl-C does
        spec = _spec(args)
        try:
            with contextlib.ExitStack() as stack:  # unwound in reverse: QEMU, its directory, the device
                if args.pci:
                    _passthrough(args, spec, stack)
                vm = QemuVM(spec, workdir=stack.enter_context(_workdir()))
                stack.enter_context(vm)
                return _booted(args, spec, vm)
        except RestoreError as exc:
            if not isinstance(exc.original, KeyboardInterrupt):
                raise
            # interrupted, and the give-back did not finish in its time: what is left, to do by hand
            print(readable(f"xpu: {exc}"), file=sys.stderr)
            return Exit.INTERRUPTED


def _booted(args: argparse.Namespace, spec: VmSpec, vm: QemuVM) -> int:
    say(f"{spec.name} booted ({spec.accel}); console log {vm.console_log}")
    for guest, host in vm.ports.items():
        say(f"guest port {guest} -> 127.0.0.1:{host}")
    if args.vm_command == "run":
        if vm.backdoor is None:
            raise ConfigError("this VM has no backdoor console to run commands on")
        result = vm.backdoor.run(shlex.join(args.guest_command))  # each word arrives as given
        sys.stdout.buffer.write(result.stdout)
        sys.stderr.buffer.write(result.stderr)
        return result.rc
    if args.vm_command == "shell":
        return _shell(args, vm)
    for shell in (vm.backdoor, vm.serial):
        if shell is not None:
            shell.close()  # free the socket for `xpu doctor --target`
    if spec.backdoor:
        say(f"xpu doctor --target backdoor://{vm.shell_socket}")
    say("running; Ctrl-C stops it")
    assert vm.process is not None
    vm.process.wait()
    return 0


def _shell(args: argparse.Namespace, vm: QemuVM) -> int:
    console: BackdoorShell | SerialShell | None = vm.serial or vm.backdoor
    if console is None:
        raise ConfigError("this VM has no console to attach to")
    if isinstance(console, SerialShell):
        if args.debian_guest:  # its root password is known: log in for the user
            console.password = ROOT_PASSWORD
            console.login(args.boot_timeout)
        else:  # the user logs in: ask the console for a fresh prompt to start from
            console.send(b"\n")
    say("attached; Ctrl-] detaches and stops the VM")
    if isinstance(console, BackdoorShell):
        say("(backdoor shell: no prompt, no echo)")
    buffered = console.pexpect.buffer  # bytes: the console is spawned without an encoding
    ended = attach(
        console.sock,
        Terminal(sys.stdin.fileno(), sys.stdout.fileno()),
        pending=buffered if isinstance(buffered, bytes) else b"",
        line_mode=isinstance(console, BackdoorShell),
    )
    sys.stdout.flush()
    say(f"{ended}; stopping {vm.spec.name}")
    return 0
