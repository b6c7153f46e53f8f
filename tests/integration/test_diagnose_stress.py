"""The resource and hygiene checks on real sshd hosts with per-host fixtures (the rest of issue 4's list):
memory pressure and swap, sustained load, clock skew and no time sync, a read-only mount that must be
writable, stale package lists. A clean twin host proves the checks are quiet when nothing is wrong."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from conftest import cli, require_fleet
from fleet import FixtureSpec, Fleet

MEMINFO = """MemTotal:        8000000 kB
MemFree:           80000 kB
MemAvailable:     120000 kB
Buffers:            1000 kB
Cached:            30000 kB
SwapTotal:       2000000 kB
SwapFree:          40000 kB
"""
CALM_MEMINFO = MEMINFO.replace("MemAvailable:     120000", "MemAvailable:    6000000").replace(
    "SwapFree:          40000", "SwapFree:        2000000")
DATE_AHEAD = """#!/bin/sh
case "$*" in
  +%s|+%s.%N) echo $(( $(/bin/date +%s) + 600 )) ;;
  "+%s.%N %z") echo "$(( $(/bin/date +%s) + 600 )) $(/bin/date +%z)" ;;
  *) exec /bin/date "$@" ;;
esac
"""
TIMEDATECTL_UNSYNCED = """#!/bin/sh
[ "$1" = show ] || exit 1
printf '%s\\n' Timezone=Etc/UTC NTP=yes NTPSynchronized=no
"""
APT_NONE = "#!/bin/sh\necho 'Listing...'\n"
STRESS = ("memory.pressure", "memory.swap", "cpu.load", "time.skew", "time.unsynchronized", "disk.readonly",
          "updates.stale_lists")


@pytest.fixture(scope="module")
def stress_fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    require_fleet()
    work = tmp_path_factory.mktemp("stress")
    old_lists = work / "old-lists"
    old_lists.mkdir()
    month_ago = time.time() - 30 * 86400
    os.utime(old_lists, (month_ago, month_ago))
    fresh_lists = work / "fresh-lists"  # the machine's own lists may be as old as its image
    fresh_lists.mkdir()
    lists = "/var/lib/apt/lists/partial" if os.path.isdir("/var/lib/apt/lists/partial") else "/var/lib/apt/lists"
    specs = {
        "stress-01": FixtureSpec(
            bin={"apt": APT_NONE, "date": DATE_AHEAD, "timedatectl": TIMEDATECTL_UNSYNCED},
            run={"systemd/system/.present": ""},
            proc={"meminfo": MEMINFO, "loadavg": "9.50 9.10 8.70 12/300 4242\n"},
            readonly=True, binds={lists: str(old_lists)}),
        "stress-02": FixtureSpec(bin={"apt": APT_NONE}, binds={lists: str(fresh_lists)},
                                 proc={"meminfo": CALM_MEMINFO, "loadavg": "0.10 0.10 0.10 1/300 4242\n"}),
    }
    with Fleet(work / "fleet", prefix="stress") as fleet:
        fleet.start(2, specs)
        inv = fleet.write_inventory(work / "inventory.yaml")
        doc = yaml.safe_load(inv.read_text())
        doc["hosts"]["stress-01"]["vars"] = {"writable_mounts": ["/srv"]}
        doc["hosts"]["stress-02"]["vars"] = {"time_service_required": False}
        inv.write_text(yaml.safe_dump(doc, sort_keys=False))
        yield inv


def findings(doc: dict, host: str) -> dict[str, dict]:
    [h] = [h for h in doc["hosts"] if h["name"] == host]
    return {f["check_id"]: f for f in h["data"]["findings"]}


def test_each_problem_is_found_with_evidence(stress_fleet: Path, env: dict[str, str]) -> None:
    checks = [arg for c in ("memory", "cpu", "time", "disk", "updates") for arg in ("--check", c)]
    result = cli("diagnose", "-i", str(stress_fleet), "--json", *checks)
    doc = json.loads(result.stdout)
    found = findings(doc, "stress-01")
    assert set(STRESS) <= set(found), sorted(found)
    assert found["memory.pressure"]["severity"] == "critical"  # 98.5 % used
    assert "120000 KiB available of 8000000 KiB" in found["memory.pressure"]["evidence"][0]
    assert found["memory.swap"]["severity"] == "critical"  # 98 % of swap
    assert found["cpu.load"]["severity"] == "critical" and "9.1" in found["cpu.load"]["evidence"][0]
    assert found["time.skew"]["severity"] == "critical" and 590 <= float(found["time.skew"]["title"].split()[4]) <= 610
    assert "synchronized: no" in found["time.unsynchronized"]["evidence"][0]
    assert found["disk.readonly"]["severity"] == "critical" and "/srv" in found["disk.readonly"]["title"]
    assert "days old" in found["updates.stale_lists"]["title"]
    assert findings(doc, "stress-02") == {}, "a healthy host has no findings"
    assert result.exit_code == 5
