"""Display forms of raw values, for people: sizes, durations, local times, cut-off lists, short error reasons.

Pure functions, no rich. Machines get the raw value (JSON, YAML, CSV: numbers as measured, times as
`rmmctl.formats.iso_utc`); tables get these. The one rule for both: `None` is "-" for people and empty
(CSV) or null (JSON) for machines, never the word None.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from rmmctl.formats import iso_utc

NONE = "-"
LIST_LIMIT = 20  # rows or items a table shows of a list before "... and N more"

_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def size_text(n_bytes: float | None) -> str:
    """1536 -> "1.5 KiB", 23_376_000_000 -> "21.8 GiB", 0 -> "0 B" (binary units, one decimal)."""
    if n_bytes is None:
        return NONE
    size, unit = float(n_bytes), _UNITS[0]
    for unit in _UNITS:
        if abs(size) < 1024 or unit == _UNITS[-1]:
            break
        size /= 1024
    if unit == "B":
        return f"{int(size)} B"
    return f"{size:.1f} {unit}"


def kib_text(kib: float | None) -> str:
    """A size given in KiB (the facts' `*_kb` fields): 24683652 -> "23.5 GiB"."""
    return NONE if kib is None else size_text(float(kib) * 1024)


def duration_text(seconds: float | None) -> str:
    """3d 4h / 5h 12m / 42m / 37s: the two largest units, for uptimes and ages."""
    if seconds is None or not math.isfinite(seconds):
        return NONE
    s = int(seconds)
    if s < 0:
        return "-" + duration_text(-seconds)
    d, h, m = s // 86400, s % 86400 // 3600, s % 3600 // 60
    return f"{d}d {h}h" if d else f"{h}h {m}m" if h else f"{m}m" if m else f"{s}s"


def local_time(epoch: float | None) -> str:
    """Unix time -> local time with its zone, to the second: "2024-05-01 14:00:00 CEST"."""
    if epoch is None or not math.isfinite(epoch):
        return NONE
    stamp = dt.datetime.fromtimestamp(epoch).astimezone()
    zone = stamp.strftime("%Z")
    if not zone or zone[0] in "+-":  # a zone without an abbreviation: show the offset
        zone = stamp.strftime("%z")
        zone = f"UTC{zone[:3]}:{zone[3:]}" if zone else "UTC"
    return f"{stamp:%Y-%m-%d %H:%M:%S} {zone}"


def parse_time(value: Any) -> float | None:
    """Unix time from a number or an ISO 8601 text (any precision, `Z` or an offset); None if neither."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value) if math.isfinite(value) else None
    text = str(value).strip()
    if not text:
        return None
    try:
        stamp = dt.datetime.fromisoformat(text.replace("Z", "+00:00").replace(" ", "T", 1))
    except ValueError:
        return None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=dt.timezone.utc)
    return stamp.timestamp()


def iso_out(value: Any) -> Any:
    """A stored or given timestamp in rmmctl's one machine format (formats.iso_utc); others as they are."""
    epoch = parse_time(value) if isinstance(value, str) else None
    return iso_utc(epoch) if epoch is not None else value


def local_from(value: Any) -> str:
    """A timestamp (unix time or ISO text) shown in local time; "-" when there is none."""
    epoch = parse_time(value)
    return local_time(epoch) if epoch is not None else (NONE if value in (None, "") else str(value))


def more_text(hidden: int) -> str:
    """The line that ends a list cut short: "... and 71 more"."""
    return f"... and {hidden} more"


def capped(items: Sequence[Any], limit: int = LIST_LIMIT, total: int | None = None) -> tuple[list[Any], int]:
    """The first `limit` items and how many are left out (of `total`, when the list itself was cut)."""
    shown = list(items[:limit])
    return shown, max((len(items) if total is None else total) - len(shown), 0)


def plain(value: Any) -> str:
    """Any JSON-like value as text for a person: "-" for None, yes/no, lists joined with ", " (at most
    LIST_LIMIT items, then "... and N more"), mappings as "key: value" pairs; never a Python repr."""
    if value is None or value == "":
        return NONE
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.3f}".rstrip("0").rstrip(".") if math.isfinite(value) else NONE
    if isinstance(value, Mapping):
        return ", ".join(f"{k}: {plain(v)}" for k, v in value.items()) or NONE
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=str) if isinstance(value, (set, frozenset)) else list(value)
        shown, hidden = capped(items)
        parts = [plain(v) for v in shown] + ([more_text(hidden)] if hidden else [])
        return ", ".join(parts) or NONE
    return str(value)


_TIME_KEYS = frozenset({"epoch", "boot_time", "lists_mtime", "last_install", "mtime", "now", "at", "started_at",
                        "finished_at"})
_DURATION_KEYS = frozenset({"seconds", "uptime_s", "age_s"})


def human(key: str, value: Any) -> str:
    """A fact shown for people, by the unit its name carries (docs/facts.md): `*_kb` sizes in KiB/MiB/GiB,
    `*_bytes` and `size` in bytes, uptimes and ages as durations, unix times in local time with the zone,
    `*_pct` with %, other `*_s` in seconds; anything else as `plain`."""
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        if key in _TIME_KEYS and isinstance(value, str) and parse_time(value) is not None:
            return local_from(value)
        return plain(value)
    if key.endswith("_kb"):
        return kib_text(value)
    if key.endswith("_bytes") or key == "size":
        return size_text(value)
    if key in _DURATION_KEYS:
        return duration_text(value)
    if key in _TIME_KEYS:
        return local_time(value)
    if key.endswith("_pct"):
        return f"{plain(float(value))}%"
    if key.endswith("_s"):
        return f"{plain(float(value))} s"
    return plain(value)


# -- short reasons for fleet tables -------------------------------------------------------------

_CONNECT = (
    (re.compile(r"refused", re.I), "connection refused"),
    (re.compile(r"cannot resolve|name or service not known|nodename nor servname", re.I), "unknown host name"),
    (re.compile(r"no route", re.I), "no route to host"),
    (re.compile(r"network is unreachable", re.I), "network unreachable"),
    (re.compile(r"no answer|timed out", re.I), "no answer"),
    (re.compile(r"handshake", re.I), "not an SSH server"),
    (re.compile(r"jump host|tunnel", re.I), "jump host failed"),
    (re.compile(r"session channel", re.I), "no session channel"),
    (re.compile(r"connection (lost|reset)|reset by peer|broken pipe", re.I), "connection lost"),
)
_HOST_KEY = (
    (re.compile(r"changed", re.I), "host key changed"),
    (re.compile(r"revoked", re.I), "host key revoked"),
    (re.compile(r"unknown|not known|not in", re.I), "host key unknown"),
)


def short_reason(kind: str, message: str) -> str:
    """The few words a fleet table's Error cell holds, from a HostError's kind and message:
    `unreachable: connection refused`, `auth: key rejected`, `host key unknown`, `timeout`.
    The whole one-line message is printed under the table."""
    text = message or ""
    if kind == "connect":
        found = next((reason for pattern, reason in _CONNECT if pattern.search(text)), None)
        return f"unreachable: {found}" if found else "unreachable"
    if kind == "host_key":
        return next((reason for pattern, reason in _HOST_KEY if pattern.search(text)), "host key rejected")
    if kind == "auth":
        return f"auth: {_auth_reason(text)}"
    if kind == "timeout":
        return "timeout"
    if kind == "interrupted":
        return "interrupted"
    if kind == "config":
        return "config error"
    if kind == "internal":
        return "internal error"
    return kind.replace("_", " ") or "error"


def _auth_reason(text: str) -> str:
    lower = text.lower()
    if "passphrase" in lower:
        return "key passphrase"
    if re.search(r"closed the connection|too many", lower):
        return "too many attempts"
    tried = re.search(r"\(tried: ([^)]*)\)", text)
    if tried:
        what = tried.group(1).lower()
        if what.startswith("nothing"):
            return "no key or password"
        password, keys = "password" in what, bool(re.sub(r"password", "", what).strip(" ,"))
        return "key and password rejected" if password and keys else "password rejected" if password \
            else "key rejected"
    if "password" in lower and ("unset" in lower or "not set" in lower or "empty" in lower):
        return "no password"
    return "rejected"
