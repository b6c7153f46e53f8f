"""`rmmctl inventory list|graph|host|check`: the resolved inventory, like ansible-inventory."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Mapping
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from rmmctl.api import resolve_hosts
from rmmctl.cli.complete import complete_host, complete_pattern
from rmmctl.cli.options import Common, common
from rmmctl.cli.output import setup_logging, show_doc
from rmmctl.inventory.load import load_inventory
from rmmctl.inventory.model import Host
from rmmctl.inventory.views import check, graph_lines, host_vars, to_ansible_list
from rmmctl.render.data import write_json
from rmmctl.secrets import Redactor

app = typer.Typer(help="Show and check the resolved inventory.", no_args_is_help=True)


@app.callback()
@common
def _group(*, opts: Common) -> None:
    """Show and check the resolved inventory. Common options may also come before `inventory`."""


def _load(opts: Common):
    setup_logging(opts, Redactor())
    return load_inventory(opts.inventory)


def _host_row(h: Host) -> dict:
    return {"name": h.name, "address": h.address, "connection": h.connection, "port": h.port, "user": h.user,
            "os": h.os, "client": h.client, "site": h.site, "groups": list(h.groups), "tags": list(h.tags)}


@app.command("list")
@common
def list_(
    pattern: Annotated[str, typer.Argument(help="Only hosts matching this pattern.",
                                                   autocompletion=complete_pattern)] = "all",
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
        console.print(_count(len(rows), "host"))

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
def host(name: Annotated[str, typer.Argument(help="The host's inventory name.",
                                                          autocompletion=complete_host)], *, opts: Common) -> None:
    """Show one host's connection settings and merged vars (secrets masked)."""
    inv = _load(opts)
    data = host_vars(inv, name)
    name = data["name"]  # the full name when `name` was a short one (fs01 -> fs01.acme.example)

    flat = list(_flat_rows(data))

    def table(console: Console) -> None:
        t = Table("Key", "Value", title=name)
        for key, value in flat:
            t.add_row(key, value)
        console.print(t)

    show_doc(opts, "inventory host", {"host": name, "vars": data}, table,
             [{"key": k, "value": v} for k, v in data.items()])


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _flat_rows(data: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, str]]:
    """One (key, text) row per value; a mapping's keys become `vars.disk_warn_pct` rows."""
    for key, value in data.items():
        if isinstance(value, Mapping) and value:
            yield from _flat_rows(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", _text(value)


def _text(value: Any) -> str:
    """A value as a person reads it: lists comma-separated, YAML's true/false, nothing for null."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ", ".join(_text(v) if not isinstance(v, (Mapping, list, tuple)) else json.dumps(v, default=str)
                         for v in value)
    if isinstance(value, Mapping):
        return json.dumps(value, default=str) if value else ""
    return str(value)


@app.command("check")
@common
def check_(*, opts: Common) -> None:
    """Validate the inventory: exit 3 on errors, print warnings (exit 0)."""
    inv = _load(opts)
    warnings = check(inv)

    def table(c: Console) -> None:
        c.print(f"[green]ok[/]: {_count(len(inv.hosts), 'host')}, {_count(len(inv.groups), 'group')} in "
                f"{inv.source or 'embedded default inventory'}")
        for w in warnings:
            c.print(f"[yellow]warning[/]: {w}", markup=True, highlight=False)

    show_doc(opts, "inventory check", {"ok": True, "hosts": len(inv.hosts), "groups": len(inv.groups),
                                        "warnings": warnings}, table, [{"warning": w} for w in warnings])
