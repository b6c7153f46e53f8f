"""Human output with rich: the per-host table and Ansible-style ad-hoc command output.

The Console is always passed in (never a global), so `--no-color`, width and the target stream are
the caller's. Text from hosts goes in as `Text` (never markup) with control characters made visible,
so remote output can neither inject rich markup nor drive the terminal.
"""

from __future__ import annotations

import re
from typing import Sequence

from rich.console import Console
from rich.table import Table
from rich.text import Text

from rmmctl.models import HostResult, RunReport, Status
from rmmctl.render.data import STATUS_KEYS, Column, flatten

__all__ = ["Column", "STATUS_STYLES", "render_outputs", "render_table", "summary_text", "status_text"]

STATUS_STYLES: dict[str, str] = {
    Status.OK.value: "green",
    Status.CHANGED.value: "green",
    Status.WARN.value: "yellow",
    Status.CRIT.value: "red",
    Status.FAILED.value: "red",
    Status.UNREACHABLE.value: "bold magenta",
    Status.TIMEOUT.value: "bold magenta",
    Status.AUTH_FAILED.value: "bold red",
    Status.ERROR.value: "red",
    Status.SKIPPED.value: "dim",
    Status.INTERRUPTED.value: "yellow",
}
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def safe(text: str) -> str:
    """Remote text made terminal-safe: CRLF -> LF, other control characters shown as \\xNN."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text.replace("\r\n", "\n"))


def status_text(status: Status) -> Text:
    """The status word in its colour."""
    return Text(status.value, style=STATUS_STYLES.get(status.value, ""))


def _cell(column: Column, host: HostResult) -> Text:
    value = column.value(host)
    if value is None or value == "":
        return Text("-", style="dim")
    style = column.style_of(host) if column.style_of else None
    return Text(safe(flatten(value)), style=style or "")


def _error_text(host: HostResult) -> Text:
    if host.error is None:
        return Text("")
    return Text(safe(f"{host.error.kind}: {host.error.message}"), style="red")


def render_table(
    console: Console, report: RunReport, columns: Sequence[Column], title: str | None = None
) -> None:
    """One row per host (Host, Status, the columns, Error if any host has one), then a summary line."""
    with_errors = any(h.error for h in report.hosts)
    table = Table(title=title, header_style="bold", title_justify="left")
    table.add_column("Host", overflow="fold")
    table.add_column("Status", no_wrap=True)
    for column in columns:
        table.add_column(column.header, justify=column.justify, overflow="fold")  # type: ignore[arg-type]
    if with_errors:
        table.add_column("Error", overflow="fold")
    for host in report.hosts:
        cells = [Text(safe(host.name)), status_text(host.status), *(_cell(c, host) for c in columns)]
        table.add_row(*cells, *([_error_text(host)] if with_errors else []))
    if report.hosts:
        console.print(table)
    console.print(summary_text(report))


def summary_text(report: RunReport) -> Text:
    """"10 hosts: 8 ok, 1 unreachable, 1 auth_failed in 1.23 s" (coloured per status)."""
    n = len(report.hosts)
    counts = report.counts()
    text = Text(f"{n} host{'' if n == 1 else 's'}")
    parts = [(f"{counts[k]} {k}", STATUS_STYLES[k]) for k in STATUS_KEYS if counts.get(k)]
    for i, (part, style) in enumerate(parts):
        text.append(": " if i == 0 else ", ")
        text.append(part, style=style)
    text.append(f" in {report.duration_s:.2f} s")
    if report.interrupted:
        text.append(" (interrupted)", style="yellow")
    return text


def _header(host: HostResult) -> Text:
    text = Text.assemble((safe(host.name), "bold"), " | ", status_text(host.status))
    rc = host.data.get("exit_code") if host.data else None
    if isinstance(rc, int) and not isinstance(rc, bool):
        text.append(f" | rc={rc}")
    text.append(f" | {host.duration_s:.2f}s")
    return text


def render_outputs(console: Console, report: RunReport, key: str = "stdout") -> None:
    """For `rmmctl run`: per host `name | status | rc=N | 0.12s`, its output (stderr dim), then a summary."""
    for host in report.hosts:
        console.print(_header(host), soft_wrap=True)
        if host.error is not None:
            console.print(_error_text(host), soft_wrap=True)
        data = host.data or {}
        for name, style in ((key, ""), ("stderr", "dim")):
            value = data.get(name)
            if name == "stderr" and key == "stderr":
                continue
            if isinstance(value, str) and value.strip("\r\n"):
                console.print(Text(safe(value.rstrip("\r\n")), style=style), soft_wrap=True)
    console.print(summary_text(report))
