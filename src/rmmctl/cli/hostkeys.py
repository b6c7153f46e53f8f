"""`rmmctl hostkeys scan|approve|list|forget`: host-key trust without ever prompting in cron."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from rmmctl import trust
from rmmctl.api import resolve_hosts
from rmmctl.cli.context import prepare, run_call
from rmmctl.cli.complete import complete_host, complete_pattern
from rmmctl.cli.options import Common, common
from rmmctl.cli.output import show, show_doc, stderr_console
from rmmctl.errors import UsageError, exit_code_for
from rmmctl.models import HostResult
from rmmctl.render.data import Column
from rmmctl.transports.ssh import known_hosts as hostkeys

app = typer.Typer(help="Host-key trust: scan, approve, list, forget.", no_args_is_help=True)


@app.callback()
@common
def _group(*, opts: Common) -> None:
    """Host-key trust: scan, approve, list, forget. Common options may also come before `hostkeys`."""

PatternArg = Annotated[str, typer.Argument(help="Hosts to work on (a pattern).",
                                                  autocompletion=complete_pattern)]
FileOpt = Annotated[Path | None, typer.Option("--file", help="known_hosts file to write "
                                                 "(default: the inventory's known_hosts, else ~/.ssh/known_hosts).")]


def _keys(r: HostResult) -> str:
    return "\n".join(f"{k['type']} {k['fingerprint']} ({k['state']})" for k in (r.data or {}).get("keys", []))


SCAN_COLUMNS = [
    Column("Endpoint", lambda r: f"{r.data['address']}:{r.data['port']}" if r.data else None),
    Column("State", lambda r: (r.data or {}).get("state")),
    Column("Keys", _keys),
]


@app.command("scan")
@common
def scan(pattern: PatternArg = "all", *, opts: Common) -> None:
    """Fetch and show host keys and whether they are trusted; writes nothing."""
    report = run_call(opts, trust.scan, pattern)
    raise typer.Exit(show(report, opts, SCAN_COLUMNS, title="host keys"))


@app.command("approve")
@common
def approve(
    pattern: PatternArg,
    *,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Approve without asking (required without a terminal).")]
    = False,
    file: FileOpt = None,
    opts: Common,
) -> None:
    """Scan, then trust the unknown keys of the selected hosts. Changed keys are never approved here.

    The keys go to the inventory's known_hosts file if it names one, else ~/.ssh/known_hosts (the file
    `host_key_policy: accept-new` writes too); the table then shows what the next connection trusts."""
    if not yes and not sys.stdin.isatty():
        raise UsageError("approve needs --yes when stdin is not a terminal (nothing is ever asked in cron)")
    p = prepare(opts)
    report = p.call(opts, trust.scan, pattern, stream=False)
    target = trust.target_file(p.inventory, p.settings, file)
    pending = [r for r in report.hosts if r.data.get("state") == "unknown"]
    if pending and not yes:
        if opts.fmt == "table":
            show(report, opts, SCAN_COLUMNS, title="host keys (not yet trusted)")
        if not typer.confirm(f"Trust these keys for {len(pending)} host(s) in {target}?"):
            raise typer.Exit(1)
    added = trust.approve(report, target)
    report = trust.rejudge(report, p.inventory, p.settings)
    show(report, opts, SCAN_COLUMNS, title="host keys")
    err = stderr_console(opts)
    for name, n in added.items():
        err.print(f"{name}: {n} key(s) added to {target}", soft_wrap=True)
    if added and target not in trust.known_files(p.inventory, p.settings):
        err.print(f"note: rmmctl does not read {target}; make it the inventory's known_hosts to trust these keys",
                  soft_wrap=True)
    refused = [r.name for r in report.hosts if r.data.get("state") in ("changed", "revoked")]
    if refused:
        err.print(f"[red]refused[/] (key changed or revoked): {', '.join(refused)}; "
                  "`rmmctl hostkeys forget HOST` first if the change is expected")
    raise typer.Exit(exit_code_for(trust.after_approval(report, added)))


@app.command("list")
@common
def list_(
    pattern: Annotated[str | None, typer.Argument(help="Only entries for these hosts.",
                                                              autocompletion=complete_pattern)] = None,
    *,
    opts: Common,
) -> None:
    """List trusted keys from the inventory's known_hosts and ~/.ssh/known_hosts."""
    p = prepare(opts)
    p.store.close()
    files = trust.known_files(p.inventory, p.settings)
    entries = hostkeys.known_entries([f for f in files if f.exists()])
    if pattern:
        hops = [trust.target_hop(h, p.settings) for h in resolve_hosts(p.inventory, pattern, opts.limit)
                if h.connection == "ssh"]
        names = [hostkeys.known_host_name(hop.address, hop.port) for hop in hops]
        entries = [e for e in entries if any(hostkeys.hosts_match(e.hosts, n) for n in names)]
    rows = [{"file": str(e.file), "line": e.line, "hosts": e.hosts, "type": e.key_type,
             "fingerprint": e.fingerprint, "marker": e.marker} for e in entries]

    def table(console: Console) -> None:
        t = Table("File:line", "Hosts", "Type", "Fingerprint")
        for r in rows:
            t.add_row(f"{r['file']}:{r['line']}", r["hosts"], r["type"], r["fingerprint"])
        console.print(t)

    show_doc(opts, "hostkeys list", {"files": [str(f) for f in files], "entries": rows}, table, rows)


@app.command("forget")
@common
def forget(
    names: Annotated[list[str], typer.Argument(
        help="Inventory host names, or addresses (addr or addr:port).", autocompletion=complete_host)],
    *,
    file: FileOpt = None,
    opts: Common,
) -> None:
    """Remove a host's keys from the known_hosts file (e.g. after a reinstall), then scan and approve."""
    p = prepare(opts)
    p.store.close()
    target = trust.target_file(p.inventory, p.settings, file)
    removed = trust.forget(p.inventory, p.settings, names, target)
    rows = [{"host": n, "removed": c, "file": str(target)} for n, c in removed.items()]

    def table(console: Console) -> None:
        for r in rows:
            console.print(f"{r['host']}: removed {r['removed']} key(s) from {r['file']}")

    show_doc(opts, "hostkeys forget", {"removed": rows}, table, rows)
