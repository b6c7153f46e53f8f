"""Human views of health data: the status table with findings, per-host metrics, merged logs."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from rich.columns import Columns
from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from rmmctl.facts import unavailable_reason
from rmmctl.models import HostResult, RunReport
from rmmctl.render.data import Column
from rmmctl.render.table import render_table, safe, status_text, summary_text

_SEV_STYLE = {"critical": "bold red", "warning": "yellow", "info": "dim"}


def _summary(r: HostResult) -> Mapping[str, Any]:
    return (r.data or {}).get("summary") or {}


def _pct_style(warn: float, crit: float, key: str) -> Any:
    def style(r: HostResult) -> str | None:
        value = _summary(r).get(key)
        if isinstance(value, dict):
            value = value.get("used_pct")
        if not isinstance(value, (int, float)):
            return None
        return "bold red" if value >= crit else "yellow" if value >= warn else None

    return style


def uptime_text(seconds: float | None) -> str | None:
    """12d 3h / 5h 12m / 42m."""
    if seconds is None:
        return None
    s = int(seconds)
    d, h, m = s // 86400, s % 86400 // 3600, s % 3600 // 60
    return f"{d}d {h}h" if d else f"{h}h {m}m" if h else f"{m}m"


def _load(r: HostResult) -> str | None:
    load = _summary(r).get("load")
    return " ".join(f"{x:.2f}" for x in load) if load and None not in load else None


def _worst_fs(r: HostResult) -> str | None:
    fs = _summary(r).get("worst_fs")
    return f"{fs['mount']} {fs['used_pct']:.0f}%" if fs else None


def _findings(r: HostResult) -> str | None:
    found = (r.data or {}).get("findings")
    if found is None:
        return None
    crit = sum(f["severity"] == "critical" for f in found)
    warn = sum(f["severity"] == "warning" for f in found)
    return f"{crit} crit, {warn} warn" if crit or warn else "0"


def _flag(key: str, true: str = "yes") -> Any:
    return lambda r: None if _summary(r).get(key) is None else (true if _summary(r).get(key) else "no")


STATUS_COLUMNS = [
    Column("OS", lambda r: _summary(r).get("os_short")),
    Column("Uptime", lambda r: uptime_text(_summary(r).get("uptime_s")), justify="right"),
    Column("CPU %", lambda r: _summary(r).get("cpu_pct"), justify="right", style_of=_pct_style(80, 95, "cpu_pct")),
    Column("Load 1/5/15", _load, justify="right"),
    Column("Mem %", lambda r: _summary(r).get("mem_pct"), justify="right", style_of=_pct_style(90, 97, "mem_pct")),
    Column("Worst FS", _worst_fs, justify="right", style_of=_pct_style(85, 95, "worst_fs")),
    Column("Updates", lambda r: _updates(_summary(r)), justify="right",
           style_of=lambda r: "yellow" if _summary(r).get("security_updates") else None),
    Column("Reboot", _flag("reboot_required"), style_of=lambda r: "yellow" if _summary(r).get("reboot_required")
           else None),
    Column("Skew s", lambda r: _summary(r).get("skew_s"), justify="right",
           style_of=lambda r: "yellow" if abs(_summary(r).get("skew_s") or 0) >= 5 else None),
    Column("Findings", _findings, justify="right"),
]


def _updates(s: Mapping[str, Any]) -> str | None:
    if s.get("updates") is None:
        return None
    return f"{s['updates']} ({s['security_updates']} sec)" if s.get("security_updates") else str(s["updates"])


def render_status(console: Console, report: RunReport) -> None:
    """The status table, then each host's findings, worst first."""
    render_table(console, report, STATUS_COLUMNS, title="status")
    for host in report.hosts:
        for f in sorted((host.data or {}).get("findings", []), key=lambda f: f["severity"] != "critical"):
            line = Text.assemble((f"{host.name}: ", "bold"), (f"{f['severity']}: ", _SEV_STYLE[f["severity"]]),
                                 safe(f["title"]), (f"  -> {safe(f['remediation'])}", "dim"))
            console.print(line)


def render_metrics(console: Console, report: RunReport) -> None:
    """One panel per host with a table per fact section."""
    for host in report.hosts:
        facts = (host.data or {}).get("facts")
        if not facts:
            console.print(Text.assemble((host.name, "bold"), " ", status_text(host.status), " ",
                                        safe(host.error.message if host.error else "")))
            continue
        tables = [t for t in (_section_table(name, value) for name, value in facts.items() if name != "errors") if t]
        small = [t for t in tables if not isinstance(t, Table) or not t.show_header]
        parts: list[Any] = [Columns(small), *(t for t in tables if isinstance(t, Table) and t.show_header)]
        for section, message in (facts.get("errors") or {}).items():
            parts.append(Text(f"{section}: {message}", style="yellow"))
        console.print(Panel(Group(*parts), title=Text.assemble((host.name, "bold"), " ", status_text(host.status))))
    console.print(summary_text(report))


def _section_table(name: str, value: Any) -> Table | Text | None:
    if (reason := unavailable_reason(value)) is not None:
        return Text(f"{name}: unavailable ({reason})", style="dim")
    rows = _rows_of(value)
    if rows is None:
        return None
    if rows and isinstance(rows[0], dict):
        keys = [k for k in rows[0] if not isinstance(rows[0][k], (list, dict))]
        table = Table(*keys, title=name, title_justify="left", expand=False)
        for row in rows[:20]:
            table.add_row(*(safe(_fmt(row.get(k))) for k in keys))
        return table
    table = Table("key", "value", title=name, title_justify="left", show_header=False)
    for key, v in value.items():
        if not isinstance(v, (list, dict)):
            table.add_row(key, safe(_fmt(v)))
    return table


def _rows_of(value: Any) -> list[Any] | None:
    if not isinstance(value, dict):
        return None
    for key in ("mounts", "failed", "packages", "top_cpu"):
        if isinstance(value.get(key), list) and value[key]:
            return value[key]
    return []


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return str(round(value, 3))
    return str(value)


def render_log_entries(console: Console, entries: Sequence[Mapping[str, Any]]) -> None:
    """Merged log lines: time, host, level, source, message."""
    table = Table("Time", "Host", "Level", "Source", "Message", expand=False)
    for e in entries:
        style = "bold red" if e["level"] in ("emerg", "alert", "crit") else "red" if e["level"] == "err" else None
        table.add_row(e["time"], e["host"], Text(e["level"], style=style or ""), safe(str(e.get("source") or "")),
                      safe(str(e.get("message") or "")))
    console.print(table)
