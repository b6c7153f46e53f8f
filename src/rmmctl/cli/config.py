"""`rmmctl config check|show`: validate and print the configuration file (docs/config.md)."""

from __future__ import annotations

import sys

import typer
import yaml
from rich.console import Console

from rmmctl.cli.options import Common, common
from rmmctl.cli.output import setup_logging, show_doc, writing_stdout
from rmmctl.config import Config, config_path, load_config, masked
from rmmctl.secrets import Redactor

app = typer.Typer(help="The configuration file: alerts, report branding, defaults (docs/config.md).",
                  no_args_is_help=True)


@app.callback()
@common
def _group(*, opts: Common) -> None:
    """The configuration file: `config check` validates it, `config show` prints it with secrets masked."""


def _load(opts: Common) -> tuple[Config, str]:
    setup_logging(opts, Redactor())
    path, _ = config_path(opts.config)
    return load_config(opts.config), str(path)


def _summary(cfg: Config) -> dict:
    return {"channels": {n: c.kind for n, c in cfg.alerts.channels.items()},
            "rules": [r.name for r in cfg.alerts.rules],
            "quiet_hours": [{"client": q.client, "hours": q.text, "timezone": q.timezone}
                            for q in cfg.alerts.quiet_hours],
            "report": {"msp_name": cfg.report.msp_name, "logo": cfg.report.logo, "contacts": cfg.report.contacts},
            "defaults": {"forks": cfg.defaults.forks, "timeout": cfg.defaults.timeout,
                         "connect_timeout": cfg.defaults.connect_timeout}}


@app.command("check")
@common
def check(*, opts: Common) -> None:
    """Validate the configuration file: exit 0 when it is valid, else one line FILE:LINE: key: problem (exit 3)."""
    cfg, path = _load(opts)
    found = cfg.path is not None
    summary = _summary(cfg)

    def table(console: Console) -> None:
        if not found:
            console.print(f"{path}: no config file (an empty configuration: no alerts, no branding, no defaults)",
                          markup=False, highlight=False)
            return
        console.print(f"{path}: ok: {len(summary['channels'])} channel(s), {len(summary['rules'])} rule(s)",
                      markup=False, highlight=False)

    show_doc(opts, "config check", {"config": path, "found": found, "ok": True, **summary}, table)


@app.command("show")
@common
def show(*, opts: Common) -> None:
    """Print the configuration as read (secret references named, never resolved; webhook URL paths masked)."""
    cfg, path = _load(opts)
    data = masked(cfg.data)

    def table(console: Console) -> None:
        with writing_stdout():
            sys.stdout.write(f"# {path}{'' if cfg.path else ' (no file: empty configuration)'}\n")
            if data:
                yaml.safe_dump(data, sys.stdout, sort_keys=False, allow_unicode=True, default_flow_style=False)
            sys.stdout.flush()

    show_doc(opts, "config show", {"config": path, "found": cfg.path is not None, "settings": data}, table)
