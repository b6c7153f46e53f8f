"""What a host's logs result could not see, in one line each for people (pure).

`rmmctl logs` never answers "nothing" when it could not look: a journal the login user may not read,
an empty journal, no log source at all, an event log the login user may not read (Windows), or entries
that exist only below `--level` are said per host (data.notes), and the logs checks of `diagnose` report
the same (checks/logs.py, `logs.unreadable`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rmmctl.facts import unavailable_reason
from rmmctl.levels import LEVELS

SYSLOG_FILES = "/var/log/syslog or /var/log/messages"
EVENTLOG = "eventlog"
"""The logs source of Windows hosts (the Event Log): no journal, no syslog file, no journal advice."""


def blind(logs: Mapping[str, Any]) -> bool:
    """True when no log source could be read at all (no journal access, no fallback file; on Windows, no
    event log asked for was readable)."""
    if logs.get("source") == EVENTLOG and unavailable_reason(logs) is None:
        return bool(logs.get("restricted")) and not logs.get("file")
    return unavailable_reason(logs) is not None or (logs.get("journal") == "unreadable" and not logs.get("fallback"))


def _eventlog_notes(logs: Mapping[str, Any], who: str) -> list[str]:
    """The Windows Event Log: only a log that refused the login user is worth a note."""
    if not logs.get("restricted"):
        return []
    read = f"; read {logs['file']}" if logs.get("file") else "; no log asked for could be read"
    return [f"{who} may not read every event log asked for (the Security log needs an administrator or the "
            f"Event Log Readers group){read}; add {who} to Event Log Readers, or connect as an administrator"]


def source_notes(logs: Mapping[str, Any], user: str | None = None) -> list[str]:
    """Why the entries come from where they do, or could not be read: [] when the journal (or the
    file asked for) was read normally."""
    if not logs:
        return []
    if (reason := unavailable_reason(logs)) is not None:
        return [f"no logs could be read: {reason}"]
    who = logs.get("user") or user or "the login user"
    if logs.get("source") == EVENTLOG:
        return _eventlog_notes(logs, who)
    said = f" (journalctl: {logs['journal_said']})" if logs.get("journal_said") else ""
    then = (f"; read {logs['file']} instead" if logs.get("fallback")
            else f"; no readable {SYSLOG_FILES} either")
    if logs.get("journal") == "unreadable":
        return [f"the journal is not readable by {who}{said}{then}; add {who} to the systemd-journal or "
                f"adm group, or log in as root"]
    if logs.get("journal") == "empty":
        down = "; systemd-journald is not running" if logs.get("journald_running") is False else ""
        return [f"the journal has no entries since {logs.get('since')}{down}" + (then if logs.get("fallback") else "")]
    if logs.get("restricted"):
        return [f"{who} sees only its own journal entries{said}; add it to the systemd-journal or adm group"]
    return []


def nothing_notes(logs: Mapping[str, Any], found: int, kept: int, filters: str = "") -> list[str]:
    """When no entry is shown: how many there were below the level (and the --level that shows them),
    or that the filters matched none of those found."""
    if not logs or kept or blind(logs):
        return []
    if logs.get("journal") == "empty" and not logs.get("fallback"):
        return []  # source_notes said it: the journal has no entries at all
    level, since = logs.get("max_level"), logs.get("since")
    where = logs.get("file") or logs.get("source")
    if found:
        return [f"none of the {found} entries at {level} or worse since {since} matched {filters}".rstrip()]
    below = logs.get("below_level")
    if below:
        least = max(below, key=LEVELS.index)
        counts = ", ".join(f"{n} {lvl}" for lvl, n in below.items())
        return [f"no entries at {level} or worse in {where} since {since}; {sum(below.values())} less severe "
                f"({counts}): see them with --level {least}"]
    if below == {}:
        return [f"no entries at any level in {where} since {since}"]
    return [f"no entries at {level} or worse in {where} since {since}"]
