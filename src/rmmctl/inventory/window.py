"""Maintenance windows: the inventory var `maintenance_window` in the host's `timezone` var (pure).

    maintenance_window: "Sun 02:00-04:00"                  # one window
    maintenance_window: ["Mon-Fri 22:00-23:30", "Sat,Sun 01:00-06:00"]
    maintenance_window: "daily 23:00-01:00"                # crosses midnight: ends 01:00 the next day
    timezone: Europe/Berlin                                 # IANA name; without it, this machine's time

A window is `[DAYS ]HH:MM-HH:MM`. DAYS is `daily` (the default when left out), a day (`Sun`, `sunday`),
a range (`Mon-Fri`, `Fri-Mon` wraps) or a comma list of those. The days name where the window
*starts*: `Sun 23:00-01:00` is open from Sunday 23:00 to Monday 01:00. The end is exclusive; `24:00`
ends at midnight. `play` skips a host outside all its windows (docs/playbooks.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from rmmctl.inventory.conn import BadValue

WINDOW_VAR = "maintenance_window"
TIMEZONE_VAR = "timezone"
DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FULL = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_WINDOW_RE = re.compile(r"^\s*(?:(?P<days>[A-Za-z][A-Za-z,\- ]*?)\s+)?(?P<start>\d{1,2}:\d{2})\s*-\s*"
                        r"(?P<end>\d{1,2}:\d{2})\s*$")
WINDOW_EXPECTED = ("expected a window like 'Sun 02:00-04:00', 'Mon-Fri 22:00-23:30' or 'daily 01:00-05:00' "
                   "(or a list of them)")


@dataclass(frozen=True, slots=True)
class Window:
    """One weekly window: the weekdays it starts on (0 = Monday), start and end in minutes of the day."""

    text: str
    days: frozenset[int]
    start: int
    end: int  # exclusive; <= start means it ends the next day

    def contains(self, local: datetime) -> bool:
        """True when the wall-clock time `local` (the host's) is inside this window."""
        day, minute = local.weekday(), local.hour * 60 + local.minute
        if self.start < self.end:
            return day in self.days and self.start <= minute < self.end
        return (day in self.days and minute >= self.start) or ((day - 1) % 7 in self.days and minute < self.end)


def _day(name: str, text: str) -> int:
    low = name.strip().lower()
    for table in (DAY_NAMES, _FULL):
        if low in table:
            return table.index(low)
    raise BadValue(f"unknown day {name.strip()!r} in {text!r}", "expected Mon Tue Wed Thu Fri Sat Sun, a range "
                   "like Mon-Fri, or daily")


def _days(spec: str | None, text: str) -> frozenset[int]:
    if spec is None or spec.strip().lower() in ("daily", "every day", "everyday"):
        return frozenset(range(7))
    days: set[int] = set()
    for part in spec.split(","):
        first, sep, last = part.partition("-")
        a = _day(first, text)
        if not sep:
            days.add(a)
            continue
        b = _day(last, text)
        days.update((a + i) % 7 for i in range((b - a) % 7 + 1))  # Fri-Mon wraps over the weekend
    return frozenset(days)


def _minutes(clock: str, text: str, *, end: bool) -> int:
    hours, minutes = (int(x) for x in clock.split(":"))
    if minutes > 59 or hours > 24 or (hours == 24 and (minutes or not end)):
        raise BadValue(f"bad time {clock!r} in {text!r}", "expected HH:MM from 00:00 to 23:59 (24:00 as an end)")
    return hours * 60 + minutes


def parse_window(text: Any) -> Window:
    """One window from its text; BadValue (problem, expected) when it is not one."""
    if not isinstance(text, str):
        raise BadValue(f"got {type(text).__name__} {text!r}", WINDOW_EXPECTED)
    match = _WINDOW_RE.match(text)
    if not match:
        raise BadValue(f"got {text!r}", WINDOW_EXPECTED)
    start = _minutes(match["start"], text, end=False)
    end = _minutes(match["end"], text, end=True)
    if start == end:
        raise BadValue(f"{text!r} starts and ends at the same time", "expected a window with a length; for the "
                       "whole day write 00:00-24:00")
    return Window(" ".join(text.split()), _days(match["days"], text), start, end)


def parse_windows(value: Any) -> tuple[Window, ...]:
    """`maintenance_window` (a string or a list of strings) as windows; BadValue naming the bad one."""
    if isinstance(value, str):
        return (parse_window(value),)
    if isinstance(value, (list, tuple)) and value:
        out = []
        for i, item in enumerate(value):
            try:
                out.append(parse_window(item))
            except BadValue as bad:
                raise BadValue(f"item {i}: {bad.problem}", bad.expected) from None
        return tuple(out)
    raise BadValue(f"got {value!r}", WINDOW_EXPECTED)


def check_timezone(value: Any) -> str:
    """An IANA time zone name this machine knows (Europe/Berlin, UTC); BadValue otherwise."""
    expected = "expected an IANA time zone name such as Europe/Berlin or America/New_York"
    if not isinstance(value, str) or not value.strip():
        raise BadValue(f"got {value!r}", expected)
    try:
        ZoneInfo(value.strip())
    except (ZoneInfoNotFoundError, ValueError):
        if not available_timezones():  # no zone database here: tell that, not "unknown zone"
            raise BadValue(f"cannot look up {value!r}: this machine has no time zone database",
                           "install the tzdata package (or `pip install tzdata`)") from None
        raise BadValue(f"unknown time zone {value!r}", expected) from None
    return value.strip()


def check_window_var(key: str, value: Any) -> None:
    """Validate `maintenance_window` or `timezone` where the inventory defines it (other keys: nothing)."""
    if key == WINDOW_VAR:
        parse_windows(value)
    elif key == TIMEZONE_VAR:
        check_timezone(value)


@dataclass(frozen=True, slots=True)
class WindowState:
    """Where a host stands against its windows now: `open` (True without windows), and why not."""

    open: bool
    windows: tuple[Window, ...]
    host_time: str  # "Tue 14:02 Europe/Berlin"
    reason: str | None  # set when not open

    def to_dict(self) -> dict[str, Any]:
        return {"open": self.open, "windows": [w.text for w in self.windows], "host_time": self.host_time}


def window_state(variables: Mapping[str, Any], now: datetime) -> WindowState:
    """The state of a host (its merged vars) at `now` (an aware datetime): open when it has no
    `maintenance_window` or when its local time (the `timezone` var, else this machine's) is inside one."""
    raw = variables.get(WINDOW_VAR)
    zone = variables.get(TIMEZONE_VAR)
    try:
        local = now.astimezone(ZoneInfo(str(zone).strip())) if zone else now.astimezone()
        where = str(zone).strip() if zone else f"{local.tzname() or 'local'}, this machine's time zone"
    except (ZoneInfoNotFoundError, ValueError):
        local, where = now.astimezone(), f"unknown time zone {zone!r}"
    host_time = f"{DAY_NAMES[local.weekday()].title()} {local:%H:%M} {where}"
    if raw in (None, "", []):
        return WindowState(True, (), host_time, None)
    try:
        windows = parse_windows(raw)
    except BadValue as bad:
        return WindowState(False, (), host_time, f"bad maintenance_window: {bad.problem}")
    if where.startswith("unknown time zone"):
        return WindowState(False, windows, host_time, f"cannot tell the host time: {where}")
    if any(w.contains(local) for w in windows):
        return WindowState(True, windows, host_time, None)
    plural = "window" if len(windows) == 1 else "windows"
    names = ", ".join(w.text for w in windows)
    return WindowState(False, windows, host_time, f"outside maintenance {plural} {names} (host time {host_time})")
