"""PowerShell 5.1's JSON, made regular: what ConvertTo-Json really prints, whatever the script asked for.

Traps (research: PS 5.1 ConvertTo-Json): a one-item pipeline is an object, not an array, and an empty one
is null; dates are `"\\/Date(1700000000000)\\/"` or a `{"value": ..., "DateTime": "..."}` object; enums
are ints; numbers may be strings. Section parsers go through these helpers, so every trap is handled once.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any

from rmmctl.probes import ParseError

_MS_DATE = re.compile(r"^/Date\((-?\d+)([+-]\d{4})?\)/$")


def as_list(value: Any) -> list[Any]:
    """null -> [], one object -> [object], a list -> itself (the one-item-array trap)."""
    if value is None:
        return []
    if isinstance(value, list):
        return value
    return [value]


def as_dict(value: Any, what: str) -> Mapping[str, Any]:
    """The section's object; ParseError naming `what` otherwise (a one-item list is unwrapped)."""
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if not isinstance(value, Mapping):
        raise ParseError(f"{what}: expected an object, got {type(value).__name__}")
    return value


def epoch(value: Any) -> float | None:
    """A PowerShell date in any of its JSON forms -> unix time (None when absent or unreadable)."""
    if value is None or value == "":
        return None
    if isinstance(value, Mapping):  # Get-Date's {value, DisplayHint, DateTime}
        return epoch(value.get("value", value.get("DateTime")))
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    text = str(value).strip()
    m = _MS_DATE.match(text.replace("\\/", "/"))
    if m:
        return int(m.group(1)) / 1000.0
    try:
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.timezone.utc)
    return parsed.timestamp()


def iso(value: Any) -> str | None:
    """A PowerShell date -> ISO 8601 UTC (`2026-12-01T10:00:00Z`), None when absent or unreadable."""
    t = epoch(value)
    if t is None:
        return None
    return dt.datetime.fromtimestamp(t, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def num(value: Any) -> float | None:
    """A number that may arrive as a string (or null)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if out == out else None  # NaN is no number


def integer(value: Any) -> int | None:
    n = num(value)
    return None if n is None else int(n)


def text(value: Any) -> str | None:
    """A string, stripped; None for null or empty."""
    if value is None:
        return None
    s = " ".join(str(value).split()) if not isinstance(value, str) else value.strip()
    return s or None


def flag(value: Any) -> bool | None:
    """A bool that may arrive as a bool, 0/1 or "True"/"False"."""
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return bool(value)
    s = str(value).strip().lower()
    return True if s in ("true", "1", "yes") else False if s in ("false", "0", "no", "") else None
