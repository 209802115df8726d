"""``xpu vm boot|run|shell``: boot a VM by hand, run one command in it, or get its console."""

from __future__ import annotations

import argparse
import contextlib
import shutil
import sys
from pathlib import Path

from ..errors import ConfigError
from ..probes.context import ProbeContext
from ..target import open_target
from .console import BackdoorShell
from .guest import ROOT_PASSWORD, build_guest, default_cache_dir
from .passthrough import VfioBinding, preflight, qemu_device_args
from .qemu import QemuVM, VmSpec, detect_accel


def add_arguments(sub: argparse._SubParsersAction) -> None:
    vm = sub.add_parser("vm", help="boot a VM, run a command in it, or open its console")
    verbs = vm.add_subparsers(dest="vm_command", required=True, parser_class=type(vm))
    for verb, text in (("boot", "boot and keep running until Ctrl-C"), ("run", "boot, run COMMAND, stop"),
                       ("shell", "boot and attach to its console")):
        p = verbs.add_parser(verb, help=text)
        what = p.add_mutually_exclusive_group(required=True)
        what.add_argument("--kernel", type=Path, help="kernel image (with --initrd and --append)")
        what.add_argument("--run-script", type=Path, help="a NixOS VM run script (system.build.vm's bin/run-*-vm)")
        what.add_argument("--debian-guest", action="store_true", help="the busybox test guest built from Debian's packages")
        p.add_argument("--initrd", type=Path)
        p.add_argument("--append", default="console=ttyS0 panic=-1")
        p.add_argument("--name", default="xpu-vm")
        p.add_argument("--memory", type=int, default=512, metavar="MB")
        p.add_argument("--forward", type=int, action="append", default=[], metavar="GUEST_PORT",
                       help="forward a guest TCP port from a free host port on 127.0.0.1; repeatable")
        p.add_argument("--accel", choices=("auto", "kvm", "tcg"), default="auto")
        p.add_argument("--boot-timeout", type=float, default=120.0, metavar="SECONDS")
        p.add_argument("--pci", metavar="ADDRESS", help="pass this host PCI device through (vfio-pci; restored afterwards)")
        p.add_argument("--force", action="store_true", help="with --pci: take a device that drives the host display")
        if verb == "run":
            p.add_argument("guest_command", nargs="+", metavar="COMMAND", help="the command to run in the guest (after --)")


def _spec(args: argparse.Namespace) -> VmSpec:
    kernel, initrd, append = args.kernel, args.initrd, args.append
    if args.debian_guest:
        guest = build_guest(default_cache_dir())
        kernel, initrd, append = guest.kernel, guest.initrd, guest.append
    for path in (kernel, initrd, args.run_script):
        if path is not None and not path.exists():
            raise ConfigError(f"{path}: no such file")
    if args.memory <= 0 or args.boot_timeout <= 0:
        raise ConfigError("--memory and --boot-timeout must be positive")
    accel = args.accel if args.accel != "auto" else ("tcg" if args.run_script else detect_accel(kernel))
    return VmSpec(name=args.name, kernel=kernel, initrd=initrd, append=append, run_script=args.run_script,
                  memory_mb=args.memory, forwards=tuple(args.forward), boot_timeout=args.boot_timeout, accel=accel)


def _passthrough(args: argparse.Namespace, spec: VmSpec, stack: contextlib.ExitStack) -> None:
    ctx = ProbeContext(open_target("local://"))
    pf = preflight(ctx, args.pci, memory_mb=spec.memory_mb, force=args.force)
    for f in pf.findings:
        print(f"{f.severity.value}: {f.title} ({'; '.join(f.evidence)}) -> {f.fix}", file=sys.stderr)
    if not pf.ok:
        raise ConfigError(f"{args.pci} cannot be passed through (see the findings above)")
    stack.enter_context(VfioBinding(ctx, pf.device))
    spec.extra_args = (*spec.extra_args, *qemu_device_args(pf.device))


def run(args: argparse.Namespace) -> int:
    spec = _spec(args)
    vm = QemuVM(spec)
    code = _run(args, spec, vm)
    shutil.rmtree(vm.workdir, ignore_errors=True)  # kept when booting failed: the error names its log
    return code


def _run(args: argparse.Namespace, spec: VmSpec, vm: QemuVM) -> int:
    with contextlib.ExitStack() as stack:
        if args.pci:
            _passthrough(args, spec, stack)
        stack.enter_context(vm)
        print(f"xpu vm: {spec.name} booted ({spec.accel}); console log {vm.console_log}", file=sys.stderr)
        for guest, host in vm.ports.items():
            print(f"xpu vm: guest port {guest} -> 127.0.0.1:{host}", file=sys.stderr)
        if args.vm_command == "run":
            if vm.backdoor is None:
                raise ConfigError("this VM has no backdoor console to run commands on")
            result = vm.backdoor.run(" ".join(args.guest_command))
            sys.stdout.buffer.write(result.stdout)
            sys.stderr.buffer.write(result.stderr)
            return result.rc
        if args.vm_command == "shell":
            shell = vm.serial or vm.backdoor
            if shell is None:
                raise ConfigError("this VM has no console to attach to")
            if vm.serial is not None:
                vm.serial.password = ROOT_PASSWORD if args.debian_guest else None
                vm.serial.login(args.boot_timeout)
            print("xpu vm: attached; Ctrl-] detaches and stops the VM", file=sys.stderr)
            if isinstance(shell, BackdoorShell):
                print("xpu vm: (backdoor shell: no prompt, no echo)", file=sys.stderr)
            shell.pexpect.interact()
            return 0
        for kind, shell_ in (("backdoor", vm.backdoor), ("serial", vm.serial)):
            if shell_ is not None:
                shell_.close()  # free the socket for `xpu doctor --target`
        if spec.backdoor:
            print(f"xpu vm: xpu doctor --target backdoor://{vm.shell_socket}", file=sys.stderr)
        print("xpu vm: running; Ctrl-C stops it", file=sys.stderr)
        assert vm.process is not None
        vm.process.wait()
        return 0
