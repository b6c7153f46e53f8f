"""`rmmctl inventory list|graph|host|check`: the resolved inventory, like ansible-inventory."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from rmmctl.api import resolve_hosts
from rmmctl.cli.options import Common, common
from rmmctl.cli.output import setup_logging, show_doc
from rmmctl.inventory.load import load_inventory
from rmmctl.inventory.model import Host
from rmmctl.inventory.views import check, graph_lines, host_vars, to_ansible_list
from rmmctl.render.data import write_json
from rmmctl.secrets import Redactor

app = typer.Typer(help="Show and check the resolved inventory.", no_args_is_help=True)


def _load(opts: Common):
    setup_logging(opts, Redactor())
    return load_inventory(opts.inventory)


def _host_row(h: Host) -> dict:
    return {"name": h.name, "address": h.address, "connection": h.connection, "port": h.port, "user": h.user,
            "os": h.os, "client": h.client, "site": h.site, "groups": list(h.groups), "tags": list(h.tags)}


@app.command("list")
@common
def list_(
    pattern: Annotated[str, typer.Argument(help="Only hosts matching this pattern.")] = "all",
    *,
    ansible: Annotated[bool, typer.Option("--ansible", help="Print exactly `ansible-inventory --list` JSON.")] = False,
    opts: Common,
) -> None:
    """List hosts with their client, site, groups and connection."""
    inv = _load(opts)
    if ansible:
        write_json(to_ansible_list(inv), sys.stdout)
        return
    hosts = resolve_hosts(inv, pattern, opts.limit)
    rows = [_host_row(h) for h in hosts]

    def table(console: Console) -> None:
        t = Table("Host", "Address", "Connection", "OS", "Client", "Site", "Groups", "Tags", title=str(
            inv.source or "embedded default inventory"))
        for r in rows:
            t.add_row(r["name"], f"{r['address']}:{r['port']}" if r["port"] else r["address"], r["connection"],
                      r["os"] or "", r["client"] or "", r["site"] or "", ",".join(r["groups"]), ",".join(r["tags"]))
        console.print(t)
        console.print(f"{len(rows)} hosts")

    flat = [{**r, "groups": ";".join(r["groups"]), "tags": ";".join(r["tags"])} for r in rows]
    show_doc(opts, "inventory list", {"source": str(inv.source) if inv.source else None, "format": inv.format,
                                       "hosts": rows}, table, flat)


@app.command("graph")
@common
def graph(*, opts: Common) -> None:
    """Show the group tree, like `ansible-inventory --graph`."""
    inv = _load(opts)
    lines = graph_lines(inv)
    show_doc(opts, "inventory graph", {"graph": lines},
             lambda console: console.print("\n".join(lines), markup=False), [{"line": x} for x in lines])


@app.command("host")
@common
def host(name: Annotated[str, typer.Argument(help="The host's inventory name.")], *, opts: Common) -> None:
    """Show one host's connection settings and merged vars (secrets masked)."""
    inv = _load(opts)
    data = host_vars(inv, name)
    name = data["name"]  # the full name when `name` was a short one (fs01 -> fs01.acme.example)

    def table(console: Console) -> None:
        t = Table("Key", "Value", title=name)
        for key, value in data.items():
            t.add_row(str(key), str(value))
        console.print(t)

    show_doc(opts, "inventory host", {"host": name, "vars": data}, table,
             [{"key": k, "value": v} for k, v in data.items()])


@app.command("check")
@common
def check_(*, opts: Common) -> None:
    """Validate the inventory: exit 3 on errors, print warnings (exit 0)."""
    inv = _load(opts)
    warnings = check(inv)

    def table(c: Console) -> None:
        c.print(f"[green]ok[/]: {len(inv.hosts)} hosts, {len(inv.groups)} groups in "
                f"{inv.source or 'embedded default inventory'}")
        for w in warnings:
            c.print(f"[yellow]warning[/]: {w}", markup=True, highlight=False)

    show_doc(opts, "inventory check", {"ok": True, "hosts": len(inv.hosts), "groups": len(inv.groups),
                                        "warnings": warnings}, table, [{"warning": w} for w in warnings])
