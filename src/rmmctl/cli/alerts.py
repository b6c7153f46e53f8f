"""`rmmctl alerts test|list|history` (docs/alerts.md). Alerts are sent by `status --alert`/`diagnose --alert`."""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from rmmctl.cli.options import COUNT_MAX, Common, common, number
from rmmctl.cli.output import setup_logging, show_doc, stderr_console
from rmmctl.config import load_config
from rmmctl.errors import ConfigError, ExitCode
from rmmctl.formats import iso_utc
from rmmctl.inventory.parse import did_you_mean
from rmmctl.render.values import local_from, plain
from rmmctl.secrets import Redactor
from rmmctl.store import open_store

app = typer.Typer(help="Alert channels and state: test a channel, list open alerts, their history.",
                  no_args_is_help=True)


@app.callback()
@common
def _group(*, opts: Common) -> None:
    """Alerts: `alerts test CHANNEL`, `alerts list` (open), `alerts history`."""


def _iso(value: Any) -> str | None:
    return iso_utc(value) if isinstance(value, (int, float)) else value


def _row(r: dict[str, Any]) -> dict[str, Any]:
    keys = ("host", "check_id", "severity", "title", "rule", "state", "fails", "first_seen", "last_seen", "opened_at",
            "first_sent_at", "last_sent_at", "resolved_at", "resolve_sent_at", "pending", "last_error", "evidence")
    return {k: _iso(r.get(k)) if k.endswith(("_at", "_seen")) else r.get(k) for k in keys}


@app.command("test")
@common
def test(channel: Annotated[str, typer.Argument(help="A channel name from alerts.channels.")], *, opts: Common) -> None:
    """Send a test message through one channel; exit 0 if it was delivered, 10 if not (the reason on stderr)."""
    from rmmctl.alerts import alert_document
    from rmmctl.notify import send

    setup_logging(opts, Redactor())
    cfg = load_config(opts.config)
    if channel not in cfg.alerts.channels:
        known = ", ".join(cfg.alerts.channels) or "none: add alerts.channels to the config file"
        raise ConfigError(f"no alert channel {channel!r}{did_you_mean(channel, cfg.alerts.channels)}; known: {known}")
    ch = cfg.alerts.channels[channel]
    now = time.time()
    error = None
    try:
        send(ch, alert_document(channel, [], now, test=True))
    except Exception as exc:  # noqa: BLE001 - NotifyError, or anything the library raised: one line
        error = str(exc) or type(exc).__name__
    with open_store(opts.db) as store:
        store.add_alert_send({"at": now, "channel": channel, "ok": error is None, "test": True, "error": error})
    doc = {"channel": channel, "kind": ch.kind, "ok": error is None, "error": error, "sent_at": iso_utc(now)}

    def table(console: Console) -> None:
        if error is None:
            console.print(f"sent a test message through {channel} ({ch.kind})", markup=False, highlight=False)

    show_doc(opts, "alerts test", doc, table)
    if error is not None:
        stderr_console(opts).print(f"rmmctl: alerts: {channel}: {error}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(int(ExitCode.ALERT))


@app.command("list")
@common
def list_(*, opts: Common) -> None:
    """Open alerts: since when, last sent, what is still to send (and problems counting towards an alert)."""
    setup_logging(opts, Redactor())
    with open_store(opts.db) as store:
        rows = [_row(r) for r in store.alert_rows()]

    def table(console: Console) -> None:
        if not rows:
            console.print("no open alerts", highlight=False)
            return
        t = Table("Host", "Check", "Severity", "Rule", "State", "Since", "Last sent", "To send", "Title")
        for r in rows:
            state = r["state"] if r["state"] != "pending" else f"counting ({r['fails']})"
            t.add_row(r["host"], r["check_id"], r["severity"], r["rule"], state, local_from(r["opened_at"] or
                      r["first_seen"]), local_from(r["last_sent_at"]), plain([f"{c}: {k}" for c, k in r["pending"].items()]),
                      r["title"])
        console.print(t)

    show_doc(opts, "alerts list", {"alerts": rows}, table, rows)


@app.command("history")
@common
def history(*, count: Annotated[int, typer.Option("--count", "-n", parser=number(int, 1, COUNT_MAX), metavar="N",
                                                  help="How many alerts and sends.")] = 50,
            opts: Common) -> None:
    """Every alert, open or closed (newest first), and the latest delivery attempts per channel."""
    setup_logging(opts, Redactor())
    with open_store(opts.db) as store:
        rows = [_row(r) for r in store.alert_history(limit=count)]
        sends = [{**s, "at": _iso(s["at"])} for s in store.alert_sends(limit=count)]
    sends = [{k: v for k, v in s.items() if k != "id"} for s in sends]

    def table(console: Console) -> None:
        t = Table("Host", "Check", "Rule", "State", "Opened", "Sent", "Resolved", "Title", title="Alerts")
        for r in rows:
            t.add_row(r["host"], r["check_id"], r["rule"], r["state"], local_from(r["opened_at"]),
                      local_from(r["first_sent_at"]), local_from(r["resolved_at"]), r["title"])
        console.print(t)
        s = Table("At", "Channel", "Result", "New", "Again", "Resolved", "Error", title="Sends")
        for d in sends:
            s.add_row(local_from(d["at"]), d["channel"], ("test " if d["test"] else "") + ("ok" if d["ok"] else "FAILED"),
                      str(d["new"]), str(d["realert"]), str(d["resolved"]), plain(d["error"]))
        console.print(s)

    show_doc(opts, "alerts history", {"alerts": rows, "sends": sends}, table, rows)
