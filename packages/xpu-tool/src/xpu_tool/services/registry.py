"""The one list of services: each service package registers itself with ``@service`` on its check,
and `xpu check <service>`, `xpu export --<service>` and the inventory's ``services`` keys come from
``services()``.

Adding a service is one package in this directory (found by ``services()``): its API client on
``api.ApiClient``, its check (registered here, with its quick check for the export and its own
options), and in the test kit its double and launcher.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ..model import Finding


@dataclass(frozen=True)
class ServiceState:
    """A quick service check (`xpu export`): did it answer, and what did it report (no generation).

    ``error`` is xpu_check_error's reason label (docs/operations.md): timeout, unreachable,
    server-error or error."""

    service: str
    url: str
    up: bool
    version: str = ""
    error: str | None = None
    models: tuple[tuple[str, float], ...] = ()  # (model, size_vram / size) where the service says


def reason(kind: str, status: int | None) -> str:
    """xpu_check_error's reason label for a bounded HTTP failure kind."""
    if kind in ("timeout", "unreachable"):
        return kind
    if kind == "status" and status is not None and status >= 500:
        return "server-error"
    return "error"


class CheckResult(Protocol):
    """What every service's end-to-end check returns (frozen dataclasses: read-only fields)."""

    @property
    def url(self) -> str: ...

    @property
    def findings(self) -> tuple[Finding, ...]: ...

    @property
    def ok(self) -> bool: ...

    @property
    def unreachable(self) -> bool: ...

    @property
    def unanswered(self) -> bool: ...

    def to_dict(self) -> dict[str, Any]: ...

    def lines(self) -> list[str]: ...


@dataclass(frozen=True)
class Option:
    """A flag of one service's check (``--name VALUE``), handed to its check as ``dest``."""

    flag: str
    help: str
    metavar: str | None = None
    choices: tuple[str, ...] | None = None

    @property
    def dest(self) -> str:
        return self.flag.removeprefix("--").replace("-", "_")


@dataclass(frozen=True)
class Service:
    """One registered service.

    ``check(url, expect_gpu=..., timeout=..., **options)`` runs the end-to-end check (ConfigError
    for a bad option value, before anything is sent); ``quick(url, timeout)`` the export's check.
    """

    name: str
    title: str
    example_url: str
    check: Callable[..., CheckResult]
    quick: Callable[[str, float], ServiceState]
    options: tuple[Option, ...] = ()
    summary: str = ""

    @property
    def dest(self) -> str:
        """The name as a Python identifier (argparse dests, inventory keys' second spelling)."""
        return self.name.replace("-", "_")


_REGISTERED: dict[str, Service] = {}


def service(
    name: str,
    *,
    title: str,
    example_url: str,
    quick: Callable[[str, float], ServiceState],
    options: tuple[Option, ...] = (),
    summary: str = "",
) -> Callable[[Callable[..., CheckResult]], Callable[..., CheckResult]]:
    """Register the decorated check as the service ``name``."""

    def register(check: Callable[..., CheckResult]) -> Callable[..., CheckResult]:
        known = _REGISTERED.get(name)
        if known is not None and known.check.__qualname__ != check.__qualname__:
            raise ValueError(f"two services are named {name!r}: {known.check.__module__} and {check.__module__}")
        _REGISTERED[name] = Service(name, title, example_url, check, quick, options, summary)
        return check

    return register


def _load_all() -> None:
    """Import every service package of this directory, so that each registers its check."""
    for info in pkgutil.iter_modules([str(Path(__file__).parent)]):
        if info.ispkg:
            importlib.import_module(f"{__package__}.{info.name}")


def services() -> tuple[Service, ...]:
    """Every registered service, by name."""
    _load_all()
    return tuple(sorted(_REGISTERED.values(), key=lambda s: s.name))


def by_name(name: str) -> Service:
    for s in services():
        if s.name == name:
            return s
    raise KeyError(name)
