"""Pure metric history helpers: facts -> metrics, least squares, projections, sparklines, --since."""

from __future__ import annotations

import datetime as dt
import json
import math
import random
from pathlib import Path

import pytest

from rmmctl.errors import UsageError
from rmmctl.facts import Facts
from rmmctl.trends import (
    Trend,
    days_until,
    metric_samples,
    parse_since,
    projects_full,
    selects,
    sparkline,
    trend,
)

PROBES = Path(__file__).parent.parent / "fixtures" / "probes"
T0 = 1_700_000_000.0
HOUR = 3600.0
DAY = 86400.0

FACTS = {
    "time": {"epoch": T0, "skew_s": -0.4, "synchronized": True},
    "uptime": {"seconds": 363.05, "boot_time": T0 - 363, "load1": 2.31, "load5": 1.5, "load15": 0.25,
               "procs_running": 1, "procs_total": 200},
    "cpu": {"count": 2, "percent": 12.5, "user": 10.0, "system": 2.5, "iowait": 0.0, "steal": 0.0, "idle": 87.5},
    "memory": {"total_kb": 1000, "available_kb": 250, "used_kb": 750, "used_pct": 75.0,
               "swap_total_kb": 0, "swap_used_kb": 0, "swap_used_pct": None},
    "filesystems": {"mounts": [
        {"mount": "/", "device": "/dev/vda1", "size_kb": 1000, "used_kb": 810, "avail_kb": 190,
         "used_pct": 81.0, "inodes_pct": 12.3},
        {"mount": "/srv/my data", "device": "tmpfs", "size_kb": 64, "used_kb": 0, "avail_kb": 64,
         "used_pct": 0.0, "inodes_pct": None},
    ]},
    "services": {"available": True, "failed": [{"unit": "a.service"}, {"unit": "b.service"}]},
    "updates": {"manager": "apt", "pending": 134, "security": 80, "packages": []},
    "reboot": {"required": True, "packages": [], "method": "reboot-required"},
    "os": {"id": "debian"},
    "processes": {"count": 118, "top_cpu": [], "top_mem": []},
}


def test_metric_samples_flattens_every_section() -> None:
    assert metric_samples(FACTS) == {
        "cpu.percent": 12.5, "load.1": 2.31, "load.5": 1.5, "load.15": 0.25, "uptime.seconds": 363.05,
        "memory.used_pct": 75.0, "updates.pending": 134.0, "updates.security": 80.0, "time.skew_s": -0.4,
        "disk./.used_pct": 81.0, "disk./.used_kb": 810.0, "disk./.size_kb": 1000.0, "inodes./.used_pct": 12.3,
        "disk./srv/my data.used_pct": 0.0, "disk./srv/my data.used_kb": 0.0, "disk./srv/my data.size_kb": 64.0,
        "reboot.required": 1.0, "services.failed": 2.0,
    }
    assert all(type(v) is float for v in metric_samples(FACTS).values())


@pytest.mark.parametrize("case", ["debian12", "alpine-busybox"])
def test_metric_samples_of_real_probe_parses(case: str) -> None:
    """The parses of real captures (tests/fixtures/probes/SECTION/CASE.json) flatten as documented."""
    facts = {p.parent.name: json.loads(p.read_text()) for p in PROBES.glob(f"*/{case}.json")}
    metrics = metric_samples(facts)
    assert {"cpu.percent", "load.1", "load.5", "load.15", "uptime.seconds", "memory.used_pct"} <= set(metrics)
    mounts = facts["filesystems"]["mounts"]
    assert mounts
    for m in mounts:
        assert metrics[f"disk.{m['mount']}.used_pct"] == m["used_pct"]
        assert metrics[f"disk.{m['mount']}.size_kb"] == m["size_kb"]
        assert (f"inodes.{m['mount']}.used_pct" in metrics) == (m["inodes_pct"] is not None)
    assert metrics["load.15"] == facts["uptime"]["load15"]


def test_metric_samples_skips_absent_unavailable_and_null_sections() -> None:
    facts = Facts(
        {"updates": {"unavailable": "no supported package manager (apt, dnf, yum)"},
         "reboot": {"required": False, "packages": [], "method": "needs-restarting"},
         "services": {"available": False, "failed": []},
         "time": {"epoch": T0, "skew_s": None},
         "cpu": {"percent": float("nan")}},
        errors={"memory": "memory: cut off"},
    )
    assert metric_samples(facts) == {"reboot.required": 0.0, "services.failed": 0.0}
    assert metric_samples({}) == {}


def test_selectors_match_exact_names_and_whole_dotted_prefixes() -> None:
    assert selects("disk./", "disk./.used_pct") and selects("disk./", "disk./.size_kb")
    assert not selects("disk./", "disk./var.used_pct")
    assert selects("disk", "disk./var.used_pct") and selects("load", "load.15")
    assert selects("cpu.percent", "cpu.percent") and not selects("cpu.perc", "cpu.percent")
    assert projects_full("disk./var/lib.used_pct") and projects_full("inodes./.used_pct")
    assert not projects_full("disk./.used_kb") and not projects_full("memory.used_pct")


def _series(per_day: float, days: float, start: float = 50.0, every: float = HOUR) -> list[tuple[float, float]]:
    n = int(days * DAY / every) + 1
    return [(T0 + i * every, start + per_day * i * every / DAY) for i in range(n)]


def test_trend_of_steady_growth_is_exact() -> None:
    t = trend(_series(2.0, 10))
    assert (t.first, t.last, t.min, t.max) == (50.0, 70.0, 50.0, 70.0)
    assert t.mean == pytest.approx(60.0)
    assert t.slope_per_day == pytest.approx(2.0)
    assert t.r2 == pytest.approx(1.0)
    assert t.span_days == pytest.approx(10.0)
    assert t.to_dict()["change"] == pytest.approx(20.0)


def test_trend_edge_cases() -> None:
    assert trend([(T0, 5.0)]) == Trend(5.0, 5.0, 5.0, 5.0, 5.0, 0.0, 0.0, 0.0)
    assert trend([(T0, 5.0), (T0, 7.0)]).slope_per_day == 0.0  # no spread in time: no line
    flat = trend([(T0 + i * HOUR, 3.0) for i in range(5)])
    assert (flat.slope_per_day, flat.r2) == (0.0, 1.0)
    down = trend(_series(-1.5, 3))
    assert down.slope_per_day == pytest.approx(-1.5) and down.r2 == pytest.approx(1.0)
    with pytest.raises(ValueError):
        trend([])


def test_days_until_projects_a_steadily_filling_disk() -> None:
    assert days_until(_series(2.0, 10)) == pytest.approx(15.0)  # 70 % now, +2 %/day -> 100 % in 15 days
    assert days_until(_series(2.0, 10), limit=90.0) == pytest.approx(10.0)
    rng = random.Random(7)
    noisy_growth = [(t, v + rng.uniform(-0.5, 0.5)) for t, v in _series(1.0, 20, start=40.0)]
    assert days_until(noisy_growth) == pytest.approx(40.0, abs=2.0)


def test_days_until_declines_when_it_cannot_tell() -> None:
    rng = random.Random(1)
    assert days_until([(T0 + i * HOUR, 80.0) for i in range(48)]) is None  # flat
    assert days_until(_series(-1.0, 5)) is None  # shrinking
    assert days_until([(T0 + i * HOUR, 50 + rng.uniform(-20, 20)) for i in range(200)]) is None  # noise
    assert days_until([(T0, 50.0)]) is None  # one point
    assert days_until(_series(5.0, 2)[:2]) is None  # two points
    assert days_until([(T0 + i * 60, 50.0 + i) for i in range(30)]) is None  # 29 minutes only


def test_days_until_a_full_disk_is_zero() -> None:
    assert days_until([(T0 + i * HOUR, 99.0 + i) for i in range(4)]) == 0.0


def test_sparkline_scales_and_buckets() -> None:
    assert sparkline([1, 2, 3, 4, 5, 6, 7, 8]) == "▁▂▃▄▅▆▇█"
    assert sparkline([3, 3, 3]) == "▁▁▁"
    assert sparkline([]) == ""
    long = sparkline([float(i) for i in range(1000)], width=10)
    assert len(long) == 10 and long[0] == "▁" and long[-1] == "█"
    assert list(long) == sorted(long)
    assert sparkline([0, 10, 0, 10], width=2) == "▁▁"  # averaged buckets


def test_parse_since_durations_and_iso_dates() -> None:
    now = T0
    assert parse_since("30m", now) == now - 1800
    assert parse_since("2h", now) == now - 7200
    assert parse_since("7d", now) == now - 7 * DAY
    assert parse_since("1w", now) == now - 7 * DAY
    assert parse_since(" 90S ", now) == now - 90
    assert parse_since("1.5h", now) == now - 5400
    assert parse_since("2024-05-01T08:00Z", now) == dt.datetime(2024, 5, 1, 8, tzinfo=dt.timezone.utc).timestamp()
    assert parse_since("2024-05-01T10:00:00+02:00", now) == parse_since("2024-05-01T08:00Z", now)
    assert parse_since("2024-05-01", now) == dt.datetime(2024, 5, 1).timestamp()  # local midnight


@pytest.mark.parametrize("bad", ["", "7", "-2h", "7x", "yesterday", "2024-13-01", "99999999999999999999d",
                                 "0001-01-01", "1e308d", "1969-12-31T00:00Z"])
def test_parse_since_rejects_with_one_line(bad: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_since(bad, T0)
    assert "\n" not in str(info.value) and "7d" in str(info.value) and repr(bad) in str(info.value)


def test_trend_is_stable_on_unix_times() -> None:
    """Large x offsets (unix time) must not cost precision: a 0.001 %/day slope stays visible."""
    points = [(T0 + i * DAY, 10.0 + 0.001 * i) for i in range(30)]
    assert trend(points).slope_per_day == pytest.approx(0.001, rel=1e-6)
    assert not math.isnan(trend(points).r2)
