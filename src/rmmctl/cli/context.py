"""Turn the common options into what api functions need: inventory, settings, store."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rmmctl.api import RunSettings
from rmmctl.cli import ARGV
from rmmctl.cli.options import Common
from rmmctl.cli.output import ndjson_streamer, progress_for, setup_logging
from rmmctl.inventory.load import load_inventory
from rmmctl.inventory.model import Inventory
from rmmctl.models import RunReport
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
        max_output=opts.max_output,
        host_key_policy=host_key_policy,
        limit=opts.limit,
        argv=ARGV.get(),
        redactor=redactor,
    )
    store = Store.open(opts.db, redactor=redactor)
    return Prepared(inventory, settings, store)


def run_call(opts: Common, call: Callable[..., RunReport], pattern: str, *, command_timeout: float = 60.0,
             **extra: Any) -> RunReport:
    """The shape of every host command: load, run one api call with progress on stderr and ndjson streaming,
    record it in the history, return the report."""
    p = prepare(opts, command_timeout=command_timeout)
    with p.store, progress_for(opts) as observer:
        return call(p.inventory, pattern, p.settings, store=p.store, observer=observer,
                    on_result=ndjson_streamer(opts), **extra)
