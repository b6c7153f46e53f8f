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
from rmmctl.render.table import error_lines, render_table, safe, status_text, summary_text
from rmmctl.render.values import LIST_LIMIT, capped, duration_text, human, local_from, more_text, plain, short_reason

_SEV_STYLE = {"critical": "bold red", "warning": "yellow", "info": "dim"}


def _summary(r: HostResult) -> Mapping[str, Any]:
    """The host's status summary; for `metrics` data (facts, no summary) the same row made from its facts."""
    data = r.data or {}
    if "summary" not in data and isinstance(data.get("facts"), Mapping):
        from rmmctl.health import summarise

        return summarise(data["facts"])
    return data.get("summary") or {}


_FINDING_STYLE = {"critical": "bold red", "warning": "yellow"}
_SEV_RANK = {"info": 0, "warning": 1, "critical": 2}


def finding_style(*check_ids: str) -> Any:
    """A cell's colour from the host's own findings about it: red for a critical one, yellow for a warning.

    The findings were judged with the host's resolved thresholds (inventory vars), so a cell is coloured
    exactly when the checks say so, never by a second set of numbers here. No check ids: any finding."""

    def style(r: HostResult) -> str | None:
        found = [f for f in (r.data or {}).get("findings") or ()
                 if not check_ids or f.get("check_id") in check_ids]
        worst = max((f.get("severity") for f in found), key=lambda s: _SEV_RANK.get(s, 0), default=None)
        return _FINDING_STYLE.get(worst or "")

    return style


def uptime_text(seconds: float | None) -> str | None:
    """12d 3h / 5h 12m / 42m."""
    return None if seconds is None else duration_text(seconds)


def _load(r: HostResult) -> list[float] | None:
    load = _summary(r).get("load")
    return list(load) if load and None not in load else None


def _load_part(i: int) -> Any:
    return lambda r: (_load(r) or [None] * 3)[i]


def _worst(key: str) -> Any:
    return lambda r: (_summary(r).get("worst_fs") or {}).get(key)


def _count(severity: str) -> Any:
    def count(r: HostResult) -> int | None:
        found = (r.data or {}).get("findings")
        return None if found is None else sum(f.get("severity") == severity for f in found)

    return count


def _findings_text(counts: tuple[int, int]) -> str:
    crit, warn = counts
    return f"{crit} crit, {warn} warn" if crit or warn else "0"


def _findings(r: HostResult) -> tuple[int, int] | None:
    crit, warn = _count("critical")(r), _count("warning")(r)
    return None if crit is None or warn is None else (crit, warn)


def _updates_pair(r: HostResult) -> tuple[int, int | None] | None:
    s = _summary(r)
    return None if s.get("updates") is None else (s["updates"], s.get("security_updates"))


def _updates_text(pair: tuple[int, int | None]) -> str:
    pending, security = pair
    return f"{pending} ({security} sec)" if security else str(pending)


def _s(key: str) -> Any:
    return lambda r: _summary(r).get(key)


def _num(value: float) -> str:
    return f"{value:.1f}" if isinstance(value, float) else str(value)


STATUS_COLUMNS = [
    Column("OS", _s("os_short"), key="os", priority=3),
    Column("Uptime", _s("uptime_s"), justify="right", key="uptime_s", show=duration_text, priority=4),
    Column("CPU %", _s("cpu_pct"), justify="right", key="cpu_pct", show=_num, priority=6),
    Column("Load 1/5/15", _load, justify="right", style_of=finding_style("cpu.load"), priority=1,
           show=lambda load: " ".join(f"{x:.2f}" for x in load),
           csv=(("load1", _load_part(0)), ("load5", _load_part(1)), ("load15", _load_part(2)))),
    Column("Mem %", _s("mem_pct"), justify="right", key="mem_pct", show=_num, priority=7,
           style_of=finding_style("memory.pressure")),
    Column("Worst FS", _s("worst_fs"), justify="right", style_of=finding_style("disk.space"), priority=8,
           show=lambda fs: f"{fs['mount']} {fs['used_pct']:.0f}%",
           csv=(("worst_fs", _worst("mount")), ("worst_fs_used_pct", _worst("used_pct")))),
    Column("Updates", _updates_pair, justify="right", show=_updates_text, priority=5,
           style_of=finding_style("updates.security", "updates.pending"),
           csv=(("updates_pending", _s("updates")), ("updates_security", _s("security_updates")))),
    Column("Reboot", _s("reboot_required"), key="reboot_required", priority=2,
           show=lambda v: "yes" if v else "no", style_of=finding_style("reboot.required")),
    Column("Skew s", _s("skew_s"), justify="right", key="skew_s", priority=1, show=_num,
           style_of=finding_style("time.skew")),
    Column("Findings", _findings, justify="right", show=_findings_text, style_of=finding_style(), priority=9,
           csv=(("findings_critical", _count("critical")), ("findings_warning", _count("warning")))),
]
"""The status table's columns. Colours come from the host's findings (finding_style); CPU % has no check
of its own, so it is never coloured. CSV writes the raw values under machine names."""


def render_status(console: Console, report: RunReport) -> None:
    """The status table, the whole errors of hosts that failed, each host's findings (worst first), the summary."""
    render_table(console, report, STATUS_COLUMNS, title="status", then=_finding_lines)


def _finding_lines(console: Console, report: RunReport) -> None:
    for host in report.hosts:
        found = (host.data or {}).get("findings") or []
        for f in sorted(found, key=lambda f: -_SEV_RANK.get(f["severity"], 0)):
            line = Text.assemble((f"{safe(host.name)}: ", "bold"),
                                 (f"{f['severity']}: ", _SEV_STYLE.get(f["severity"], "")),
                                 safe(f["title"]), (f"  -> {safe(f.get('remediation') or '')}", "dim"))
            console.print(line)


def render_metrics(console: Console, report: RunReport) -> None:
    """One panel per host with a table per fact section and the host's findings; failed hosts in one line
    each (short reason), their whole errors under them."""
    for host in report.hosts:
        facts = (host.data or {}).get("facts")
        if not facts:
            reason = short_reason(host.error.kind, host.error.message) if host.error else ""
            console.print(Text.assemble((safe(host.name), "bold"), " ", status_text(host.status), " ",
                                        (safe(reason), "red")))
            continue
        tables = [t for t in (_section_table(name, value) for name, value in facts.items() if name != "errors") if t]
        small = [t for t in tables if isinstance(t, Text) or (isinstance(t, Table) and not t.show_header)]
        parts: list[Any] = [Columns(small), *(t for t in tables if not any(t is x for x in small))]
        for section, message in (facts.get("errors") or {}).items():
            parts.append(Text(f"{section}: {safe(str(message))}", style="yellow"))
        for f in sorted((host.data or {}).get("findings") or [], key=lambda f: -_SEV_RANK.get(f["severity"], 0)):
            parts.append(Text.assemble((f"{f['severity']}: ", _SEV_STYLE.get(f["severity"], "")), safe(f["title"])))
        title = Text.assemble((safe(host.name), "bold"), " ", status_text(host.status))
        console.print(Panel(Group(*parts), title=title))
    error_lines(console, report)
    console.print(summary_text(report))


_ROW_LISTS = ("mounts", "failed", "packages", "top_cpu", "printers", "paths", "databases")


def _section_table(name: str, value: Any) -> Table | Text | Group | None:
    """One fact section for people: a table of its rows (mounts, packages, ...) under a line with its other
    facts, or a key/value table; sizes, durations and times in human units (values.human)."""
    if (reason := unavailable_reason(value)) is not None:
        return Text(f"{name}: unavailable ({plain(reason)})", style="dim")
    if not isinstance(value, dict):
        return None
    list_key, rows = _rows_of(value)
    scalars = {k: v for k, v in value.items() if not _is_rows(v) and not k.startswith("top_")}
    if rows:
        keys = [k for k in rows[0] if not isinstance(rows[0][k], (list, dict))]
        shown, hidden = capped(rows, LIST_LIMIT, total=_total(name, value, rows))
        title = name
        if list_key == "top_cpu" and isinstance(scalars.get("count"), int):
            title = f"{name}: top {len(rows)} by CPU of {scalars.pop('count')}"
        facts = ", ".join(f"{label(k)}: {human(k, v)}" for k, v in scalars.items())
        table = Table(*(label(k) for k in keys), expand=False)
        for row in shown:
            table.add_row(*(safe(human(k, row.get(k))) for k in keys))
        if hidden:
            table.add_row(Text(more_text(hidden), style="dim"), *([""] * (len(keys) - 1)))
        head = Text.assemble((title, "italic"), (f"  {safe(facts)}" if facts else "", "dim"))
        return Group(head, table)
    table = Table("key", "value", title=name, title_justify="left", show_header=False)
    for key, v in scalars.items():
        table.add_row(label(key), safe(human(key, v)))
    return table


def label(key: str) -> str:
    """A fact's name for people: its unit suffix goes when the value is shown in human units (size_kb -> size)."""
    return key.removesuffix("_kb")


def _is_rows(value: Any) -> bool:
    return isinstance(value, list) and any(isinstance(x, dict) for x in value)


def _rows_of(value: Mapping[str, Any]) -> tuple[str | None, list[Any]]:
    for key in _ROW_LISTS:
        if isinstance(value.get(key), list) and value[key] and isinstance(value[key][0], dict):
            return key, value[key]
    return None, []


def _total(name: str, value: Mapping[str, Any], rows: Sequence[Any]) -> int:
    """How many rows the list stands for: updates say `pending` even when the probe kept fewer packages."""
    pending = value.get("pending") if name == "updates" else None
    return max(len(rows), pending) if isinstance(pending, int) and not isinstance(pending, bool) else len(rows)


def render_log_entries(console: Console, entries: Sequence[Mapping[str, Any]]) -> None:
    """Merged log lines: time (local, with the zone), host, level, source, message."""
    table = Table("Time", "Host", "Level", "Source", "Message", expand=False)
    for e in entries:
        style = "bold red" if e["level"] in ("emerg", "alert", "crit") else "red" if e["level"] == "err" else None
        table.add_row(local_from(e.get("time")), safe(str(e["host"])), Text(e["level"], style=style or ""),
                      safe(plain(e.get("source"))), safe(str(e.get("message") or "")))
    console.print(table)
