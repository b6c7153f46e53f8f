"""Health commands: `status`, `metrics`, `logs` (one probe round trip per host)."""

from __future__ import annotations

import json
import re
import sys
import time
from typing import Annotated, Any

import typer

from rmmctl import api
from rmmctl.cli.context import Prepared, prepare, run_call
from rmmctl.cli.complete import complete_pattern
from rmmctl.cli.options import COUNT_MAX, DEADLINE_MAX, SECONDS, Common, common, number
from rmmctl.cli.output import show, stderr_console, stdout_console, writing_stdout
from rmmctl.errors import ConfigError, ExitCode, Terminated
from rmmctl.facts import unavailable_reason
from rmmctl.levels import ALIASES, LEVELS, canonical
from rmmctl.models import RunReport
from rmmctl.render.data import Column
from rmmctl.render.health import STATUS_COLUMNS, render_log_entries, render_metrics, render_status
from rmmctl.render.values import local_from
from rmmctl.trends import parse_since

PatternArg = Annotated[str, typer.Argument(help="Hosts: a pattern like 'acme', 'web*', 'os=linux'.",
                                                  autocompletion=complete_pattern)]
AlertOpt = Annotated[bool, typer.Option("--alert", help="After the run, alert on new and resolved problems "
                                        "through the config file's alert rules (docs/alerts.md).")]
_PROBE_TIMEOUT = 120.0  # apt/dnf metadata can be slow on a cold host


@common
def status(pattern: PatternArg = "all", *, alert: AlertOpt = False, opts: Common) -> None:
    """Health at a glance: reachability, OS, uptime, CPU, load, memory, worst disk, updates, reboot, clock."""
    report = run_call(opts, api.status, pattern, command_timeout=_PROBE_TIMEOUT, alert=alert)
    raise typer.Exit(show(report, opts, STATUS_COLUMNS, table=render_status, title="status"))


@common
def metrics(pattern: PatternArg = "all", *, opts: Common) -> None:
    """Detailed metrics per host: CPU, load, memory, swap, filesystems, inodes, services, top processes."""
    report = run_call(opts, api.metrics, pattern, command_timeout=_PROBE_TIMEOUT)
    raise typer.Exit(show(report, opts, STATUS_COLUMNS, table=render_metrics, title="metrics"))  # CSV: raw values


@common
def logs(
    pattern: PatternArg = "all",
    *,
    since: Annotated[str, typer.Option("--since", help="Window start: 30m, 2h, 7d or an ISO date.")] = "1h",
    level: Annotated[str, typer.Option("--level", help=f"Least severe level shown: {', '.join(LEVELS)} "
                                                       f"(or {', '.join(ALIASES)}).")] = "err",
    grep: Annotated[str | None, typer.Option("--grep", help="Only messages matching this regex.")] = None,
    source: Annotated[str | None, typer.Option("--source", help="Only this unit or syslog tag, or read this "
                                                  "log file (an absolute path, syslog format).")] = None,
    count: Annotated[int, typer.Option("--count", "-n", parser=number(int, 1, COUNT_MAX), metavar="N",
                                       help="Most recent entries per host.")] = 200,
    follow: Annotated[bool, typer.Option("--follow", "-F", help="Keep polling for new entries until Ctrl-C.")]
    = False,
    interval: Annotated[float, typer.Option("--interval", parser=number(float, 1, DEADLINE_MAX, "seconds"),
                                            metavar=SECONDS, help="Seconds between polls with --follow.")]
    = 5.0,
    opts: Common,
) -> None:
    """Merged, time-ordered log entries across hosts from journald or syslog."""
    level = _check_level(level)
    if grep:
        _check_regex(grep)
    start = parse_since(since, time.time())
    p = prepare(opts, command_timeout=_PROBE_TIMEOUT)
    query = {"level": level, "limit": count, "grep": grep, "source": source}
    with p.store:
        report = api.logs(p.inventory, pattern, p.settings, since=start,
                          processors=p.processors(opts, stream=not follow), **query)
        if follow:
            _follow(p, pattern, opts, report, query, interval)
            return
    code = show(report, opts, [Column("Entries", lambda r: len(r.data.get("entries", [])))],
                table=_render_merged)
    raise typer.Exit(code)


def merged_entries(report: RunReport) -> list[dict[str, Any]]:
    """Every host's entries with its name, oldest first."""
    out = [{"host": h.name, **e} for h in report.hosts for e in (h.data or {}).get("entries", [])]
    return sorted(out, key=lambda e: (e["time"] or "", e["host"]))  # a line without a parsable stamp sorts first


def _render_merged(console: Any, report: RunReport) -> None:
    render_log_entries(console, merged_entries(report))
    for h in report.hosts:
        if h.error:
            console.print(f"[red]{h.name}[/]: {h.status.value}: {h.error.message}", markup=True, highlight=False)
        elif (reason := unavailable_reason((h.data or {}).get("logs"))) is not None:
            console.print(f"{h.name}: logs unavailable: {reason}", markup=False)
        else:
            for note in (h.data or {}).get("notes", []):
                console.print(f"{h.name}: {note}", markup=False, highlight=False)


def _follow(p: Prepared, pattern: str, opts: Common, first: RunReport, query: dict[str, Any],
            interval: float) -> None:
    """Print entries as they arrive: poll with the window starting at the newest entry seen."""
    seen: set[tuple[str, str, str]] = set()
    report = first
    for h in first.hosts:  # what a host could not see is said once, on stderr (stdout holds entries only)
        for note in (h.data or {}).get("notes", []):
            stderr_console(opts).print(f"{h.name}: {note}", markup=False, highlight=False)
    try:
        while True:
            fresh = [e for e in merged_entries(report) if (e["host"], e["time"], e["message"]) not in seen]
            for e in fresh:
                seen.add((e["host"], e["time"], e["message"]))
                _print_entry(e, opts)
            for h in report.hosts:
                if h.error:  # a host that stops answering is said, on stderr, every poll
                    stderr_console(opts).print(f"{h.name}: {h.status.value}: {h.error.message}", markup=False)
            if report.interrupted:  # Ctrl-C during a poll: the executor caught it, so stop here
                raise KeyboardInterrupt
            time.sleep(interval)
            since = time.time() - interval * 3  # overlap; duplicates are dropped by `seen`
            report = api.logs(p.inventory, pattern, p.settings, since=since, **query)
    except KeyboardInterrupt as exc:  # the way to end --follow; SIGTERM too (errors.Terminated)
        raise typer.Exit(int(ExitCode.TERMINATED if isinstance(exc, Terminated) else ExitCode.INTERRUPTED)) from None


def _print_entry(entry: dict[str, Any], opts: Common) -> None:
    with writing_stdout():
        if opts.fmt in ("json", "ndjson"):
            sys.stdout.write(json.dumps({"type": "entry", **entry}, sort_keys=True, ensure_ascii=False) + "\n")
            sys.stdout.flush()
        else:
            stdout_console(opts).print(f"{local_from(entry.get('time'))} {entry['host']} {entry['level']} "
                                       f"{entry.get('source') or '-'}: {entry['message']}", markup=False,
                                       highlight=False)


def _check_level(level: str) -> str:
    try:
        return canonical(level)
    except ValueError:
        raise ConfigError(f"--level {level!r} is not a syslog level; use one of {', '.join(LEVELS)}") from None


def _check_regex(text: str) -> None:
    try:
        re.compile(text)
    except re.error as exc:
        raise ConfigError(f"--grep {text!r} is not a valid regular expression: {exc}") from None


def register(app: typer.Typer) -> None:
    """Attach the health commands to the root app."""
    app.command("status")(status)
    app.command("metrics")(metrics)
    app.command("logs")(logs)

