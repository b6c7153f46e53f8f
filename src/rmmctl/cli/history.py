"""`rmmctl history`: past runs, metric trends, findings history and the audit log of every remote action."""

from __future__ import annotations

import time
from itertools import groupby
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Column, Table
from rich.text import Text

from rmmctl.cli.complete import complete_host
from rmmctl.cli.options import COUNT_MAX, ROW_ID_MAX, Common, common, number
from rmmctl.cli.output import setup_logging, show_doc
from rmmctl.errors import ConfigError, UsageError
from rmmctl.formats import iso_utc
from rmmctl.render.data import stored_row
from rmmctl.render.values import NONE, local_from, local_time, plain
from rmmctl.inventory.select import short_name
from rmmctl.secrets import Redactor
from rmmctl.store import MAX_ID, HistoryStore, open_store
from rmmctl.trends import DAY_S, MIN_SPAN_S, metric_report, parse_since, sparkline

app = typer.Typer(help="Past runs, host results, metric trends and the audit log.", invoke_without_command=True)
# `rmmctl history` alone lists runs, so the group callback takes the runs options too (see _default).


def _store(opts: Common) -> HistoryStore:
    redactor = Redactor()
    setup_logging(opts, redactor)
    return open_store(opts.db, redactor=redactor)


RunsCount = Annotated[int, typer.Option("--count", "-n", parser=number(int, 1, COUNT_MAX), metavar="N",
                                         help="How many runs.")]
RunsCommand = Annotated[str | None, typer.Option("--command", help="Only runs of this command.")]


@app.callback()
@common
def _default(ctx: typer.Context, *, count: RunsCount = 20, command: RunsCommand = None, opts: Common) -> None:
    """Past runs, host results and the audit log (`rmmctl history` = `rmmctl history runs`)."""
    if ctx.invoked_subcommand is None:
        _runs(opts, count, command)
    elif ctx.get_parameter_source("count").name == "COMMANDLINE" or command is not None:
        raise UsageError(f"-n/--count and --command before `{ctx.invoked_subcommand}` belong to "
                         f"`rmmctl history` (runs); put them after `history {ctx.invoked_subcommand}`")


@app.command("runs")
@common
def runs(*, count: RunsCount = 20, command: RunsCommand = None, opts: Common) -> None:
    """List recent runs, newest first."""
    _runs(opts, count, command)


def _runs(opts: Common, count: int, command: str | None) -> None:
    with _store(opts) as store:
        rows = [stored_row(r) for r in store.runs(limit=count, command=command)]

    def table(console: Console) -> None:
        t = Table("Run", "Started", "Command", "Hosts", "Result", "Exit", "Duration", "User")
        for r in rows:
            t.add_row(str(r["id"]), local_from(r["started_at"]), " ".join(["rmmctl", *(r.get("argv") or [r["command"]])]),
                      plain(r.get("hosts_total")), _result(r), plain(r.get("exit_code")),
                      _seconds(r.get("duration_s")), plain(r.get("username")))
        console.print(t)

    show_doc(opts, "history runs", {"runs": rows}, table, rows)


@app.command("show")
@common
def show(run_id: Annotated[int, typer.Argument(help="Run id from `rmmctl history`.")], *, opts: Common) -> None:
    """Show one run with its host results."""
    _check_run_id(run_id)
    with _store(opts) as store:
        run = store.run(run_id)
        if run is not None and run.get("command") == "play":
            run["failed_tasks"] = store.task_results(run_id, status="failed")
    if run is not None:
        run = stored_row(run)
    if run is None:
        raise ConfigError(f"no run {run_id} in the history database; list runs with `rmmctl history`")

    def table(console: Console) -> None:
        what = f"play {_playbook_name(run['playbook'])}" if run.get("playbook") else run["command"]
        console.print(f"run {run['id']}: {what} at {local_from(run['started_at'])}: {_result(run)}, "
                      f"exit {plain(run.get('exit_code'))}", markup=False, highlight=False)
        if run.get("command") == "play":
            _play_tables(console, run)
            return
        t = Table("Host", "Address", "Status", "Error", "Duration")
        for h in run.get("hosts", []):
            t.add_row(h["host"], h["address"], h["status"], h.get("error_message") or "", _seconds(h.get("duration_s")))
        console.print(t)

    show_doc(opts, "history show", {"run": run}, table, run.get("hosts", []))


_RECAP = ("ok", "changed", "failed", "skipped", "ignored")


def _playbook_name(path: str) -> str:
    """A shipped playbook by its name (`motd (shipped)`), any other by its path."""
    from pathlib import Path

    from rmmctl.playbooks.shipped import SHIPPED_DIR

    p = Path(path)
    return f"{p.stem} (shipped)" if p.parent == SHIPPED_DIR else path


def _play_tables(console: Console, run: dict[str, Any]) -> None:
    """A play run: the recap per host (task counts, or the host's error or skip reason), then its failed tasks."""
    t = Table("Host", "Status", *(Column(k, justify="right") for k in _RECAP), "Error / skipped", "Duration")
    for h in run.get("hosts", []):
        data = h.get("data") or {}
        recap = data.get("recap") or {}
        note = h.get("error_message") or data.get("skip_reason") or ""
        t.add_row(h["host"], h["status"], *(str(recap.get(k, 0)) for k in _RECAP), note, _seconds(h.get("duration_s")))
    console.print(t)
    failed = run.get("failed_tasks") or []
    if failed:
        f = Table("Host", "Task", "Module", "Message", title="failed tasks", title_justify="left")
        for r in failed:
            f.add_row(r["host"], f"{r['index']}: {r['name']}" + (" (handler)" if r.get("handler") else ""), r["module"],
                      r["message"])
        console.print(f)


@app.command("audit")
@common
def audit(
    *,
    host: Annotated[str | None, typer.Option("--host", help="Only this host.")] = None,
    run_id: Annotated[int | None, typer.Option("--run", parser=number(int, 1, ROW_ID_MAX), metavar="RUN",
                                               help="Only this run.")] = None,
    count: Annotated[int, typer.Option("--count", "-n", parser=number(int, 1, COUNT_MAX), metavar="N",
                                       help="How many entries.")] = 50,
    opts: Common,
) -> None:
    """The append-only audit log: who ran what, where, when, and how it ended."""
    if run_id is not None:
        _check_run_id(run_id, "--run")
    with _store(opts) as store:
        rows = [stored_row(r) for r in store.audit_log(limit=count, host=host, run_id=run_id)]

    def table(console: Console) -> None:
        t = Table("When", "User", "Host", "Action", "Detail", "Exit", "Duration")
        for r in rows:
            t.add_row(local_from(r["at"]), plain(r["username"]), r["host"], r["action"], r["detail"],
                      plain(r["exit_code"]), _seconds(r["duration_s"]))
        console.print(t)

    show_doc(opts, "history audit", {"audit": rows}, table, rows)


@app.command("metrics")
@common
def metrics(
    host: Annotated[str, typer.Argument(
        help="Host name, as stored by `rmmctl status` / `rmmctl metrics`.", autocompletion=complete_host)],
    *,
    metric: Annotated[str | None, typer.Option(
        "--metric", "-m", help="A metric name or dotted prefix: disk./, disk, load, cpu.percent.")] = None,
    since: Annotated[str, typer.Option("--since", help="Window start: 30m, 2h, 7d or an ISO date.")] = "7d",
    count: Annotated[int, typer.Option("--count", "-n", parser=number(int, 1, COUNT_MAX), metavar="N",
                                       help="Newest samples per metric.")] = 1000,
    opts: Common,
) -> None:
    """Trends of a host's stored metrics: change, slope per day, a sparkline, and when a disk fills up."""
    start = parse_since(since, time.time())
    with _store(opts) as store:
        if host not in store.sample_hosts():  # `fs01` for fs01.acme.example when that is unique
            host = short_name(host, store.sample_hosts(), str(store.path)) or host
        _check_selection(store, host, metric)
        names = store.metric_names(host, metric)
        points = {name: [(at, v) for at, _, v in rows]
                  for name, rows in groupby(store.samples(host, metric, since=start, limit=count), lambda r: r[1])}
    reports = [metric_report(name, points.get(name, [])) for name in names]

    def table(console: Console) -> None:
        plural = "" if len(names) == 1 else "s"
        console.print(f"{host}: {len(names)} metric{plural} since {_when(start)}, at most {count} samples each")
        wide = console.width >= _WIDE  # narrower: no first/min/max, a shorter sparkline
        keep = [i for i, h in enumerate(_HEADERS) if wide or h not in ("First", "Min", "Max")]
        headers = _HEADERS if wide else tuple("N" if h == "Samples" else h for h in _HEADERS)
        t = Table(*(Column(headers[i], no_wrap=True, min_width=max(map(len, names)) if i == 0 else None)
                    for i in keep))
        for r in reports:
            cells = _metric_cells(r, spark=16 if wide else 8)
            t.add_row(*(cells[i] for i in keep))
        console.print(t)

    show_doc(opts, "history metrics", {"host": host, "since": iso_utc(start), "metrics": reports}, table,
             [_metric_csv(r) for r in reports])


def _check_run_id(run_id: int, what: str = "RUN_ID") -> None:
    """Run ids are 1 .. 2**63-1 (64-bit in every store): anything else is a usage error, not a lookup."""
    if not 1 <= run_id <= MAX_ID:
        shown = str(run_id) if len(str(run_id)) <= 30 else str(run_id)[:30] + "..."
        raise UsageError(f"{what} {shown}: a run id is a whole number from 1 to {MAX_ID}; "
                         "list runs with `rmmctl history runs`")


def _check_selection(store: HistoryStore, host: str, metric: str | None) -> None:
    """ConfigError naming what exists when the host has no samples or the selector matches none."""
    known = store.metric_names(host)
    if not known:
        hosts = store.sample_hosts()
        have = f"hosts with samples: {_some(hosts)}" if hosts else "none yet (`rmmctl status` records them)"
        raise ConfigError(f"no metric samples for host {host!r} in {store.location}; {have}")
    if metric and not store.metric_names(host, metric):
        raise ConfigError(f"host {host!r} has no metric {metric!r} (a name or dotted prefix); "
                          f"it has: {_some(known)}")


def _some(names: list[str], most: int = 40) -> str:
    more = f" ... ({len(names) - most} more)" if len(names) > most else ""
    return ", ".join(names[:most]) + more


_HEADERS = ("Metric", "Samples", "First", "Last", "Min", "Max", "Change", "Slope/day", "Full in", "Trend")
_WIDE = 110


def _metric_cells(r: dict[str, Any], spark: int) -> list[str]:
    tr, days = r["trend"], r["full_in_days"]
    if tr is None:
        return [r["name"], "0", *[""] * 8]
    full = "" if days is None else "now" if days == 0 else f"{days:.1f} days" if days < 365 else "> 1 year"
    num = _kib if r["name"].endswith("_kb") else _num
    slope = num(tr["slope_per_day"], sign=True) if tr["span_days"] * DAY_S >= MIN_SPAN_S else ""  # too short
    return [r["name"], str(len(r["points"])), num(tr["first"]), num(tr["last"]), num(tr["min"]),
            num(tr["max"]), num(tr["change"], sign=True), slope, full,
            sparkline([v for _, v in r["points"]], width=spark)]


def _metric_csv(r: dict[str, Any]) -> dict[str, Any]:
    points = r["points"]
    return {"metric": r["name"], "samples": len(points), "first_at": points[0][0] if points else None,
            "last_at": points[-1][0] if points else None, **(r["trend"] or {}), "full_in_days": r["full_in_days"]}


def _num(v: float, sign: bool = False) -> str:
    """12,345 for big numbers, up to 2 decimals for small ones; with sign=True a leading + when positive."""
    text = f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.2f}".rstrip("0").rstrip(".")
    text = "0" if text in ("-0", "") else text
    return f"+{text}" if sign and v > 0 and text != "0" else text


def _kib(v: float, sign: bool = False) -> str:
    """A size in KiB, human-readable: 512K, 7.6G, +1.3M."""
    if v == 0:
        return "0"
    size, unit = abs(v), "K"
    for unit in "KMGTP":
        if size < 1024 or unit == "P":
            break
        size /= 1024
    text = f"{size:.1f}".removesuffix(".0") + unit
    return ("-" if v < 0 else "+" if sign and v > 0 else "") + text


def _when(ts: float) -> str:
    return local_time(ts)


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {k}" for k, n in counts.items() if n)


def _result(run: dict[str, Any]) -> str:
    """"2 ok, 1 unreachable"; "running" while a run goes; an interrupted or crashed run says so."""
    status = run.get("status")
    if status == "running":
        return "running"
    counts = _counts(run.get("counts") or {})
    if status in ("interrupted", "crashed"):
        return f"{counts} ({status})" if counts else str(status)
    return counts or NONE


def _seconds(value: float | None) -> str:
    return NONE if value is None else f"{value:.2f}s"


_STATE_STYLE = {"new": "bold red", "ongoing": "yellow", "resolved": "green", "past": "dim"}


@app.command("findings")
@common
def findings(
    host: Annotated[str | None, typer.Argument(
        help="Only this host (as named in the inventory).", autocompletion=complete_host)] = None,
    *,
    all_: Annotated[bool, typer.Option("--all", help="Also findings resolved before the latest run.")] = False,
    opts: Common,
) -> None:
    """Findings as of each host's latest `rmmctl diagnose`: new, ongoing, and resolved by that run."""
    with _store(opts) as store:
        if host is not None and host not in store.finding_hosts():
            host = short_name(host, store.finding_hosts(), str(store.path)) or host
        if host is not None and host not in store.finding_hosts():
            known = store.finding_hosts()
            have = f"hosts with findings history: {_some(known)}" if known else "none yet (`rmmctl diagnose`)"
            raise ConfigError(f"no findings history for host {host!r} in {store.location}; {have}")
        rows = [stored_row(r) for r in store.findings(host, include_past=all_)]
    order = {"new": 0, "ongoing": 1, "resolved": 2, "past": 3}
    rows.sort(key=lambda r: (r["host"], order[r["state"]], r["check_id"], r["first_seen"]))

    def table(console: Console) -> None:
        t = Table("Host", "State", "Severity", "Check", "Title", "First seen", "Last seen", "Resolved")
        for r in rows:
            t.add_row(r["host"], Text(r["state"], style=_STATE_STYLE[r["state"]]), r["severity"], r["check_id"],
                      r["title"], local_from(r["first_seen"]), local_from(r["last_seen"]),
                      local_from(r["resolved_at"]))
        console.print(t)
        counts = {s: sum(r["state"] == s for r in rows) for s in order}
        console.print(", ".join(f"{n} {s}" for s, n in counts.items() if n) or "no findings")

    csv_rows = [{**r, "evidence": "; ".join(r["evidence"])} for r in rows]
    show_doc(opts, "history findings", {"findings": rows}, table, csv_rows)
