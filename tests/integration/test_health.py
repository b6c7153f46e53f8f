"""status, metrics and logs on real sshd hosts, each with its own per-host fixtures (docs/architecture.md).

health-01  Ubuntu os-release, healthy, apt shim with nothing to upgrade
health-02  a really full tmpfs on /srv/data
health-03  /run/reboot-required (+ .pkgs)
health-04  /var/log/syslog holding errors (no journal: the syslog fallback)
health-05  systemd "running" with a systemctl shim reporting two failed units
health-06  apt shim with pending security updates
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import cli, require_fleet
from fleet import FixtureSpec, Fleet

UBUNTU = """PRETTY_NAME="Ubuntu 22.04.4 LTS"
NAME="Ubuntu"
VERSION_ID="22.04"
VERSION="22.04.4 LTS (Jammy Jellyfish)"
VERSION_CODENAME=jammy
ID=ubuntu
ID_LIKE=debian
"""
APT_NONE = "#!/bin/sh\necho 'Listing...'\n"
APT_SECURITY = """#!/bin/sh
echo 'Listing...'
echo 'openssl/jammy-security 3.0.2-0ubuntu1.15 amd64 [upgradable from: 3.0.2-0ubuntu1.14]'
echo 'libssl3/jammy-security 3.0.2-0ubuntu1.15 amd64 [upgradable from: 3.0.2-0ubuntu1.14]'
echo 'tzdata/jammy-updates 2024a-0ubuntu0.22.04 all [upgradable from: 2023c-0ubuntu0.22.04]'
"""
SYSTEMCTL_FAILED = """#!/bin/sh
case "$*" in
  *is-system-running*) echo degraded; exit 1 ;;
  *list-units*--failed*) printf '%s\\n' 'backup-nightly.service loaded failed failed Nightly backup' \\
      'nginx.service loaded failed failed A high performance web server' ;;
  *) exit 1 ;;
esac
"""
JOURNAL_NONE = "#!/bin/sh\nexit 0\n"


def _syslog(now: float) -> str:
    stamp = time.strftime("%b %e %H:%M:%S", time.localtime(now - 120))
    old = time.strftime("%b %e %H:%M:%S", time.localtime(now - 5 * 86400))
    return (f"{old} health-04 kernel: [1.0] EXT4-fs error (device sdz1): ancient error\n"
            f"{stamp} health-04 kernel: [99.1] Out of memory: Killed process 4242 (java)\n"
            f"{stamp} health-04 backupd[77]: error: cannot open /mnt/backup: No such file or directory\n"
            f"{stamp} health-04 cron[12]: (root) CMD (run-parts /etc/cron.hourly)\n")


NO_TIME_SERVICE = {"defaults": {"vars": {"time_service_required": False}}}
QUIET = {"loadavg": "0.12 0.08 0.05 1/180 4242\n"}  # the real load of a busy test machine must not decide


def _app_log(now: float) -> str:
    stamp = time.strftime("%b %e %H:%M:%S", time.localtime(now - 60))
    return (f"{stamp} health-04 payroll[9]: fatal: payroll export failed: disk quota exceeded\n"
            f"{stamp} health-04 payroll[9]: export started\n")


def specs(now: float) -> dict[str, FixtureSpec]:
    apt = {"apt": APT_NONE}
    return {
        "health-01": FixtureSpec(bin=apt, os_release=UBUNTU, proc=QUIET),
        "health-02": FixtureSpec(bin=apt, fulldisk="2m", proc=QUIET),
        "health-03": FixtureSpec(bin=apt, run={"reboot-required": "*** System restart required ***\n",
                                               "reboot-required.pkgs": "linux-image-6.1.0-99-amd64\n"}, proc=QUIET),
        "health-04": FixtureSpec(bin=apt, log={"syslog": _syslog(now), "app.log": _app_log(now)}, proc=QUIET),
        "health-05": FixtureSpec(bin={**apt, "systemctl": SYSTEMCTL_FAILED, "journalctl": JOURNAL_NONE},
                                 run={"systemd/system/.present": ""}, proc=QUIET),
        "health-06": FixtureSpec(bin={"apt": APT_SECURITY}, proc=QUIET),
    }


@pytest.fixture(scope="module")
def health_fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Fleet, Path]]:
    require_fleet()
    work = tmp_path_factory.mktemp("health")
    with Fleet(work / "fleet", prefix="health") as fleet:
        fleet.start(6, specs(time.time()))
        # status judges with every registered check its sections cover (rmmctl.health.checks_within); these
        # hosts run no time service by design, so time.unsynchronized is told to accept that
        yield fleet, fleet.write_inventory(work / "inventory.yaml", extra=NO_TIME_SERVICE)




def by_name(doc: dict) -> dict[str, dict]:
    return {h["name"]: h for h in doc["hosts"]}


@pytest.fixture
def status_doc(health_fleet: tuple[Fleet, Path], env: dict[str, str]) -> tuple[Any, dict[str, dict]]:
    _, inv = health_fleet
    result = cli("status", "-i", str(inv), "--json")
    return result, by_name(json.loads(result.stdout))


def finding_ids(host: dict) -> set[str]:
    return {f["check_id"] for f in host["data"]["findings"]}


def test_status_shows_each_host_by_hostname(status_doc: tuple[Any, dict[str, dict]]) -> None:
    result, hosts = status_doc
    assert result.exit_code == 5, result.stderr  # health-02's full disk is critical
    assert {n: h["data"]["summary"]["hostname"] for n, h in hosts.items()} == {n: n for n in hosts}
    assert hosts["health-01"]["status"] == "ok" and hosts["health-01"]["data"]["findings"] == []
    assert hosts["health-01"]["data"]["summary"]["os"] == "Ubuntu 22.04.4 LTS"
    assert hosts["health-01"]["data"]["summary"]["load"] == [0.12, 0.08, 0.05]


def test_full_disk_is_critical_with_evidence(status_doc: tuple[Any, dict[str, dict]]) -> None:
    host = status_doc[1]["health-02"]
    assert host["status"] == "crit"
    assert host["data"]["summary"]["worst_fs"] == {"mount": "/srv/data", "used_pct": 100.0}
    [disk] = [f for f in host["data"]["findings"] if f["check_id"] == "disk.space"]
    assert disk["severity"] == "critical" and "/srv/data" in disk["evidence"][0]


def test_reboot_required_warns(status_doc: tuple[Any, dict[str, dict]]) -> None:
    host = status_doc[1]["health-03"]
    assert host["status"] == "warn" and host["data"]["summary"]["reboot_required"] is True
    assert finding_ids(host) == {"reboot.required"}


def test_failed_units_and_security_updates(status_doc: tuple[Any, dict[str, dict]]) -> None:
    hosts = status_doc[1]
    assert hosts["health-05"]["data"]["summary"]["failed_units"] == 2
    assert "services.failed" in finding_ids(hosts["health-05"])
    summary = hosts["health-06"]["data"]["summary"]
    assert (summary["updates"], summary["security_updates"]) == (3, 2)
    assert "updates.security" in finding_ids(hosts["health-06"])  # (with updates.pending, from diagnose's checks)


def test_status_table_for_people(health_fleet: tuple[Fleet, Path], env: dict[str, str]) -> None:
    result = cli("status", "-i", str(health_fleet[1]))
    assert "health-02" in result.stdout and "/srv/data 100%" in result.stdout
    assert "filesystem /srv/data is 100.0% full" in result.stdout
    assert "6 hosts" in result.stdout


def test_metrics_has_every_section(health_fleet: tuple[Fleet, Path], env: dict[str, str]) -> None:
    result = cli("metrics", "health-01:health-02", "-i", str(health_fleet[1]), "--json")
    hosts = by_name(json.loads(result.stdout))
    facts = hosts["health-01"]["data"]["facts"]
    assert facts["errors"] == {}
    assert {"host", "os", "uptime", "cpu", "memory", "filesystems", "services", "updates", "reboot", "time",
            "processes"} <= set(facts)
    assert facts["os"]["id"] == "ubuntu" and facts["host"]["hostname"] == "health-01"
    mounts = {m["mount"]: m for m in hosts["health-02"]["data"]["facts"]["filesystems"]["mounts"]}
    assert mounts["/srv/data"]["used_pct"] == 100.0 and mounts["/srv/data"]["avail_kb"] == 0
    table = cli("metrics", "health-02", "-i", str(health_fleet[1]))
    assert "/srv/data" in table.stdout and "filesystems" in table.stdout


def test_logs_from_syslog_merged_and_filtered(health_fleet: tuple[Fleet, Path], env: dict[str, str]) -> None:
    inv = str(health_fleet[1])
    result = cli("logs", "health-04", "-i", inv, "--since", "1h", "--json")
    assert result.exit_code == 0, result.stderr
    [host] = json.loads(result.stdout)["hosts"]
    messages = [e["message"] for e in host["data"]["entries"]]
    assert any("Out of memory" in m for m in messages) and any("/mnt/backup" in m for m in messages)
    assert not any("ancient" in m for m in messages) and not any("CMD" in m for m in messages)
    grep = json.loads(cli("logs", "health-04", "-i", inv, "--since", "1h", "--grep", "backup", "--json").stdout)
    assert [e["source"] for e in grep["hosts"][0]["data"]["entries"]] == ["backupd"]
    from_file = json.loads(cli("logs", "health-04", "-i", inv, "--since", "1h", "--source", "/var/log/app.log",
                               "--json").stdout)["hosts"][0]["data"]
    assert from_file["logs"]["file"] == "/var/log/app.log"
    assert [e["message"] for e in from_file["entries"]] == ["fatal: payroll export failed: disk quota exceeded"]
    missing = json.loads(cli("logs", "health-04", "-i", inv, "--source", "/var/log/nope.log", "--json").stdout)
    assert "cannot read /var/log/nope.log" in missing["hosts"][0]["data"]["logs"]["unavailable"]
    table = cli("logs", "health-04,health-05", "-i", inv, "--since", "2h")
    assert "health-04" in table.stdout and "Out of memory" in table.stdout


def test_status_samples_land_in_history(health_fleet: tuple[Fleet, Path], env: dict[str, str]) -> None:
    inv = str(health_fleet[1])
    cli("status", "health-02", "-i", inv)
    cli("status", "health-02", "-i", inv)
    doc = json.loads(cli("history", "metrics", "health-02", "--metric", "disk./srv/data", "--json").stdout)
    [used] = [m for m in doc["metrics"] if m["name"] == "disk./srv/data.used_pct"]
    assert [p[1] for p in used["points"]] == [100.0, 100.0]


def test_thresholds_come_from_inventory_vars(health_fleet: tuple[Fleet, Path], env: dict[str, str], tmp_path: Path) -> None:
    import yaml

    doc = yaml.safe_load(health_fleet[1].read_text())
    doc["known_hosts"] = str(health_fleet[0].known_hosts)
    doc["hosts"]["health-02"]["vars"] = {"disk_warn_pct": 101, "disk_crit_pct": 102}
    inv = tmp_path / "inv.yaml"
    inv.write_text(yaml.safe_dump(doc))
    result = cli("status", "health-02", "-i", str(inv), "--json")
    assert json.loads(result.stdout)["hosts"][0]["status"] == "ok", result.stdout
    assert result.exit_code == 0
