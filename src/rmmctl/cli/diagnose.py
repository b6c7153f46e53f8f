"""`rmmctl diagnose`: findings with evidence and a fix, one probe round trip per host."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from rmmctl import api
from rmmctl.cli.context import prepare
from rmmctl.cli.options import Common, common
from rmmctl.cli.output import ndjson_streamer, progress_for, setup_logging, show_doc, stdout_console
from rmmctl.diagnose import FAIL_ON, check_fail_on, exit_code, nagios_label, nagios_line
from rmmctl.errors import UsageError
from rmmctl.inventory.model import Inventory
from rmmctl.render import emit
from rmmctl.render.data import Column
from rmmctl.render.diagnose import check_rows, render_check_list, render_findings, var_default
from rmmctl.secrets import Redactor

PatternArg = Annotated[str, typer.Argument(help="Hosts: a pattern like 'acme', 'web*', 'os=linux'.")]
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
        "--check", "-c", help="A check id or group (repeatable); default: every check.")] = None,
    fail_on: Annotated[str, typer.Option(
        "--fail-on", help=f"Least severity that fails the run: {' or '.join(FAIL_ON)} (exit 4/5).")] = "warning",
    nagios: Annotated[bool, typer.Option(
        "--nagios", help="One Nagios plugin line for exactly one host; exit 0/1/2/3.")] = False,
    list_checks: Annotated[bool, typer.Option("--list", help="List every registered check and exit.")] = False,
    opts: Common,
) -> None:
    """Findings with evidence and a remediation, grouped by host and severity."""
    check_fail_on(fail_on)
    names = list(check or [])
    if list_checks:
        _list(opts, names)
        raise typer.Exit(0)
    p = prepare(opts, command_timeout=_PROBE_TIMEOUT)
    if nagios:
        _one_host(p.inventory, pattern, opts.limit)
    with p.store, progress_for(opts) as observer:
        report = api.diagnose(p.inventory, pattern, p.settings, checks=names, fail_on=fail_on, store=p.store,
                              observer=observer, on_result=None if nagios else ndjson_streamer(opts))
    if nagios:
        line, state = nagios_line(report, nagios_label(names), fail_on)
        sys.stdout.write(line + "\n")
        raise typer.Exit(state)
    code = int(exit_code(report, fail_on))
    emit(report, opts.fmt, stdout=sys.stdout, console=stdout_console(opts), columns=COLUMNS, exit_code=code,
         table=render_findings)
    raise typer.Exit(code)


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
             "vars": " ".join(f"{k}={var_default(v)}" for k, v in r["vars"].items())} for r in rows]
    show_doc(opts, "diagnose --list", {"checks": rows}, lambda console: render_check_list(console, rows), flat)


def register(app: typer.Typer) -> None:
    """Attach `diagnose` to the root app."""
    app.command("diagnose")(diagnose)
