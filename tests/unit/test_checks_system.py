"""System checks (disk.readonly, updates.*, time.unsynchronized, logs.*, backup.freshness, av.clamav_age):
facts from the real captures under tests/fixtures/probes plus hand-made variations -> findings."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest

from rmmctl.checks.base import Finding, Severity
from rmmctl.checks.registry import Registry, params_for, run_checks, sections_for
from rmmctl.checks.catalog import BUILTIN_CHECKS
from rmmctl.checks.logs import LOG_RULES
from rmmctl.errors import ConfigError

PROBES = Path(__file__).resolve().parents[1] / "fixtures" / "probes"
REG = Registry("test.none", BUILTIN_CHECKS)
NOW = 1795322211  # the "now" of the alpine-busybox backup/av captures


def fixture(section: str, case: str) -> dict[str, Any]:
    return json.loads((PROBES / section / f"{case}.json").read_text(encoding="utf-8"))


def run(names: list[str], facts: dict[str, Any], **host_vars: Any) -> list[Finding]:
    return run_checks(REG.select(names), facts, host_vars, "h1")


def one(findings: list[Finding], check_id: str) -> Finding:
    hits = [f for f in findings if f.check_id == check_id]
    assert len(hits) == 1, findings
    return hits[0]


# -- disk.readonly ------------------------------------------------------------------------------

def test_readonly_root_and_listed_mounts_are_critical_images_and_unlisted_are_not() -> None:
    fs = fixture("filesystems", "alpine-busybox")  # a real busybox capture with a ro tmpfs on /srv/ro
    assert run(["disk.readonly"], {"filesystems": fs}) == []
    found = one(run(["disk.readonly"], {"filesystems": fs}, writable_mounts=["/srv/ro"]), "disk.readonly")
    assert found.severity is Severity.CRITICAL and "/srv/ro" in found.title
    assert found.evidence == ("rofs on /srv/ro type tmpfs (ro)",)
    broken = copy.deepcopy(fs)
    root = next(m for m in broken["mounts"] if m["mount"] == "/")
    root["read_only"] = True
    assert one(run(["disk.readonly"], {"filesystems": broken}), "disk.readonly").title == "filesystem / is mounted read-only"
    root["fstype"] = "squashfs"  # read-only by design (a live image)
    assert run(["disk.readonly"], {"filesystems": broken}) == []


def test_writable_mounts_must_be_a_list() -> None:
    with pytest.raises(ConfigError, match=r"vars.writable_mounts must be a list of strings"):
        run(["disk.readonly"], {"filesystems": fixture("filesystems", "debian12")}, writable_mounts="/srv")


# -- updates ------------------------------------------------------------------------------------

def test_pending_updates_info_then_warning_with_security_counted_apart() -> None:
    upd = fixture("updates", "debian12")
    assert upd["pending"] > 0
    info = one(run(["updates.pending"], {"updates": upd}, updates_warn=500), "updates.pending")
    assert info.severity is Severity.INFO
    assert info.title == f"{upd['pending']} update(s) pending, {upd['security']} of them security"
    first = upd["packages"][0]
    assert info.evidence[0].startswith(f"{first['name']} {first['current']} -> {first['version']}")
    warn = one(run(["updates.pending"], {"updates": upd}), "updates.pending")  # 134 >= the default 50
    assert warn.severity is Severity.WARNING and warn.playbook == "os-updates"
    assert run(["updates.pending"], {"updates": {**upd, "pending": 0, "packages": [], "security": 0}}) == []


def test_stale_package_lists_against_the_host_clock() -> None:
    upd, tm = fixture("updates", "debian12"), fixture("time", "debian12")
    fresh = {"updates": {**upd, "lists_mtime": int(tm["epoch"]) - 86400}, "time": tm}
    assert run(["updates.stale_lists"], fresh) == []
    stale = {"updates": {**upd, "lists_mtime": int(tm["epoch"]) - 10 * 86400}, "time": tm}
    found = one(run(["updates.stale_lists"], stale), "updates.stale_lists")
    assert found.severity is Severity.WARNING and found.title == "package lists are 10.0 days old"
    assert "apt lists last refreshed" in found.evidence[0]
    assert run(["updates.stale_lists"], stale, package_lists_max_age_days=14) == []
    assert run(["updates.stale_lists"], {"updates": stale["updates"]}) == []  # no host clock: no judgement


# -- time.unsynchronized ------------------------------------------------------------------------

def test_time_unsynchronized_and_no_time_service() -> None:
    assert run(["time.unsynchronized"], {"time": fixture("time", "chrony-synced")}) == []
    unsynced = one(run(["time.unsynchronized"], {"time": fixture("time", "timedatectl-unsynced")}),
                   "time.unsynchronized")
    assert unsynced.severity is Severity.WARNING and unsynced.title == "the clock is not synchronised"
    assert "synchronized: no" in unsynced.evidence[0]
    none = one(run(["time.unsynchronized"], {"time": fixture("time", "debian12")}), "time.unsynchronized")
    assert none.title == "no time synchronisation service is running"
    assert none.evidence == ("synchronized: unknown, time service: none, NTP enabled: unknown, NTP offset: unknown",)
    for text in (*unsynced.evidence, *none.evidence):  # people read evidence: no Python reprs
        assert "None" not in text and "False" not in text and "True" not in text
    assert run(["time.unsynchronized"], {"time": fixture("time", "debian12")}, time_service_required=False) == []


# -- logs.* -------------------------------------------------------------------------------------

def test_log_rules_on_a_real_busybox_syslog_capture() -> None:
    logs = fixture("logs", "busybox-match")
    found = run(["logs"], {"logs": logs})
    assert [f.check_id for f in found] == ["logs.oom_kill", "logs.segfault", "logs.disk_io"]
    oom, seg, io = found
    assert oom.severity is Severity.WARNING and oom.title.startswith("processes killed by the OOM killer: 1 in ")
    assert oom.evidence == (("2026-11-22T03:36:50.000Z kernel: [ 901.1] Out of memory: Killed process 3311 (java) "
                            "total-vm:4194304kB, anon-rss:3145728kB"),)
    assert "segfault at 0" in seg.evidence[0] and "coredumpctl" in seg.remediation
    assert len(io.evidence) == 2 and "smartctl" in io.remediation  # blk_update_request + Buffer I/O error
    crit = run(["logs.disk_io"], {"logs": logs}, logs_disk_io_crit=2)
    assert one(crit, "logs.disk_io").severity is Severity.CRITICAL
    assert run(["logs.disk_io"], {"logs": logs}, logs_disk_io_warn=3) == []


def test_log_rules_quiet_on_ordinary_errors_and_evidence_is_bounded() -> None:
    assert run(["logs"], {"logs": fixture("logs", "journal-real")}) == []
    entry = {"time": "2026-11-22T00:00:00.000Z", "level": "info", "source": "kernel", "pid": None}
    many = {"source": "journal", "file": None, "since": "x", "entries": [
        {**entry, "message": f"app[{i}]: segfault at 0 ip 0 sp 0 error 4"} for i in range(25)]}
    found = one(run(["logs.segfault"], {"logs": many}), "logs.segfault")
    assert found.severity is Severity.CRITICAL and len(found.evidence) == 11
    assert found.evidence[0] == "(15 earlier matching lines not shown)" and "app[24]" in found.evidence[-1]


def test_log_rules_are_data_and_send_their_patterns_and_window_to_the_probe() -> None:
    assert {r.id for r in LOG_RULES} == {"logs.oom_kill", "logs.segfault", "logs.disk_io"}
    params = params_for(REG.select(["logs.segfault", "logs.oom_kill"]), {"logs_window_hours": 2})
    assert params == {"LOG_MATCH": ["segfault at", "Out of memory: Killed process|oom-kill"], "LOG_WINDOW_S": "7200"}
    with pytest.raises(ConfigError, match=r"^h1: vars.logs_window_hours must be a positive number of hours, got 'a day'"):
        params_for(REG.select(["logs"]), {"logs_window_hours": "a day"}, "h1")


# -- backup.freshness ---------------------------------------------------------------------------

BACKUP_VARS = {"backup_paths": [
    "/srv/backups/fresh.tar.gz",
    {"path": "/srv/backups/stale.tar.gz", "max_age_hours": 48},
    "/srv/backups/empty.dump",
    {"path": "/srv/backups/nightly", "min_bytes": 200},
    "/srv/backups/empty-dir",
    "/srv/backups/missing.tar",
]}


def test_backup_freshness_on_a_real_busybox_capture() -> None:
    found = run(["backup"], {"backup": fixture("backup", "alpine-busybox")}, **BACKUP_VARS)
    by_title = {f.title: f for f in found}
    assert set(by_title) == {
        "backup /srv/backups/stale.tar.gz is 80 h old (max 48 h)",
        "backup /srv/backups/empty.dump is only 0 bytes (min 1)",
        "backup directory /srv/backups/empty-dir holds no files",
        "backup /srv/backups/missing.tar does not exist",
    }
    assert by_title["backup /srv/backups/stale.tar.gz is 80 h old (max 48 h)"].severity is Severity.WARNING
    assert by_title["backup /srv/backups/stale.tar.gz is 80 h old (max 48 h)"].evidence == (
        ("/srv/backups/stale.tar.gz: 4096 bytes, modified 2026-11-18T20:36:50.000Z (80.0 h before the host's "
        "2026-11-22T04:36:51.000Z)"),)
    assert by_title["backup /srv/backups/missing.tar does not exist"].severity is Severity.CRITICAL
    assert by_title["backup /srv/backups/empty.dump is only 0 bytes (min 1)"].severity is Severity.CRITICAL


def test_backup_defaults_thresholds_and_the_directory_newest_file() -> None:
    facts = {"backup": fixture("backup", "alpine-busybox")}
    assert run(["backup"], facts, backup_paths=["/srv/backups/fresh.tar.gz", "/srv/backups/nightly"]) == []
    old = one(run(["backup"], facts, backup_paths=["/srv/backups/nightly"], backup_max_age_hours=1), "backup.freshness")
    assert old.severity is Severity.CRITICAL  # 3 h old: more than 3x the limit
    assert old.evidence[0].startswith("/srv/backups/nightly/db-2.sql.gz: 300 bytes")
    small = run(["backup"], facts, backup_paths=["/srv/backups/nightly"], backup_min_bytes=1000)
    assert one(small, "backup.freshness").title == "backup /srv/backups/nightly is only 300 bytes (min 1000)"
    unprobed = one(run(["backup"], facts, backup_paths=["/srv/other"]), "backup.freshness")
    assert unprobed.title == "backup /srv/other was not probed"
    assert run(["backup"], facts) == []


def test_backup_params_and_bad_vars_name_the_key() -> None:
    assert params_for(REG.select(["backup"]), BACKUP_VARS)["BACKUP_PATHS"][0] == "/srv/backups/fresh.tar.gz"
    assert params_for(REG.select(["backup"]), {}) == {}
    for bad, key in ((["relative/path"], "backup_paths[0].path"), ("/one", "backup_paths"),
                     ([{"path": "/x", "max_age": 3}], "backup_paths[0]"),
                     ([{"path": "/x", "min_bytes": "big"}], "backup_paths[0].min_bytes")):
        with pytest.raises(ConfigError, match="^" + re.escape(f"h1: vars.{key} ")):
            params_for(REG.select(["backup"]), {"backup_paths": bad}, "h1")


# -- av.clamav_age ------------------------------------------------------------------------------

def test_clamav_age_on_a_real_busybox_capture() -> None:
    av = fixture("av", "alpine-busybox")  # daily.cld 5 days old
    found = one(run(["av"], {"av": av}), "av.clamav_age")
    assert found.severity is Severity.WARNING and found.title == "ClamAV signatures are 5.0 days old"
    assert found.evidence[0] == ("/var/lib/clamav/daily.cld 2026-11-17T04:36:50.000Z version 27461 "
                                 "built 17 Nov 2026 04-36 +0000")
    assert found.evidence[-1].endswith("^Invalid DNS reply. Falling back to HTTP mode.")
    assert one(run(["av"], {"av": av}, av_crit_age_days=4), "av.clamav_age").severity is Severity.CRITICAL
    assert run(["av"], {"av": av}, av_max_age_days=6) == []


def test_clamav_absent_or_without_databases() -> None:
    assert run(["av"], {"av": fixture("av", "debian12")}) == []  # unavailable: no ClamAV, no finding
    empty = one(run(["av"], {"av": fixture("av", "no-databases")}), "av.clamav_age")
    assert empty.severity is Severity.CRITICAL and empty.title == "ClamAV has no signature databases in /var/lib/clamav"
    assert params_for(REG.select(["av"]), {"clamav_db_dir": "/srv/clamav"}) == {"AV_DB_DIR": "/srv/clamav"}
    with pytest.raises(ConfigError, match=r"vars.clamav_db_dir must be an absolute path"):
        params_for(REG.select(["av"]), {"clamav_db_dir": "db"})


def test_sections_and_registry_shape() -> None:
    assert sections_for(REG.select(["backup", "av", "logs"])) == ("backup", "av", "logs")
    assert all(c.id.count(".") == 1 for c in BUILTIN_CHECKS)
    assert run([], {}) == []  # no facts at all: silence (probe.incomplete reports failed sections)
