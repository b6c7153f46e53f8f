"""Human output with rich: the per-host table and Ansible-style ad-hoc command output.

The Console is always passed in (never a global), so `--no-color`, width and the target stream are
the caller's. Text from hosts goes in as `Text` (never markup) with control characters made visible,
so remote output can neither inject rich markup nor drive the terminal.
"""

from __future__ import annotations

import re
from typing import Callable, Sequence

from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from rich.text import Text

from rmmctl.models import HostResult, RunReport, Status
from rmmctl.render.data import STATUS_KEYS, Column
from rmmctl.render.values import NONE, plain, short_reason

__all__ = ["Column", "STATUS_STYLES", "error_lines", "render_outputs", "render_table", "summary_text", "status_text"]

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
    value = column.display(host)
    if value is None or value == "":
        return Text(NONE, style="dim")
    style = column.style_of(host) if column.style_of else None
    return Text(safe(value if isinstance(value, str) else plain(value)), style=style or "")


def _error_text(host: HostResult) -> Text:
    """The whole one-line error (for `run` output and the lines under a table)."""
    if host.error is None:
        return Text("")
    return Text(safe(f"{host.error.kind}: {host.error.message}"), style="red")


def _reason_text(host: HostResult) -> Text:
    if host.error is None:
        return Text("")
    return Text(safe(short_reason(host.error.kind, host.error.message)), style="red")


def error_lines(console: Console, report: RunReport) -> None:
    """Under a fleet table: each failed host's whole error, one line each (as findings follow the table)."""
    for host in report.hosts:
        if host.error is not None:
            console.print(Text.assemble((f"{safe(host.name)}: ", "bold"), _error_text(host)))


_BORDER = 3  # a column's share of the box: one rule and the cell padding (0, 1)


def _width(text: Text) -> int:
    """The widest line of a cell."""
    return max((cell_len(line) for line in text.plain.splitlines()), default=0)


def fit_columns(width: int, fixed: Sequence[int], columns: Sequence[tuple[Column, int]]) -> list[Column]:
    """The columns a table of `width` characters shows: fixed columns (host, status, error) always; then the
    others, each with its natural width, highest `priority` first (leftmost first among equals), every one
    that still fits; in their own order. What still does not fit folds inside its cells."""
    used = 1 + sum(w + _BORDER for w in fixed)
    chosen: set[int] = set()
    for i in sorted(range(len(columns)), key=lambda i: (-columns[i][0].priority, i)):
        if used + columns[i][1] + _BORDER <= width:
            chosen.add(i)
            used += columns[i][1] + _BORDER
    return [c for i, (c, _) in enumerate(columns) if i in chosen]


def render_table(
    console: Console, report: RunReport, columns: Sequence[Column], title: str | None = None,
    then: Callable[[Console, RunReport], None] | None = None,
) -> None:
    """One row per host (Host, Status, the columns, Error if any host has one), the hosts' whole errors,
    then a summary line. Host names and the short error reasons never wrap; on a narrow terminal the
    columns of lowest priority are left out (and named), the others fold. `then` prints more lines (the
    findings) before the summary."""
    with_errors = any(h.error for h in report.hosts)
    names = [Text(safe(h.name)) for h in report.hosts]
    reasons = [_reason_text(h) for h in report.hosts]
    cells = {id(c): [_cell(c, h) for h in report.hosts] for c in columns}
    fixed = [max([len("Host"), *map(_width, names)]), max([len("Status"), *(len(h.status.value) for h in report.hosts)])]
    if with_errors:
        fixed.append(max([len("Error"), *map(_width, reasons)]))
    natural = [(c, max([len(c.header), *map(_width, cells[id(c)])])) for c in columns]
    shown = fit_columns(console.width, fixed, natural)
    table = Table(title=title, header_style="bold", title_justify="left")
    table.add_column("Host", no_wrap=True, min_width=fixed[0])
    table.add_column("Status", no_wrap=True)
    for column in shown:
        table.add_column(column.header, justify=column.justify, overflow="fold")  # type: ignore[arg-type]
    if with_errors:  # whole when host, status and error fit; folded only when even they do not
        fits = 1 + sum(w + _BORDER for w in fixed) <= console.width
        table.add_column("Error", no_wrap=fits, overflow="fold", min_width=fixed[2] if fits else None)
    for i, host in enumerate(report.hosts):
        row = [names[i], status_text(host.status), *(cells[id(c)][i] for c in shown)]
        table.add_row(*row, *([reasons[i]] if with_errors else []))
    if report.hosts:
        console.print(table)
        hidden = [c.header for c in columns if all(c is not s for s in shown)]
        if hidden:
            console.print(Text(f"not shown at this width: {', '.join(hidden)} (widen the terminal, or -o json)",
                               style="dim"))
    error_lines(console, report)
    if then is not None:
        then(console, report)
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
    elif report.stopped_after_batch:
        not_run = sum(1 for h in report.hosts if h.error is not None and h.error.kind == "not_run")
        text.append(f" (play stopped after batch {report.stopped_after_batch} of {report.batches}, {not_run} "
                    f"host{'' if not_run == 1 else 's'} not run: {report.stop_reason})", style="red")
    elif report.stop_reason:
        text.append(f" ({report.stop_reason})", style="red")
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
