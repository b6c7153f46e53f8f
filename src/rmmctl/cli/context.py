"""Turn the common options into what api functions need: inventory, settings, store."""

from __future__ import annotations

from dataclasses import dataclass

from rmmctl.api import RunSettings
from rmmctl.cli import ARGV
from rmmctl.cli.options import Common
from rmmctl.cli.output import setup_logging
from rmmctl.inventory.load import load_inventory
from rmmctl.inventory.model import Inventory
from rmmctl.secrets import Redactor
from rmmctl.store import Store


@dataclass(slots=True)
class Prepared:
    """Everything a command needs to run on hosts."""

    inventory: Inventory
    settings: RunSettings
    store: Store


def prepare(opts: Common, *, command_timeout: float = 60.0, host_key_policy: str | None = None) -> Prepared:
    """Load the inventory and open the store; both fail with a one-line ConfigError/StoreError."""
    redactor = Redactor()
    setup_logging(opts, redactor)
    inventory = load_inventory(opts.inventory)
    settings = RunSettings(
        forks=opts.forks,
        host_timeout=opts.timeout,
        command_timeout=command_timeout,
        connect_timeout=opts.connect_timeout,
        host_key_policy=host_key_policy,
        limit=opts.limit,
        argv=ARGV.get(),
        redactor=redactor,
    )
    store = Store.open(opts.db, redactor=redactor)
    return Prepared(inventory, settings, store)
