"""Turn the common options into what api functions need: inventory, settings, store."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rmmctl.api import RunSettings
from rmmctl.cli import ARGV
from rmmctl.cli.options import Common
from rmmctl.config import Config, load_config
from rmmctl.cli.output import ndjson_streamer, progress_for, setup_logging
from rmmctl.inventory.load import load_inventory
from rmmctl.inventory.model import Inventory
from rmmctl.models import RunReport
from rmmctl.processors import Processor, StoreRecorder
from rmmctl.secrets import Redactor
from rmmctl.store import HistoryStore, open_store


@dataclass(slots=True)
class Prepared:
    """Everything a command needs to run on hosts."""

    inventory: Inventory
    settings: RunSettings
    store: HistoryStore
    config: Config = field(default_factory=Config)
    alert: bool = False  # --alert: evaluate and send alerts after the run (docs/alerts.md)

    def processors(self, opts: Common, *, stream: bool = True) -> list[Processor]:
        """The processors of a CLI run: the history recorder, then ndjson lines (if -o ndjson and `stream`)."""
        alerts: list[Processor] = []
        if self.alert:
            from rmmctl.alerts import AlertProcessor

            alerts.append(AlertProcessor(self.config.alerts, self.store, self.inventory))
        return [StoreRecorder(self.store), *alerts, *(ndjson_streamer(opts) if stream else [])]

    def call(self, opts: Common, call: Callable[..., RunReport], pattern: str, *, stream: bool = True,
             view: str = "bar", **extra: Any) -> RunReport:
        """Run one api call with the CLI's processors (and progress on a terminal: a bar, or `view="play"`
        the live task view); close the store after."""
        with self.store, progress_for(opts, view=view) as progress:
            return call(self.inventory, pattern, self.settings, processors=[*self.processors(opts, stream=stream),
                                                                           *progress], **extra)


def prepare(opts: Common, *, command_timeout: float = 60.0, host_key_policy: str | None = None) -> Prepared:
    """Load the inventory and open the store; both fail with a one-line ConfigError/StoreError."""
    redactor = Redactor()
    setup_logging(opts, redactor)
    config = load_config(opts.config)
    opts = opts.with_defaults(config.defaults)
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
    store = open_store(opts.db, redactor=redactor)
    return Prepared(inventory, settings, store, config)


def run_call(opts: Common, call: Callable[..., RunReport], pattern: str, *, command_timeout: float = 60.0,
             stream: bool = True, alert: bool = False, **extra: Any) -> RunReport:
    """The shape of every host command: load, run one api call with progress on stderr and ndjson streaming,
    record it in the history, return the report."""
    p = prepare(opts, command_timeout=command_timeout)
    p.alert = alert
    if alert:
        check_alerting(p.config)
    return p.call(opts, call, pattern, stream=stream, **extra)


def check_alerting(config: Config) -> None:
    """--alert needs rules: without a config file, or one without alerts.rules, say so (exit 3)."""
    from rmmctl.errors import ConfigError

    if not config.alerts.rules:
        where = str(config.path) if config.path else "no config file (see docs/config.md)"
        raise ConfigError(f"--alert: {where} has no alerts.rules; add a rule and a channel (docs/alerts.md)")
