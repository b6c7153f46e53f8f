"""`rmmctl schedule [--systemd]`: print a ready crontab (or systemd units) for unattended rmmctl (docs/cron.md)."""

from __future__ import annotations

import os
import shutil
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated

import typer

from rmmctl.cli.options import Common, common
from rmmctl.cli.output import setup_logging, writing_stdout
from rmmctl.errors import UsageError
from rmmctl.inventory.load import load_inventory
from rmmctl.schedule import Paths, crontab, plan, systemd_units
from rmmctl.secrets import Redactor
from rmmctl.store.common import current_user


def _state_dir(kind: str) -> Path:
    """/var/log/rmmctl and /var/lib/rmmctl/reports for root, else under $XDG_STATE_HOME/rmmctl."""
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        return Path("/var/log/rmmctl") if kind == "log" else Path("/var/lib/rmmctl/reports")
    state = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state").expanduser()
    return state / "rmmctl" / kind


def _executable(given: str | None) -> tuple[str, ...]:
    """The rmmctl to run, absolute: --rmmctl, else the `rmmctl` on PATH, else this Python with -m rmmctl."""
    if given:
        return (str(Path(given).expanduser().absolute()),)
    found = shutil.which("rmmctl")
    if found:
        return (str(Path(found).absolute()),)
    return (str(Path(sys.executable).absolute()), "-m", "rmmctl")


def _absolute(path: Path) -> Path:
    return path.expanduser().absolute()


@common
def schedule(
    systemd: Annotated[bool, typer.Option("--systemd", help="Print systemd service and timer units instead of a "
                                          "crontab.")] = False,
    user: Annotated[str | None, typer.Option("--user", "-u", help="The user the jobs run as (the /etc/cron.d user "
                                             "column, systemd User=). Default: you.")] = None,
    user_crontab: Annotated[bool, typer.Option("--user-crontab", help="A user crontab (for `crontab -e`): no user "
                                               "column.")] = False,
    log_dir: Annotated[Path | None, typer.Option("--log-dir", metavar="DIR", help="Where the jobs' --log-file "
                                                 "logs go. Default: /var/log/rmmctl as root, else "
                                                 "$XDG_STATE_HOME/rmmctl/log.")] = None,
    report_dir: Annotated[Path | None, typer.Option("--report-dir", metavar="DIR", help="Where the monthly PDF "
                                                    "reports go. Default: /var/lib/rmmctl/reports as root, else "
                                                    "$XDG_STATE_HOME/rmmctl/reports.")] = None,
    rmmctl: Annotated[str | None, typer.Option("--rmmctl", metavar="PATH", help="The rmmctl executable the jobs "
                                               "run. Default: the one on PATH.")] = None,
    *,
    opts: Common,
) -> None:
    """Print a crontab (or systemd units) running rmmctl unattended: status with alerts every 5 minutes,
    nightly diagnose with alerts, maintenance plays in each host's window, monthly client reports mailed
    to each client's contact. `rmmctl schedule -i /etc/rmmctl/inventory.yaml > /etc/cron.d/rmmctl`."""
    setup_logging(opts, Redactor())
    if opts.inventory is None:
        raise UsageError("schedule needs the inventory the jobs use: -i PATH (or RMMCTL_INVENTORY); cron has "
                         "neither your shell's environment nor its working directory")
    inventory = load_inventory(opts.inventory)
    db = opts.db
    if db and "://" not in db and not db.startswith("sqlite:"):
        db = str(_absolute(Path(db)))
    paths = Paths(_executable(rmmctl), _absolute(opts.inventory), _absolute(log_dir or _state_dir("log")),
                  _absolute(report_dir or _state_dir("reports")), db,
                  _absolute(opts.config) if opts.config else None)
    env = [("PYTHONPATH", os.environ["PYTHONPATH"])] if len(paths.rmmctl) > 1 and os.environ.get("PYTHONPATH") else []
    jobs = plan(inventory, paths, datetime.now(timezone.utc))
    who = None if user_crontab and not systemd else (user or current_user())
    text = systemd_units(jobs, paths, who, env) if systemd else crontab(jobs, paths, who, env)
    with writing_stdout():
        sys.stdout.write(text)


def register(app: typer.Typer) -> None:
    app.command("schedule")(schedule)
