"""`rmmctl schedule`'s jobs (pure: rmmctl.schedule) and --log-file's rotation."""

from __future__ import annotations

import logging
from dataclasses import replace
import shutil
import subprocess
from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from rmmctl.cli.options import Common, Output
from rmmctl.cli.output import LOG_FILE_BACKUPS, setup_logging
from rmmctl.inventory.model import Group, Host, Inventory
from rmmctl.schedule import Paths, crontab, plan, systemd_units
from rmmctl.secrets import Redactor

PATHS = Paths(("/usr/bin/rmmctl",), Path("/etc/rmmctl/inv.yaml"), Path("/var/log/rmmctl"),
              Path("/var/lib/rmmctl/reports"))
WINTER = datetime(2026, 12, 2, 12, 0, tzinfo=timezone.utc)
SUMMER = datetime(2026, 7, 1, 12, 0, tzinfo=timezone.utc)


def inventory(*hosts: Host, clients: dict[str, dict] | None = None) -> Inventory:
    groups = {name: Group(name, vars=v, kind="client") for name, v in (clients or {}).items()}
    return Inventory({h.name: h for h in hosts}, groups)


def host(name: str, window: str | list[str] | None, tz: str | None = None, **more: object) -> Host:
    vars = {k: v for k, v in {"maintenance_window": window, "timezone": tz, **more}.items() if v is not None}
    return Host(name, "192.0.2.1", vars=vars, os=str(more.get("os", "linux")))


def cron_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line and not line.startswith("#") and "=" not in line.split()[0]]


def test_status_diagnose_and_one_play_line_per_distinct_window_with_lock_quiet_and_log_file() -> None:
    inv = inventory(host("a", "Sun 02:00-04:00", "UTC"), host("b", "Sun 02:00-04:00", "UTC"),
                    host("c", ["Mon-Fri 22:00-23:30", "Sat 01:00-02:00"], "UTC"), host("d", None))
    lines = cron_lines(crontab(plan(inv, PATHS, WINTER, timezone.utc), PATHS, "root"))
    assert lines[0] == ("*/5 * * * * root /usr/bin/rmmctl status all --alert -i /etc/rmmctl/inv.yaml --lock --quiet "
                        "--log-file /var/log/rmmctl/status.log")
    assert lines[1].startswith("30 1 * * * root /usr/bin/rmmctl diagnose all --alert -i /etc/rmmctl/inv.yaml --lock ")
    plays = lines[2:]
    assert plays == [
        "0 2 * * 0 root /usr/bin/rmmctl play os-updates a,b --yes -i /etc/rmmctl/inv.yaml --lock --quiet "
        "--log-file /var/log/rmmctl/play-os-updates.log",
        "0 22 * * 1,2,3,4,5 root /usr/bin/rmmctl play os-updates c --yes -i /etc/rmmctl/inv.yaml --lock --quiet "
        "--log-file /var/log/rmmctl/play-os-updates.log",
        "0 1 * * 6 root /usr/bin/rmmctl play os-updates c --yes -i /etc/rmmctl/inv.yaml --lock --quiet "
        "--log-file /var/log/rmmctl/play-os-updates.log",
    ]
    assert all(" --lock " in line and " --quiet " in line and " --log-file /" in line for line in lines)


def test_a_window_in_the_hosts_zone_converts_to_this_machines_time_across_midnight_and_dst() -> None:
    inv = inventory(host("a", "Sun 02:00-04:00", "Europe/Berlin"), host("b", "Mon 00:30-02:00", "Europe/Berlin"),
                    host("w", "daily 03:00-05:00", "America/New_York", os="windows", connection="winrm"))
    winter = cron_lines(crontab(plan(inv, PATHS, WINTER, timezone.utc), PATHS, None))[2:]
    assert [" ".join(line.split()[:5]) for line in winter] == ["0 1 * * 0", "30 23 * * 0", "0 8 * * *"]
    assert " play windows-maintenance w " in winter[2]  # the default playbook of a Windows host
    summer = cron_lines(crontab(plan(inv, PATHS, SUMMER, timezone.utc), PATHS, None))[2:]
    assert [" ".join(line.split()[:5]) for line in summer] == ["0 0 * * 0", "30 22 * * 0", "0 7 * * *"]
    here = ZoneInfo("Europe/Berlin")  # the same zone here: the window's own times
    same = cron_lines(crontab(plan(inv, PATHS, WINTER, here), PATHS, None))[2:]
    assert [" ".join(line.split()[:5]) for line in same][:2] == ["0 2 * * 0", "30 0 * * 1"]


def test_monthly_report_per_client_mailed_to_its_contact_with_percent_escaped_for_cron() -> None:
    inv = inventory(host("a", None), clients={"acme": {"contact": "ops@acme.example"}, "globex": {}})
    p = plan(inv, PATHS, WINTER, timezone.utc)
    text = crontab(p, PATHS, None)
    (acme, globex) = [line for line in cron_lines(text) if " report " in line]
    assert acme.startswith("0 6 1 * * /usr/bin/rmmctl report --client acme --period last-month -o pdf --out "
                           "\"/var/lib/rmmctl/reports/acme-$(date -d 'last month' +\\%Y-\\%m).pdf\" ")
    assert "'--lock=report acme'" in acme and " --quiet " in acme
    pdf = "\"/var/lib/rmmctl/reports/acme-$(date -d 'last month' +\\%Y-\\%m).pdf\""
    assert acme.endswith(f"; [ -s {pdf} ] && mail -s 'acme: monthly IT report' -A {pdf} ops@acme.example </dev/null")
    assert "mail" not in globex and "# note: client globex has no `contact` var" in text


def test_systemd_units_run_the_same_commands_on_calendars_systemd_accepts() -> None:
    inv = inventory(host("a", "Sun 02:00-04:00", "Europe/Berlin"), clients={"acme": {"contact": "x@y.example"}})
    p = plan(inv, PATHS, WINTER, timezone.utc)
    text = systemd_units(p, PATHS, "rmm")
    files = text.split("# file: ")[1:]
    names = [f.split("\n", 1)[0] for f in files]
    assert names == [f"/etc/systemd/system/rmmctl-{n}.{k}" for n in
                     ("status", "diagnose", "play-os-updates-sun-02-00-04-00-europe-berlin", "report-acme")
                     for k in ("service", "timer")]
    calendars = [line.split("=", 1)[1] for line in text.splitlines() if line.startswith("OnCalendar=")]
    assert calendars == ["*:0/5", "*-*-* 01:30:00", "Sun *-*-* 02:00:00 Europe/Berlin", "*-*-01 06:00:00"]
    assert "User=rmm" in text and "SuccessExitStatus=75" in text
    execs = [line.split("=", 1)[1] for line in text.splitlines() if line.startswith("ExecStart=")]
    assert execs[0].startswith("/usr/bin/rmmctl status all --alert ")
    assert execs[3].startswith("/bin/sh -c '/usr/bin/rmmctl report --client acme") and "+%%Y-%%m" in execs[3]
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("no systemd-analyze here to check the calendars")
    for calendar in calendars:
        done = subprocess.run([analyze, "calendar", calendar], capture_output=True, text=True)
        assert done.returncode == 0, (calendar, done.stderr)


def test_log_file_rotates_by_size_keeping_three(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RMMCTL_LOG_MAX_BYTES", "2000")
    opts = Common(inventory=None, limit=None, output=Output.table, json=False, forks=1, timeout=None,
                  connect_timeout=None, max_output=1, db=None, quiet=True, verbose=0, debug=False, no_color=True,
                  log_file=tmp_path / "logs" / "rmmctl.log")
    setup_logging(opts, Redactor())
    log = logging.getLogger("rmmctl.transports.ssh")
    try:
        for i in range(200):
            log.info("fleet-01: exec true: exit 0, line %03d", i)
        log.debug("not at -v")
    finally:
        for handler in logging.getLogger("rmmctl").handlers:
            handler.close()
        logging.getLogger("rmmctl").handlers[:] = []
    files = sorted(p.name for p in (tmp_path / "logs").iterdir())
    assert files == ["rmmctl.log", *(f"rmmctl.log.{i}" for i in range(1, LOG_FILE_BACKUPS + 1))]
    assert all((tmp_path / "logs" / f).stat().st_size <= 2000 for f in files)
    newest = (tmp_path / "logs" / "rmmctl.log").read_text().splitlines()
    assert newest[-1].endswith(" INFO rmmctl.transports.ssh: fleet-01: exec true: exit 0, line 199")
    assert "not at -v" not in (tmp_path / "logs" / "rmmctl.log").read_text()


def test_a_windows_hosts_are_named_by_the_largest_groups_wholly_inside_then_by_name() -> None:
    member = {"a": ("acme", "hq"), "b": ("acme", "hq"), "c": ("acme", "mixed")}
    hosts = [replace(host(n, "Sun 02:00-04:00", "UTC", maintenance_playbook="plays/maint.yaml"),
                     groups=member.get(n, ())) for n in "abcde"]
    inv = Inventory({h.name: h for h in hosts}, {"acme": Group("acme", hosts=("a", "b", "c"), kind="client"),
                                                  "hq": Group("hq", hosts=("a", "b"), kind="site"),
                                                  "mixed": Group("mixed", hosts=("c", "z"))})
    (play,) = [line for line in cron_lines(crontab(plan(inv, PATHS, WINTER, timezone.utc), PATHS, None))
               if " play " in line]
    # a playbook file relative to the inventory is made absolute (cron runs in $HOME)
    assert " play /etc/rmmctl/plays/maint.yaml acme,d,e --yes " in play


def test_a_line_past_crons_length_limit_gets_a_note() -> None:
    hosts = [host(f"host-{i:03d}.example.com", "Sun 02:00-04:00", "UTC") for i in range(60)]
    text = crontab(plan(inventory(*hosts), PATHS, WINTER, timezone.utc), PATHS, None)
    assert "# note: this line is " in text and "refuse lines over 1000" in text
