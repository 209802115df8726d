"""Which machines a run looks at: ``--target`` items (a URL or an inventory name) and an inventory.

The one place the CLI and the pytest plugin turn what the user gave into inventory entries.
"""

from __future__ import annotations

from collections.abc import Sequence

from .errors import ConfigError
from .inventory import Inventory, InventoryTarget
from .transport import SCHEMES
from .urls import redact

LOCAL = InventoryTarget("local", "local://")


def resolve_targets(
    items: Sequence[str], inventory: Inventory | None, option: str = "--target"
) -> tuple[InventoryTarget, ...]:
    """Each item is an inventory name, a URL, or ``local`` (local://). With no items: every target
    of the inventory, else this machine. ConfigError (one line, naming ``option``, the flag the items
    came from) for an unknown name or scheme."""
    if not items:
        return inventory.targets if inventory and inventory.targets else (LOCAL,)
    specs = []
    for item in items:
        entry = inventory.get(item) if inventory else None
        if entry is not None:
            specs.append(entry)
        elif item in ("local", "local://"):
            specs.append(LOCAL)
        elif "://" in item:
            scheme = item.partition("://")[0]
            if scheme not in SCHEMES:
                known = ", ".join(f"{s}://" for s in SCHEMES)
                raise ConfigError(f"unknown target scheme {scheme!r} in {redact(item)!r} (known: {known})")
            specs.append(InventoryTarget(redact(item).replace("://", "-").strip("-/"), item))
        else:
            raise ConfigError(f"{option} {item!r} is neither a URL nor a name in the inventory")
    return tuple(specs)
