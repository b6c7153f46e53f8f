"""`rmmctl diagnose`: findings with evidence and a fix, one probe round trip per host."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from rmmctl import api
from rmmctl.cli.context import check_alerting, prepare
from rmmctl.cli.health import AlertOpt
from rmmctl.cli.complete import complete_check, complete_pattern
from rmmctl.cli.fix import check_fix_options
from rmmctl.cli.fix import run as run_fix
from rmmctl.cli.options import Common, common
from rmmctl.cli.output import setup_logging, show, show_doc, writing_stdout
from rmmctl.diagnose import nagios_label, nagios_line
from rmmctl.errors import FAIL_ON, UsageError, check_fail_on
from rmmctl.inventory.model import Inventory
from rmmctl.render.data import Column
from rmmctl.render.diagnose import check_rows, render_check_list, render_findings, var_default
from rmmctl.secrets import Redactor

PatternArg = Annotated[str, typer.Argument(help="Hosts: a pattern like 'acme', 'web*', 'os=linux'.",
                                                  autocompletion=complete_pattern)]
_PROBE_TIMEOUT = 120.0
COLUMNS = [
    Column("Critical", lambda r: sum(f["severity"] == "critical" for f in r.data["findings"]), justify="right"),
    Column("Warning", lambda r: sum(f["severity"] == "warning" for f in r.data["findings"]), justify="right"),
    Column("Findings", lambda r: "; ".join(f"{f['check_id']}: {f['title']}" for f in r.data["findings"])),
]


@common
def diagnose(
    pattern: PatternArg = "all",
    *,
    check: Annotated[list[str] | None, typer.Option(
        "--check", "-c", help="A check id or group (repeatable); default: every check.",
        autocompletion=complete_check)] = None,
    fail_on: Annotated[str, typer.Option(
        "--fail-on", help=f"Least severity that fails the run: {' or '.join(FAIL_ON)} (exit 4/5).")] = "warning",
    nagios: Annotated[bool, typer.Option(
        "--nagios", help="One Nagios plugin line for exactly one host; exit 0/1/2/3.")] = False,
    list_checks: Annotated[bool, typer.Option("--list", help="List every registered check and exit.")] = False,
    fix: Annotated[bool, typer.Option("--fix", help="Run the playbook each finding names on its hosts (plan "
                                      "shown, asked once), then diagnose those hosts again.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="With --fix: change hosts without asking (cron needs "
                                      "it: without a terminal --fix refuses without --yes).")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="With --fix: show the plan (the playbooks in check "
                                          "mode), change nothing.")] = False,
    alert: AlertOpt = False,
    opts: Common,
) -> None:
    """Findings with evidence and a remediation, grouped by host and severity."""
    check_fail_on(fail_on)
    names = list(check or [])
    if list_checks and fix:
        raise UsageError("--list and --fix do not go together")
    check_fix_options(opts, fix=fix, yes=yes, dry_run=dry_run, nagios=nagios)
    if alert and (fix or list_checks):
        raise UsageError(f"--alert and {'--fix' if fix else '--list'} do not go together")
    if fix:
        raise typer.Exit(run_fix(opts, pattern, names, fail_on=fail_on, yes=yes, dry_run=dry_run,
                                 command_timeout=_PROBE_TIMEOUT))
    if list_checks:
        _list(opts, names)
        raise typer.Exit(0)
    p = prepare(opts, command_timeout=_PROBE_TIMEOUT)
    if alert:
        check_alerting(p.config)
        p.alert = True
    if nagios:
        _one_host(p.inventory, pattern, opts.limit)
    report = p.call(opts, api.diagnose, pattern, stream=not nagios, checks=names, fail_on=fail_on)
    if nagios:  # a monitoring plugin's own 0/1/2/3, not rmmctl's exit code
        line, state = nagios_line(report, nagios_label(names), fail_on)
        with writing_stdout():
            sys.stdout.write(line + "\n")
            sys.stdout.flush()
        raise typer.Exit(state)
    raise typer.Exit(show(report, opts, COLUMNS, table=render_findings, fail_on=fail_on))


def _one_host(inventory: Inventory, pattern: str, limit: str | None) -> None:
    hosts = api.resolve_hosts(inventory, pattern, limit)
    if len(hosts) != 1:
        shown = ", ".join(h.name for h in hosts[:5]) + (", ..." if len(hosts) > 5 else "")
        raise UsageError(f"--nagios checks exactly one host, but {pattern!r} matches {len(hosts)} ({shown}); "
                         f"name one host, e.g. `rmmctl diagnose {hosts[0].name} --nagios`")


def _list(opts: Common, names: list[str]) -> None:
    from rmmctl.diagnose import plan

    setup_logging(opts, Redactor())
    rows = check_rows(plan(names).checks)
    flat = [{**r, "sections": " ".join(r["sections"]),
             "thresholds": " ".join(f"{k}={v:g}" for k, v in r["thresholds"].items()),
             "vars": " ".join(f"{k}={var_default(v)}" for k, v in r["vars"].items()),
             "playbooks": " ".join(r["playbooks"])} for r in rows]
    show_doc(opts, "diagnose --list", {"checks": rows}, lambda console: render_check_list(console, rows), flat)


def register(app: typer.Typer) -> None:
    """Attach `diagnose` to the root app."""
    app.command("diagnose")(diagnose)
