"""Metric history, pure: host facts -> named numbers, least-squares trends, projections, sparklines.

Metric names are dotted: `cpu.percent`, `load.1`, `disk./var.used_pct`. A selector picks a metric by
its exact name or as a prefix of whole dotted parts (`disk./` selects `disk./.used_pct`, `disk./.used_kb`
and `disk./.size_kb`, not `disk./var.used_pct`). No I/O and no clock here: callers pass `now`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rmmctl.errors import UsageError
from rmmctl.facts import section as available_section
from rmmctl.formats import iso_utc

DAY_S = 86400.0
MIN_POINTS = 3
MIN_SPAN_S = 3600.0
MIN_R2 = 0.5
SPARK_BLOCKS = "▁▂▃▄▅▆▇█"
PROJECTED = (re.compile(r"^disk\..+\.used_pct$"), re.compile(r"^inodes\..+\.used_pct$"))
_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": DAY_S, "w": 7 * DAY_S}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$", re.IGNORECASE)

# (section, key in the section, metric name): plain numbers copied from the facts.
_SCALARS: tuple[tuple[str, str, str], ...] = (
    ("cpu", "percent", "cpu.percent"),
    ("uptime", "load1", "load.1"),
    ("uptime", "load5", "load.5"),
    ("uptime", "load15", "load.15"),
    ("uptime", "seconds", "uptime.seconds"),
    ("memory", "used_pct", "memory.used_pct"),
    ("memory", "swap_used_pct", "swap.used_pct"),
    ("updates", "pending", "updates.pending"),
    ("updates", "security", "updates.security"),
    ("time", "skew_s", "time.skew_s"),
)
_MOUNT_KEYS: tuple[tuple[str, str], ...] = (
    ("used_pct", "disk.{}.used_pct"),
    ("used_kb", "disk.{}.used_kb"),
    ("size_kb", "disk.{}.size_kb"),
    ("inodes_pct", "inodes.{}.used_pct"),
)


@dataclass(frozen=True, slots=True)
class Trend:
    """Summary and least-squares line of one series; slope in units per day, r2 in 0..1, span in days."""

    first: float
    last: float
    min: float
    max: float
    mean: float
    slope_per_day: float
    r2: float
    span_days: float

    @property
    def change(self) -> float:
        """Last value minus first value."""
        return self.last - self.first

    def to_dict(self) -> dict[str, float]:
        """The JSON form: every field plus `change`."""
        return {**dataclasses.asdict(self), "change": self.change}


def metric_samples(facts: Mapping[str, Any]) -> dict[str, float]:
    """Host facts -> `{"cpu.percent": 12.5, "disk./.used_pct": 81.0, ...}`; absent or null values are left out."""
    out: dict[str, float] = {}
    for section, key, name in _SCALARS:
        _put(out, name, _section(facts, section).get(key))
    for mount in _section(facts, "filesystems").get("mounts") or ():
        if isinstance(mount, Mapping) and isinstance(mount.get("mount"), str):
            for key, pattern in _MOUNT_KEYS:
                _put(out, pattern.format(mount["mount"]), mount.get(key))
    reboot = _section(facts, "reboot")
    if isinstance(reboot.get("required"), bool):
        out["reboot.required"] = 1.0 if reboot["required"] else 0.0
    services = _section(facts, "services")
    if isinstance(services.get("failed"), list):
        out["services.failed"] = float(len(services["failed"]))
    return out


def _section(facts: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    return available_section(facts, name) or {}


def _put(out: dict[str, float], name: str, value: Any) -> None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        out[name] = float(value)


def selects(selector: str, name: str) -> bool:
    """True when `selector` is the metric's name or a prefix of whole dotted parts of it."""
    return name == selector or name.startswith(selector + ".")


def projects_full(name: str) -> bool:
    """True for percentages that can fill up: `disk.*.used_pct` and `inodes.*.used_pct`."""
    return any(p.match(name) for p in PROJECTED)


def trend(points: Sequence[tuple[float, float]]) -> Trend:
    """Summary and least-squares fit of (unix time, value) points; needs at least one point.

    slope_per_day and r2 are 0 when all points share one time; r2 is 1 for a flat series over time.
    """
    if not points:
        raise ValueError("trend() needs at least one point")
    values = [v for _, v in points]
    n = len(points)
    x0 = points[0][0]
    xs = [(t - x0) / DAY_S for t, _ in points]
    mean_x, mean_y = sum(xs) / n, sum(values) / n
    sxx = sum((x - mean_x) ** 2 for x in xs)
    syy = sum((y - mean_y) ** 2 for y in values)
    sxy = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, values))
    slope = sxy / sxx if sxx > 0 else 0.0
    if sxx <= 0:
        r2 = 0.0
    elif syy <= 0:
        r2 = 1.0
    else:
        r2 = min(1.0, sxy * sxy / (sxx * syy))
    return Trend(values[0], values[-1], min(values), max(values), mean_y, slope, r2, max(xs) - min(xs))


def days_until(points: Sequence[tuple[float, float]], limit: float = 100.0) -> float | None:
    """Days until the series reaches `limit` going on as fitted, counted from its last value, or None.

    None unless there are >= 3 points spanning >= 1 hour, the slope is positive and r2 >= 0.5.
    A series already at or past the limit gives 0.
    """
    if len(points) < MIN_POINTS:
        return None
    fit = trend(points)
    if fit.span_days * DAY_S < MIN_SPAN_S or fit.slope_per_day <= 0 or fit.r2 < MIN_R2:
        return None
    return max(0.0, (limit - fit.last) / fit.slope_per_day)


def metric_report(name: str, points: Sequence[tuple[float, float]]) -> dict[str, Any]:
    """`{"name", "points": [[iso, value], ...], "trend": {...} | None, "full_in_days": float | None}`.

    full_in_days is projected only for `disk.*.used_pct` and `inodes.*.used_pct` (see days_until).
    """
    return {
        "name": name,
        "points": [[iso_utc(at), value] for at, value in points],
        "trend": trend(points).to_dict() if points else None,
        "full_in_days": days_until(points) if projects_full(name) else None,
    }


def sparkline(values: Sequence[float], width: int = 20) -> str:
    """Unicode block sparkline of at most `width` characters (averaging buckets when there are more values)."""
    if not values or width < 1:
        return ""
    buckets = _buckets(values, width)
    low, high = min(buckets), max(buckets)
    if high - low <= 0:
        return SPARK_BLOCKS[0] * len(buckets)
    top = len(SPARK_BLOCKS) - 1
    return "".join(SPARK_BLOCKS[round((v - low) / (high - low) * top)] for v in buckets)


def _buckets(values: Sequence[float], width: int) -> list[float]:
    n = len(values)
    if n <= width:
        return list(values)
    edges = [round(i * n / width) for i in range(width + 1)]
    return [sum(values[a:b]) / (b - a) for a, b in itertools.pairwise(edges)]


def parse_since(text: str, now: float) -> float:
    """`30m`, `2h`, `7d`, `1w`, `90s` before `now`, or an ISO date/time (no zone: local time) -> unix time."""
    match = _DURATION.match(text)
    raw = text.strip()
    if raw[-1:] in ("z", "Z"):
        raw = raw[:-1] + "+00:00"
    try:
        start = now - float(match.group(1)) * _UNITS[match.group(2).lower()] if match \
            else dt.datetime.fromisoformat(raw).timestamp()
    except (ValueError, OverflowError):  # not a date, or one the platform cannot convert (year 1)
        start = None
    if start is None or not 0 <= start < math.inf:  # a number, after 1970
        raise UsageError(f"--since {text!r}: expected a duration like 30m, 2h, 7d or 1w, or an ISO date like "
                         "2024-05-01 or 2024-05-01T08:00Z, after 1970") from None
    return start
