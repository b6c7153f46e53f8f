"""backup.freshness, av.clamav_age and logs.* on real sshd hosts, per-host fixtures (docs/architecture.md).

sys-01  healthy: a fresh backup file, an ordinary syslog, no ClamAV
sys-02  backups: one 50 h old, one empty, a directory, one missing; syslog with an OOM kill, a segfault and a
        disk I/O error in the window, an EXT4 error from 5 days ago and an unrelated error line
sys-03  a ClamAV shim: freshclam on PATH, databases in /run/clamav (var clamav_db_dir) aged 5 and 30 days
sys-04  systemd "running" with a journalctl shim that notes its arguments and prints a segfault (priority 6)
The probe runs in ONE exec per host (rmmctl.probes.collect over SSHTransport), the checks through run_checks;
then once more through `rmmctl diagnose --check backup --check av --check logs`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from conftest import require_fleet
from fleet import FixtureSpec, Fleet
from rmmctl.checks.catalog import CHECKS
from rmmctl.checks.registry import params_for, run_checks, sections_for
from rmmctl.cli import app
from rmmctl.executor import HostContext
from rmmctl.probes import collect
from rmmctl.inventory.model import Host
from rmmctl.transports import TransportOptions
from rmmctl.transports.ssh import SSHTransport

H = 3600
NOW = time.time()
HEADER = "ClamAV-VDB:{day}:{version}:2065812:90:0123456789abcdef:sig:raynman:1700000000"
JOURNAL = """#!/bin/sh
echo "$*" > /run/journalctl.args
echo '{"__REALTIME_TIMESTAMP":"%(us)d","PRIORITY":"6","SYSLOG_IDENTIFIER":"kernel","MESSAGE":"php-fpm[2211]: segfault at 0 ip 00007f3a1c2b4e10 sp 00007ffd4c1e2a08 error 4 in libc.so.6"}'
echo '{"__REALTIME_TIMESTAMP":"%(us)d","PRIORITY":"3","SYSLOG_IDENTIFIER":"nginx","MESSAGE":"connect() failed (111: Connection refused)"}'
"""
BACKUPS = "/var/log/backups"
VARS: dict[str, dict[str, Any]] = {
    "sys-01": {"backup_paths": [f"{BACKUPS}/fresh.tar.gz"]},
    "sys-02": {"backup_paths": [f"{BACKUPS}/stale.tar.gz", f"{BACKUPS}/empty.dump",
                                {"path": f"{BACKUPS}/nightly", "max_age_hours": 48, "min_bytes": 5},
                                f"{BACKUPS}/missing.tar"]},
    "sys-03": {"clamav_db_dir": "/run/clamav"},
    "sys-04": {},
}


def _syslog(host: str, lines: list[tuple[float, str]]) -> str:
    return "".join(f"{time.strftime('%b %e %H:%M:%S', time.localtime(NOW - age))} {host} {text}\n"
                   for age, text in lines)


def specs() -> dict[str, FixtureSpec]:
    quiet = {"loadavg": "0.12 0.08 0.05 1/180 4242\n"}
    return {
        "sys-01": FixtureSpec(proc=quiet, log={
            "backups/fresh.tar.gz": "z" * 2048,
            "syslog": _syslog("sys-01", [(600, "cron[12]: (root) CMD (run-parts /etc/cron.hourly)"),
                                         (300, "sshd[99]: error: kex_exchange_identification: Connection closed")])}),
        "sys-02": FixtureSpec(proc=quiet, log={
            "backups/stale.tar.gz": "x" * 64, "backups/empty.dump": "", "backups/nightly/db-1.sql.gz": "y" * 10,
            "syslog": _syslog("sys-02", [
                (5 * 86400, "kernel: [1.0] EXT4-fs error (device sdz1): ancient error"),
                (7200, "kernel: [812.4] php-fpm[2211]: segfault at 0 ip 00007f3a1c2b4e10 sp 00007ffd4c1e2a08"),
                (3600, "kernel: [901.1] Out of memory: Killed process 3311 (java) total-vm:4194304kB"),
                (1800, "kernel: [950.7] blk_update_request: I/O error, dev sdb, sector 123456 op 0x0:(READ)"),
                (60, "backupd[77]: error: cannot open /mnt/backup: No such file or directory")])}),
        "sys-03": FixtureSpec(proc=quiet, bin={"freshclam": "#!/bin/sh\necho 'ClamAV 1.0.7/27461'\n"},
                              run={"clamav/daily.cld": HEADER.format(day="17 Nov 2026 04-36 +0000", version=27461),
                                   "clamav/main.cvd": HEADER.format(day="18 Oct 2026 04-36 +0000", version=62)},
                              log={"clamav/freshclam.log": "ClamAV update process started\n"
                                                           "ERROR: Can't download daily.cvd from database.clamav.net\n"}),
        "sys-04": FixtureSpec(proc=quiet, run={"systemd/system/.present": ""},
                              bin={"journalctl": JOURNAL % {"us": int((NOW - 600) * 1e6)}}),
    }


def options(fleet: Fleet, home: Path) -> TransportOptions:
    (home / "known_hosts").write_text("")
    (home / "ssh_config").write_text("")
    return TransportOptions(connect_timeout=5.0, command_timeout=20.0, known_hosts=(fleet.known_hosts,),
                            user_known_hosts=home / "known_hosts", ssh_config=home / "ssh_config")


@pytest.fixture(scope="module")
def sys_fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Fleet, Path, TransportOptions]]:
    require_fleet()
    work = tmp_path_factory.mktemp("sys")
    with Fleet(work / "fleet", prefix="sys") as fleet:
        fleet.start(4, specs())
        opts = options(fleet, work)
        ages = {2: [(f"{BACKUPS}/stale.tar.gz", 50 * H), (f"{BACKUPS}/nightly/db-1.sql.gz", 3 * H)],
                3: [("/run/clamav/daily.cld", 5 * 86400), ("/run/clamav/main.cvd", 30 * 86400)]}
        for i, files in ages.items():  # file ages inside each host's own tmpfs, through the real transport
            t = SSHTransport(fleet.inventory_host(i), opts)
            try:
                for path, age in files:
                    assert t.run(f"touch -d @{int(NOW - age)} {path}").exit_code == 0
            finally:
                t.close()
        inv = fleet.write_inventory(work / "inventory.yaml", extra={"defaults": {"vars": {"logs_window_hours": 24}}})
        doc = yaml.safe_load(inv.read_text())
        for name, hv in VARS.items():
            doc["hosts"][name]["vars"] = hv
        inv.write_text(yaml.safe_dump(doc, sort_keys=False))
        yield fleet, inv, opts


CHOSEN = CHECKS.select(["backup", "av", "logs"])


def diagnose_direct(fleet: Fleet, opts: TransportOptions, i: int) -> tuple[list[Any], dict[str, Any], int]:
    host: Host = fleet.inventory_host(i, **VARS[fleet.host(i).name])
    t = SSHTransport(host, opts)
    try:
        ctx = HostContext(host, t, None, lambda s: s)
        facts = collect(ctx, sections_for(CHOSEN), params_for(CHOSEN, host.vars, host.name))
        return run_checks(CHOSEN, facts, host.vars, host.name), facts.to_jsonable(), len(ctx.audit)
    finally:
        t.close()


def test_healthy_host_is_quiet_in_one_exec(sys_fleet: tuple[Fleet, Path, TransportOptions]) -> None:
    findings, facts, execs = diagnose_direct(sys_fleet[0], sys_fleet[2], 1)
    assert findings == [] and execs == 1 and facts["errors"] == {}
    assert facts["backup"]["paths"][0]["size"] == 2048
    assert facts["av"] == {"unavailable": "ClamAV is not installed (no freshclam or clamscan, no /var/lib/clamav)"}
    assert facts["logs"]["entries"] == []  # the sshd error line does not match any rule


def test_backups_and_log_bursts(sys_fleet: tuple[Fleet, Path, TransportOptions]) -> None:
    findings, facts, _ = diagnose_direct(sys_fleet[0], sys_fleet[2], 2)
    got = {(f.check_id, f.severity.value, f.title) for f in findings}
    assert {t for t in got if t[0] == "backup.freshness"} == {
        ("backup.freshness", "warning", f"backup {BACKUPS}/stale.tar.gz is 50 h old (max 26 h)"),
        ("backup.freshness", "critical", f"backup {BACKUPS}/empty.dump is only 0 bytes (min 1)"),
        ("backup.freshness", "critical", f"backup {BACKUPS}/missing.tar does not exist"),
    }  # the directory's newest file is 3 h old and 10 bytes: fine
    logs = {f.check_id: f for f in findings if f.check_id.startswith("logs.")}
    assert set(logs) == {"logs.oom_kill", "logs.segfault", "logs.disk_io"}
    assert "Out of memory: Killed process 3311 (java)" in logs["logs.oom_kill"].evidence[0]
    assert "blk_update_request: I/O error, dev sdb" in logs["logs.disk_io"].evidence[0]
    assert len(logs["logs.disk_io"].evidence) == 1  # the 5-day-old EXT4 error is outside the 24 h window
    assert not any("backupd" in e["source"] for e in facts["logs"]["entries"])  # the probe sent only matches


def test_clamav_signatures_too_old(sys_fleet: tuple[Fleet, Path, TransportOptions]) -> None:
    findings, facts, _ = diagnose_direct(sys_fleet[0], sys_fleet[2], 3)
    [av] = [f for f in findings if f.check_id == "av.clamav_age"]
    assert av.severity.value == "warning" and av.title == "ClamAV signatures are 5.0 days old"
    assert av.evidence[0].startswith("/run/clamav/daily.cld ") and "version 27461" in av.evidence[0]
    assert av.evidence[-1] == "/var/log/clamav/freshclam.log: ERROR: Can't download daily.cvd from database.clamav.net"
    assert facts["av"]["tools"] == ["freshclam"]


def test_journal_is_read_at_info_and_filtered_by_the_rules(sys_fleet: tuple[Fleet, Path, TransportOptions]) -> None:
    fleet, _, opts = sys_fleet
    findings, facts, _ = diagnose_direct(fleet, opts, 4)
    assert [f.check_id for f in findings] == ["logs.segfault"]
    assert [e["source"] for e in facts["logs"]["entries"]] == ["kernel"] and facts["logs"]["max_level"] == "info"
    t = SSHTransport(fleet.inventory_host(4), opts)
    try:
        args = t.run("cat /run/journalctl.args").stdout
    finally:
        t.close()
    assert "-p 6" in args and "-n 100000000" in args


def test_diagnose_cli_selects_the_groups(sys_fleet: tuple[Fleet, Path, TransportOptions], tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("RMMCTL_DB", str(tmp_path / "rmmctl.db"))
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    result = CliRunner().invoke(app, ["diagnose", "-i", str(sys_fleet[1]), "--check", "backup", "--check", "av",
                                      "--check", "logs", "--json"])
    assert result.exit_code == 5, result.stderr
    hosts = {h["name"]: h for h in json.loads(result.stdout)["hosts"]}
    ids = {n: sorted({f["check_id"] for f in h["data"]["findings"]}) for n, h in hosts.items()}
    assert ids == {"sys-01": [], "sys-02": ["backup.freshness", "logs.disk_io", "logs.oom_kill", "logs.segfault"],
                   "sys-03": ["av.clamav_age", "logs.unreadable"], "sys-04": ["logs.segfault"]}
    [blind] = [f for f in hosts["sys-03"]["data"]["findings"] if f["check_id"] == "logs.unreadable"]
    assert blind["severity"] == "info" and blind["title"] == "no log source could be read"  # no journal, no syslog
    assert [h["status"] for h in hosts.values()] == ["ok", "crit", "warn", "warn"]
    table = CliRunner().invoke(app, ["diagnose", "sys-03", "-i", str(sys_fleet[1]), "-c", "av"])
    assert table.exit_code == 4 and "ClamAV signatures are 5.0 days old" in table.stdout
