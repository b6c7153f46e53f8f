"""`rmmctl history metrics` through the real CLI on a history database filled with synthetic samples."""

from __future__ import annotations

import csv
import io
import json
import random
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from rmmctl.cli import app
from rmmctl.models import HostResult, Status
from rmmctl.store import open_store

HOUR = 3600.0
DAY = 86400.0
STEP = 6 * HOUR


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Ten days of a status run every 6 hours: / fills 2 %/day and reaches 80 % now, /home is flat."""
    path = tmp_path_factory.mktemp("hist") / "rmmctl.db"
    end = time.time() - 60
    times = [end - i * STEP for i in range(40, -1, -1)]
    now = [times[0]]
    rng = random.Random(3)
    with open_store(path, clock=lambda: now[0]) as store:
        for t in times:
            now[0] = t
            run_id = store.begin_run("status", ["status"])
            days_left = (end - t) / DAY
            samples = {"disk./.used_pct": 80.0 - 2.0 * days_left, "disk./.used_kb": 8e6 - 2e5 * days_left,
                       "disk./.size_kb": 1e7, "disk./home.used_pct": 40.0, "inodes./.used_pct": 20.0 - days_left,
                       "cpu.percent": rng.uniform(0, 100), "load.1": 0.5}
            store.add_host_result(run_id, HostResult("web01", "192.0.2.1", Status.OK), samples=samples)
            store.add_host_result(run_id, HostResult("db01", "192.0.2.2", Status.OK), samples={"load.1": 1.0})
    return path


def cli(db: Path, *args: str, columns: int = 120) -> Any:
    result = CliRunner().invoke(app, ["history", "metrics", *args, "--db", str(db)], env={"COLUMNS": str(columns)})
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def _row(stdout: str, metric: str) -> str:
    [line] = [ln for ln in stdout.splitlines() if f" {metric} " in ln]
    return line


def test_table_shows_when_a_steadily_filling_disk_is_full(db: Path) -> None:
    result = cli(db, "web01", "--no-color")
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert out.startswith("web01: 7 metrics since ")
    for header in ("Metric", "Samples", "Change", "Slope/day", "Full in", "Trend"):
        assert header in out
    root = _row(out, "disk./.used_pct")
    assert "10.0 days" in root and "+2" in root and "28" in root  # 6.75 days of 6-hourly samples in the 7-day window
    assert "▁" in root and "█" in root
    assert "80.0 days" in _row(out, "inodes./.used_pct")  # 20 % now, +1 %/day
    assert "days" not in _row(out, "disk./home.used_pct")  # flat: no projection
    assert "days" not in _row(out, "disk./.used_kb")  # not a percentage
    assert "days" not in _row(out, "cpu.percent")


def test_narrow_terminal_keeps_names_and_projection_whole(db: Path) -> None:
    out = cli(db, "web01", "--no-color", columns=80).stdout
    assert max(len(line) for line in out.splitlines()) <= 80
    assert "Min" not in out and "First" not in out
    assert "10.0 days" in _row(out, "disk./.used_pct") and "…" not in out


def test_json_document(db: Path) -> None:
    result = cli(db, "web01", "--metric", "disk./", "--json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert (doc["schema"], doc["command"], doc["host"]) == ("rmmctl/v1", "history metrics", "web01")
    by_name = {m["name"]: m for m in doc["metrics"]}
    assert sorted(by_name) == ["disk./.size_kb", "disk./.used_kb", "disk./.used_pct"]
    pct = by_name["disk./.used_pct"]
    assert pct["full_in_days"] == pytest.approx(10.0, abs=1e-6)
    assert pct["trend"]["slope_per_day"] == pytest.approx(2.0)
    assert pct["trend"]["r2"] == pytest.approx(1.0)
    assert pct["trend"]["last"] == pytest.approx(80.0)
    assert len(pct["points"]) == 28
    at, value = pct["points"][-1]
    assert at.endswith("Z") and len(at) == 24 and value == pytest.approx(80.0)
    assert by_name["disk./.used_kb"]["full_in_days"] is None
    assert by_name["disk./.size_kb"]["trend"]["change"] == 0


def test_count_since_and_exact_names(db: Path) -> None:
    doc = json.loads(cli(db, "web01", "-m", "disk./.used_pct", "-n", "5", "--json").stdout)
    [only] = doc["metrics"]
    assert only["name"] == "disk./.used_pct" and len(only["points"]) == 5
    assert only["points"][-1][1] == pytest.approx(80.0)  # the newest five
    doc = json.loads(cli(db, "web01", "-m", "load", "--since", "2000-01-01", "--json").stdout)
    assert [(m["name"], len(m["points"])) for m in doc["metrics"]] == [("load.1", 41)]
    doc = json.loads(cli(db, "web01", "-m", "load", "--since", "30s", "--json").stdout)
    assert doc["metrics"] == [{"name": "load.1", "points": [], "trend": None, "full_in_days": None}]
    table = cli(db, "web01", "-m", "load", "--since", "30s", "--no-color").stdout
    assert " 0 " in _row(table, "load.1")


def test_csv_rows(db: Path) -> None:
    result = cli(db, "web01", "-m", "disk./.used_pct", "-o", "csv")
    [row] = list(csv.DictReader(io.StringIO(result.stdout)))
    assert row["metric"] == "disk./.used_pct" and row["samples"] == "28"
    assert float(row["full_in_days"]) == pytest.approx(10.0)


@pytest.mark.parametrize(("args", "code", "words"), [
    (["nosuch"], 3, ["'nosuch'", "db01, web01"]),
    (["web01", "--metric", "disk./var"], 3, ["'disk./var'", "cpu.percent", "disk./home.used_pct"]),
    (["web01", "--since", "last week"], 2, ["'last week'", "7d"]),
])
def test_errors_are_one_line_naming_what_exists(db: Path, args: list[str], code: int, words: list[str]) -> None:
    result = cli(db, *args)
    assert result.exit_code == code
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith("rmmctl: error: ")
    assert all(w in line for w in words), line


def test_empty_database_says_how_to_get_samples(tmp_path: Path) -> None:
    result = cli(tmp_path / "new.db", "web01")
    assert result.exit_code == 3
    assert "none yet" in result.stderr and "rmmctl status" in result.stderr
