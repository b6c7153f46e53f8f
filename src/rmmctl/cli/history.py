"""`rmmctl history`: past runs and the audit log of every remote action."""

from __future__ import annotations

from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from rmmctl.cli.options import Common, common
from rmmctl.cli.output import setup_logging, show_doc
from rmmctl.errors import ConfigError
from rmmctl.secrets import Redactor
from rmmctl.store import Store

app = typer.Typer(help="Past runs, host results and the audit log.", invoke_without_command=True)


def _store(opts: Common) -> Store:
    redactor = Redactor()
    setup_logging(opts, redactor)
    return Store.open(opts.db, redactor=redactor)


@app.callback()
def _default(ctx: typer.Context) -> None:
    """Past runs, host results and the audit log (`rmmctl history` = `rmmctl history runs`)."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(runs)


@app.command("runs")
@common
def runs(
    *,
    count: Annotated[int, typer.Option("--count", "-n", min=1, help="How many runs.")] = 20,
    command: Annotated[Optional[str], typer.Option("--command", help="Only runs of this command.")] = None,
    opts: Common,
) -> None:
    """List recent runs, newest first."""
    with _store(opts) as store:
        rows = store.runs(limit=count, command=command)

    def table(console: Console) -> None:
        t = Table("Run", "Started", "Command", "Hosts", "Result", "Exit", "Duration", "User")
        for r in rows:
            t.add_row(str(r["id"]), str(r["started_at"]), " ".join(["rmmctl", *(r.get("argv") or [r["command"]])]),
                      str(r["hosts_total"]), _counts(r.get("counts") or {}), str(r.get("exit_code", "")),
                      f"{(r.get('duration_s') or 0):.2f}s", str(r.get("username") or ""))
        console.print(t)

    show_doc(opts, "history runs", {"runs": rows}, table, rows)


@app.command("show")
@common
def show(run_id: Annotated[int, typer.Argument(help="Run id from `rmmctl history`.")], *, opts: Common) -> None:
    """Show one run with its host results."""
    with _store(opts) as store:
        run = store.run(run_id)
    if run is None:
        raise ConfigError(f"no run {run_id} in the history database; list runs with `rmmctl history`")

    def table(console: Console) -> None:
        console.print(f"run {run['id']}: {run['command']} at {run['started_at']} exit {run.get('exit_code')}")
        t = Table("Host", "Address", "Status", "Error", "Duration")
        for h in run.get("hosts", []):
            t.add_row(h["host"], h["address"], h["status"], h.get("error_message") or "",
                      f"{(h.get('duration_s') or 0):.2f}s")
        console.print(t)

    show_doc(opts, "history show", {"run": run}, table, run.get("hosts", []))


@app.command("audit")
@common
def audit(
    *,
    host: Annotated[Optional[str], typer.Option("--host", help="Only this host.")] = None,
    run_id: Annotated[Optional[int], typer.Option("--run", help="Only this run.")] = None,
    count: Annotated[int, typer.Option("--count", "-n", min=1, help="How many entries.")] = 50,
    opts: Common,
) -> None:
    """The append-only audit log: who ran what, where, when, and how it ended."""
    with _store(opts) as store:
        rows = store.audit_log(limit=count, host=host, run_id=run_id)

    def table(console: Console) -> None:
        t = Table("When", "User", "Host", "Action", "Detail", "Exit", "Duration")
        for r in rows:
            t.add_row(str(r["at"]), str(r["username"]), r["host"], r["action"], r["detail"],
                      "" if r["exit_code"] is None else str(r["exit_code"]), f"{r['duration_s']:.2f}s")
        console.print(t)

    show_doc(opts, "history audit", {"audit": rows}, table, rows)


def _counts(counts: dict) -> str:
    return ", ".join(f"{n} {k}" for k, n in counts.items() if n)
