"""Pure parser for the Linux probe's logs section: `journalctl -o json` lines or a syslog file's lines."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections import Counter
from collections.abc import Iterable
from typing import Any

from rmmctl.facts import LogEntry, LogsFacts, iso_utc
from rmmctl.levels import LEVELS, canonical, level_name, names_regex
from rmmctl.probes import ParseError
from rmmctl.probes.linux.bundle import parse_kv
from rmmctl.probes.linux.system import lines_of

_PRIVILEGED_GROUPS = {"root", "adm", "systemd-journal", "wheel"}
_RFC3339 = re.compile(r"^(\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:?\d\d)?\s+(\S+)\s+(.*)$")
_BSD = re.compile(r"^([A-Z][a-z]{2})\s+(\d{1,2}) (\d\d:\d\d:\d\d)\s+(\S+)\s+(.*)$")
_TAG = re.compile(r"^([^\s\[:]+)(?:\[(\d+)\])?:\s?(.*)$")
# busybox syslogd (and rsyslog's TraditionalFormat with %syslogpriority-text%) put "facility.level" first.
_FACILITY = re.compile(rf"^[a-z0-9]+\.({names_regex()})\s+(.*)$")
_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
# Syslog files carry no severity: the most severe keyword in the line decides (English tool messages).
# Keep these words in step with the grep pattern of s_logs in linux.sh (a unit test checks).
_KEYWORDS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("emerg", re.compile(r"panic|emerg", re.IGNORECASE)),
    ("alert", re.compile(r"\balert\b", re.IGNORECASE)),
    ("crit", re.compile(r"crit|\boom\b|out of memory|segfault|call trace", re.IGNORECASE)),
    ("err", re.compile(r"error|fail|fatal|denied|unable|cannot|no such", re.IGNORECASE)),
    ("warning", re.compile(r"warn|timed out|not responding", re.IGNORECASE)),
)


def parse_logs(body: str) -> LogsFacts:
    """Header `key=value` lines up to `--`, then journal JSON lines or syslog lines, oldest first; after
    `@@census`, what lies below the level when nothing was found at it (see s_logs in linux.sh)."""
    lines = lines_of(body)
    if "--" not in lines:
        raise ParseError("logs: no header separator in the probe output")
    split = lines.index("--")
    kv, content = parse_kv(lines[:split]), lines[split + 1 :]
    content, census = _census_split(content, kv.get("source", ""))
    source = kv.get("source", "")
    priority = int(kv["priority"]) if kv.get("priority", "").isdigit() else 3
    limit = int(kv["limit"]) if kv.get("limit", "").isdigit() else 0
    since = float(kv["since"]) if kv.get("since", "").isdigit() else None
    below: dict[str, int] | None = None
    said = kv.get("journal_said") or None
    if source == "journal":
        entries = [e for e in (journal_entry(line) for line in content) if e is not None]
        said = " ".join(" ".join(ln.split()) for ln in content if ln.strip() and not ln.startswith("{")) or None
        if census is not None:
            below = _count_below((level_name(ln) for ln in census if ln.strip() in _DIGITS), priority)
    elif source == "syslog":
        entries = _syslog_entries(content, kv, since, priority)
        if census is not None:
            seen = _syslog_entries(census, kv, since, len(LEVELS) - 1)
            entries = [e for e in seen if LEVELS.index(e["level"]) <= priority][-limit or None:]
            below = _count_below((e["level"] for e in seen), priority) if not entries else None
    else:
        raise ParseError(f"logs: unknown source {source!r}")
    user, uid, groups = _identity(kv)
    journal = {"below": "read"}.get(kv.get("journal", ""), kv.get("journal")) or (
        "read" if source == "journal" else None)
    return {
        "source": source,
        "file": kv.get("file") or None,
        "since": iso_utc(since) if since is not None else None,
        "max_level": level_name(priority),
        "restricted": source == "journal" and (_restricted(uid, groups) or "not seeing messages" in (said or "")),
        "truncated": limit > 0 and len(content) >= limit,
        "journal": journal,
        "journal_said": said,
        "journald_running": {"1": True, "0": False}.get(kv.get("journald", "")),
        "fallback": source == "syslog" and journal in ("unreadable", "empty"),
        "below_level": below,
        "user": user,
        "entries": entries,
    }


_DIGITS = {str(i) for i in range(len(LEVELS))}


def _census_split(content: list[str], source: str) -> tuple[list[str], list[str] | None]:
    """(entry lines, census lines or None). A syslog census follows an empty body only, so a log line
    reading `@@census` cannot hide the lines after it."""
    if "@@census" not in content or (source == "syslog" and content[0] != "@@census"):
        return content, None
    at = content.index("@@census")
    return content[:at], content[at + 1 :]


def _count_below(levels: Iterable[str], priority: int) -> dict[str, int]:
    """How many entries of each level less severe than `priority`, most severe first."""
    counts = Counter(lvl for lvl in levels if LEVELS.index(lvl) > priority)
    return {lvl: counts[lvl] for lvl in LEVELS if counts[lvl]}


def _identity(kv: dict[str, str]) -> tuple[str | None, str, set[str]]:
    """(user name, uid, group names) from `id` (`uid=1000(rmm) gid=... groups=1000(rmm),4(adm)`) or the
    older `uid=` / `groups=` header lines."""
    if "id" in kv:
        fields = dict(f.partition("=")[::2] for f in kv["id"].split() if "=" in f)
        uid, _, name = fields.get("uid", "").partition("(")
        groups = {g.partition("(")[2].rstrip(")") for g in fields.get("groups", "").split(",") if "(" in g}
        return name.rstrip(")") or None, uid or "0", groups
    return None, kv.get("uid", "0"), set(kv.get("groups", "").split())


def _restricted(uid: str, groups: set[str]) -> bool:
    """Non-root users outside adm/systemd-journal/wheel see only their own journal entries."""
    return uid != "0" and not (_PRIVILEGED_GROUPS & groups)


def _text(value: Any) -> str:
    """A journal field: a string, a byte array (non-UTF-8 data), or null (too large)."""
    if isinstance(value, list):
        try:
            return bytes(int(b) & 0xFF for b in value).decode("utf-8", "replace")
        except (TypeError, ValueError):
            return ""
    if value is None:
        return ""
    return str(value)


def _int(value: Any) -> int | None:
    text = _text(value).strip()
    return int(text) if text.isdigit() else None


def journal_entry(line: str) -> LogEntry | None:
    """One `journalctl -o json` line -> LogEntry (None for a line that is not a JSON object)."""
    try:
        record = json.loads(line)
    except ValueError:
        return None
    if not isinstance(record, dict):
        return None
    stamp = _int(record.get("__REALTIME_TIMESTAMP"))
    source = next(
        (_text(record[k]) for k in ("SYSLOG_IDENTIFIER", "_SYSTEMD_UNIT", "_COMM") if record.get(k)), ""
    )
    if not source and _text(record.get("_TRANSPORT")) == "kernel":
        source = "kernel"
    return {
        "time": iso_utc(stamp / 1e6) if stamp is not None else None,
        "level": level_name(_text(record.get("PRIORITY")) or 6),
        "source": source or "unknown",
        "message": _text(record.get("MESSAGE")).rstrip(),
        "pid": _int(record.get("_PID")) or _int(record.get("SYSLOG_PID")),
    }


def syslog_level(message: str) -> str:
    """The severity a syslog line suggests by its words (most severe first); 'info' when none match."""
    for level, pattern in _KEYWORDS:
        if pattern.search(message):
            return level
    return "info"


def _syslog_entries(
    content: list[str], kv: dict[str, str], since: float | None, priority: int
) -> list[LogEntry]:
    now = float(kv["now"]) if kv.get("now", "").isdigit() else None
    offset = _offset(kv.get("utc_offset", "+0000"))
    out: list[LogEntry] = []
    plain = kv.get("file") or "syslog"
    for line in content:
        entry = syslog_entry(line, now=now, utc_offset=offset, plain_source=plain)
        if entry is None or LEVELS.index(entry["level"]) > priority:
            continue
        if since is not None and entry["time"] is not None and _epoch(entry["time"]) < since:
            continue
        out.append(entry)
    return out


def _offset(text: str) -> dt.timezone:
    match = re.match(r"^([+-])(\d\d):?(\d\d)$", text.strip())
    if not match:
        return dt.timezone.utc
    sign = -1 if match.group(1) == "-" else 1
    return dt.timezone(sign * dt.timedelta(hours=int(match.group(2)), minutes=int(match.group(3))))


def _epoch(iso: str) -> float:
    return dt.datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def syslog_entry(line: str, *, now: float | None, utc_offset: dt.timezone,
                 plain_source: str = "syslog") -> LogEntry | None:
    """One rsyslog line (RFC 3339 or classic `Mon dd hh:mm:ss` stamp, host, tag) -> LogEntry; blank -> None.

    A line without a syslog stamp (an application's own log format, a traceback) is a plain line: the
    whole text is the message, `plain_source` (the file) the source, no time, no pid."""
    if not line.strip():
        return None
    stamped, stamp, rest = _syslog_stamp(line, now, utc_offset)
    if not stamped:
        message = line.rstrip()
        return {"time": None, "level": syslog_level(message), "source": plain_source, "message": message,
                "pid": None}
    level = None
    facility = _FACILITY.match(rest)
    if facility:
        level, rest = canonical(facility.group(1)), facility.group(2)
    match = _TAG.match(rest)
    source, pid, message = (
        (match.group(1), match.group(2), match.group(3)) if match else ("syslog", None, rest)
    )
    return {
        "time": iso_utc(stamp.timestamp()) if stamp else None,
        "level": level or syslog_level(message),
        "source": source,
        "message": message.rstrip(),
        "pid": int(pid) if pid else None,
    }


def _syslog_stamp(line: str, now: float | None, tz: dt.timezone) -> tuple[bool, dt.datetime | None, str]:
    """(the line has a syslog stamp and host, the stamp if it is known, the rest of the line)."""
    match = _RFC3339.match(line)
    if match:
        day, frac, zone, _host, rest = match.groups()
        micro = int(((frac or ".0")[1:] + "000000")[:6])
        stamp = dt.datetime.fromisoformat(day.replace(" ", "T")).replace(microsecond=micro)
        return True, stamp.replace(
            tzinfo=_offset(zone) if zone and zone != "Z" else (dt.timezone.utc if zone else tz)
        ), rest
    match = _BSD.match(line)
    if match:
        month, mday, clock, _host, rest = match.groups()
        if now is None:  # the year is unknown without the host's clock
            return True, None, rest
        ref = dt.datetime.fromtimestamp(now, tz)
        hh, mm, ss = (int(x) for x in clock.split(":"))
        try:
            stamp = dt.datetime(ref.year, _MONTHS.index(month) + 1, int(mday), hh, mm, ss, tzinfo=tz)
        except ValueError:
            return False, None, line
        if stamp > ref + dt.timedelta(days=1):  # a December line read in January
            stamp = stamp.replace(year=ref.year - 1)
        return True, stamp, rest
    return False, None, line
