"""Parser of the Windows logs section: the Event Log (Get-WinEvent) in the logs facts schema.

Windows event levels map onto the syslog names: 1 Critical -> crit, 2 Error -> err, 3 Warning -> warning,
4 Information -> info, 5 Verbose -> debug, 0 LogAlways -> info. `source` is "eventlog", `file` the logs
read ("System, Application", or the log `--source` named), the journal keys are null, `restricted` says
that a log asked for refused the login user (the Security log needs an administrator or the Event Log
Readers group), `below_level` counts what lies below the level when nothing was found at it.
"""

from __future__ import annotations

from typing import Any

from rmmctl.facts import LogEntry, LogsFacts, iso_utc
from rmmctl.levels import LEVELS
from rmmctl.probes.windows.prober import ParseContext, parser
from rmmctl.probes.windows.shapes import as_dict, as_list, epoch, integer, text

EVENT_LEVELS = {0: "info", 1: "crit", 2: "err", 3: "warning", 4: "info", 5: "debug"}
"""Windows event Level -> the syslog level name."""
MAX_LEVEL = {1: "crit", 2: "err", 3: "warning", 4: "info", 5: "debug"}
"""The section's Level cap (1..5) -> the least severe level name it read."""


@parser("logs")
def parse_logs(data: Any, ctx: ParseContext) -> LogsFacts:
    d = as_dict(data, "logs")
    max_num = integer(d.get("max_level_num")) or 3
    max_level = MAX_LEVEL.get(max_num, "warning")
    entries: list[LogEntry] = []
    for raw in reversed(as_list(d.get("entries"))):  # the host sends newest first
        e = as_dict(raw, "logs: an entry")
        level = integer(e.get("level"))
        message = e.get("message")
        entries.append({
            "time": _iso(e.get("time")),
            "level": EVENT_LEVELS.get(level if level is not None else 4, "info"),
            "source": text(e.get("provider")) or text(e.get("log")) or "",
            "message": " ".join(str(message).split()) if message is not None else "",
            "pid": integer(e.get("pid")),
        })
    entries.sort(key=lambda x: x["time"] or "")  # stable: logs merged by the host stay in order
    since = integer(d.get("since"))
    read = [x for x in (text(v) for v in as_list(d.get("read"))) if x]
    below: dict[str, int] | None = None
    if d.get("census_done") and not entries:
        counts: dict[str, int] = {}
        for lv in as_list(d.get("census")):
            name = EVENT_LEVELS.get(integer(lv) if integer(lv) is not None else 4, "info")
            if LEVELS.index(name) > LEVELS.index(max_level):
                counts[name] = counts.get(name, 0) + 1
        below = {name: counts[name] for name in LEVELS if name in counts}
    return {
        "source": "eventlog",
        "file": ", ".join(read) or None,
        "since": iso_utc(since) if since is not None else None,
        "max_level": max_level,
        "restricted": bool(as_list(d.get("denied"))),
        "truncated": bool(d.get("truncated")),
        "journal": None,
        "journal_said": None,
        "journald_running": None,
        "fallback": False,
        "below_level": below,
        "user": None,
        "entries": entries,
    }


def _iso(value: Any) -> str | None:
    """A PowerShell date -> ISO 8601 UTC with milliseconds, as the Linux facts give them."""
    t = epoch(value)
    return None if t is None else iso_utc(t)
