"""The `rmmctl watch` dashboard: rich renderables from a watch.WatchView (the loop lives in cli/watch.py).

Sized to the terminal at every refresh (a resize is simply the next frame): the host table gets the
rows that fit, the event feed the lines left under it. Host text goes in as Text, never markup.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Sequence

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from rmmctl.render.table import STATUS_STYLES, safe
from rmmctl.watch import COLUMNS, Row, WatchView

CHANGED = "reverse"  # a cell whose value changed in the host's last round
_HEADERS = {"status": "Status", "cpu": "CPU", "mem": "Memory", "disk": "Worst disk", "findings": "Findings"}
_EVENT_STYLE = {"new": "yellow", "resolved": "green", "down": "bold magenta", "back": "green"}
_SEV_STYLE = {"critical": "bold red", "warning": "yellow", "info": "dim"}


def clock(epoch: float | None) -> str:
    """Local HH:MM:SS of a wall time ('-' for none)."""
    return "-" if epoch is None else dt.datetime.fromtimestamp(epoch).strftime("%H:%M:%S")


def _status_cell(row: Row, now: float) -> Text:
    text = row.cells["status"]
    if row.failures and row.next_try > now:
        text += f" (retry in {max(row.next_try - now, 0):.0f}s)"
    style = STATUS_STYLES.get(row.cells["status"], "dim")
    return Text(text, style=f"{style} {CHANGED}" if "status" in row.changed else style)


def host_table(view: WatchView, *, now: float, max_rows: int | None = None) -> Table:
    """One row per host; changed cells in reverse video; the hosts that do not fit are counted."""
    table = Table(box=None, pad_edge=False, expand=False, header_style="bold")
    table.add_column("Host", no_wrap=True)
    for c in COLUMNS:
        table.add_column(_HEADERS[c], no_wrap=True, justify="right" if c in ("cpu", "mem") else "left")
    table.add_column("Seen", no_wrap=True)
    rows = list(view.rows.values())
    shown = rows if max_rows is None or len(rows) <= max_rows else rows[:max(max_rows - 1, 0)]
    for row in shown:
        cells = [Text(safe(row.cells[c]), style=CHANGED if c in row.changed else "") for c in COLUMNS[1:]]
        table.add_row(Text(safe(row.name)), _status_cell(row, now), *cells, Text(clock(row.seen_at), style="dim"))
    if len(shown) < len(rows):
        table.add_row(Text(f"... {len(rows) - len(shown)} more (enlarge the terminal)", style="dim"))
    return table


def event_lines(view: WatchView, limit: int) -> list[Text]:
    """The newest `limit` events, newest first: time, host, what happened."""
    out: list[Text] = []
    for e in list(view.events)[::-1][:max(limit, 0)]:
        line = Text(f"{clock(e.at)} ", style="dim")
        line.append(safe(e.host), style="bold")
        line.append(f" {e.kind}", style=_EVENT_STYLE.get(e.kind, ""))
        if e.severity:
            line.append(f" {e.severity}", style=_SEV_STYLE.get(e.severity, ""))
        line.append(f": {safe(e.text)}")
        line.no_wrap, line.overflow = True, "ellipsis"  # one line each, whatever the width
        out.append(line)
    return out


def _line(text: str, style: str) -> Text:
    return Text(text, style=style, no_wrap=True, overflow="ellipsis")


def dashboard(view: WatchView, *, height: int, title: str, footer: str, now: float | None = None,
              log: Sequence[str] = ()) -> RenderableType:
    """The whole screen for a terminal `height` lines tall: title, host table, events, the log pane (the
    newest lines of `log`, what -v prints: on the screen they would be drawn over), footer."""
    now = time.monotonic() if now is None else now
    rows = len(view.rows)
    table_rows = max(min(rows, height - 6), 1)  # title, header, blank, events title, footer, spare
    table = host_table(view, now=now, max_rows=table_rows)
    left = height - min(rows, table_rows) - 6
    log_lines = min(len(log), max(left // 3, 2)) if log and left >= 4 else 0
    left -= log_lines + 1 if log_lines else 0
    events = event_lines(view, left)
    parts: list[RenderableType] = [_line(title, "bold"), table, Text("")]
    if left > 0:
        parts.append(Text("Events (newest first)" if events else "Events: none yet", style="bold"))
        parts.extend(events)
    if log_lines:
        parts.append(Text("Log (-v; newest last)", style="bold"))
        parts.extend(_line(safe(line), "dim") for line in list(log)[-log_lines:])
    parts.append(_line(footer, "dim"))
    return Group(*parts)
