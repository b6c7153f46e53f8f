"""Fleet tables for people: host names never wrap, short error reasons in the table and the whole errors
under it (at 80, 100 and 160 columns), colours from the host's own findings, raw CSV for machines."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

import pytest
from rich.console import Console

from rmmctl.checks.registry import run_checks
from rmmctl.health import STATUS_SECTIONS, checks_within, summarise
from rmmctl.models import HostError, HostResult, RunReport, Status
from rmmctl.render.data import Column, write_csv
from rmmctl.render.health import STATUS_COLUMNS, render_status
from rmmctl.render.table import fit_columns, render_table

SUMMARY = {"hostname": "web01", "os": "Ubuntu 22.04.4 LTS", "os_short": "Ubuntu 22.04", "uptime_s": 273600.0,
           "cpu_pct": 12.5, "cpus": 2, "load": [0.31, 0.2, 0.1], "mem_pct": 41.2, "swap_pct": None,
           "worst_fs": {"mount": "/srv/data", "used_pct": 100.0}, "updates": 133, "security_updates": 91,
           "reboot_required": False, "skew_s": 0.004, "failed_units": 0}
DISK_FULL = {"check_id": "disk.space", "severity": "critical", "title": "filesystem /srv/data is 100.0% full",
             "evidence": [], "remediation": "free space on /srv/data", "playbook": "disk-cleanup"}
ERRORS = {
    "db01.acme.example.com": (Status.UNREACHABLE, HostError(
        "connect", "db01.acme.example.com (192.0.2.4:22): connection refused by 192.0.2.4:22; is sshd running?"),
        "unreachable: connection refused"),
    "mail02.branch.acme.lan": (Status.AUTH_FAILED, HostError(
        "auth", "root@mail02.branch.acme.lan:22: authentication failed for user root (tried: key_file "
                "/root/.ssh/id_ed25519, agent (2 keys)); check key_file and the server's authorized_keys"),
        "auth: key rejected"),
    "fw-edge-01.acme.lan": (Status.AUTH_FAILED, HostError(
        "host_key", "fw-edge-01.acme.lan: unknown host key (ssh-ed25519 SHA256:Wv3Q); run `rmmctl hostkeys "
                    "scan fw-edge-01.acme.lan` then approve it, or set host_key_policy: accept-new"),
        "host key unknown"),
    "nas.acme.lan": (Status.TIMEOUT, HostError("timeout", "nas.acme.lan: command did not finish within 120.0 s"),
                     "timeout"),
}


def fleet() -> RunReport:
    ok = HostResult("web01.acme.example.com", "192.0.2.1", Status.CRIT,
                    data={"summary": SUMMARY, "findings": [DISK_FULL], "errors": {}})
    bad = [HostResult(name, name, status, error) for name, (status, error, _) in ERRORS.items()]
    return RunReport("status", 0, 1.0, (ok, *bad))


def render(report: RunReport, width: int, renderer: Any = render_status, **kw: Any) -> str:
    console = Console(file=io.StringIO(), width=width, color_system=None, **kw)
    renderer(console, report)
    return console.file.getvalue()  # type: ignore[attr-defined]


def table_rows(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith("│")]


@pytest.mark.parametrize("width", [80, 100, 160])
def test_fleet_table_stays_readable_when_hosts_fail(width: int) -> None:
    out = render(fleet(), width)
    rows = table_rows(out)
    assert max(len(line) for line in out.splitlines()) <= width
    assert len(rows) == 5  # one line per host: nothing wrapped onto a second line
    for row, host in zip(rows, fleet().hosts):
        assert re.match(rf"│ {re.escape(host.name)} +│ {host.status.value} +│", row), row  # never split
    for name, (_, error, reason) in ERRORS.items():
        [row] = [r for r in rows if r.startswith(f"│ {name} ")]
        assert re.search(rf"│ {re.escape(reason)} +│$", row.rstrip()), row  # the short reason, whole, in its cell
        assert error.message not in row
    below = " ".join(out.split("└")[-1].split())  # the text under the table, re-joined where it wrapped
    for name, (_, error, _) in ERRORS.items():
        assert f"{name}: {error.kind}: {error.message}" in below
    assert "web01.acme.example.com: critical: filesystem /srv/data is 100.0% full" in below
    assert below.endswith("5 hosts: 1 crit, 1 unreachable, 2 auth_failed, 1 timeout in 1.00 s")


def test_narrow_terminals_drop_the_least_useful_columns_first_and_say_so() -> None:
    wide, narrow = render(fleet(), 200), render(fleet(), 100)
    header = lambda out: re.findall(r"[A-Z][\w /%]*?(?= *┃)", next(x for x in out.splitlines() if "Host" in x))  # noqa: E731
    assert header(wide) == ["Host", "Status", "OS", "Uptime", "CPU %", "Load 1/5/15", "Mem %", "Worst FS", "Updates",
                            "Reboot", "Skew s", "Findings", "Error"]
    assert header(narrow)[:2] == ["Host", "Status"] and header(narrow)[-1] == "Error"
    assert "Skew s" not in header(narrow) and "not shown at this width: " in narrow
    healthy = RunReport("status", 0, 1.0, fleet().hosts[:1])
    assert "Worst FS" in render(healthy, 80) and "/srv/data 100%" in render(healthy, 80)


def test_fit_columns_keeps_the_highest_priority_then_the_leftmost_that_fit() -> None:
    cols = [Column("a", str, priority=1), Column("b", str, priority=0), Column("c", str, priority=2),
            Column("d", str, priority=0)]
    assert [c.header for c in fit_columns(1000, [10], [(c, 10) for c in cols])] == ["a", "b", "c", "d"]
    assert [c.header for c in fit_columns(53, [10], [(c, 10) for c in cols])] == ["a", "b", "c"]
    assert [c.header for c in fit_columns(40, [10], [(c, 10) for c in cols])] == ["a", "c"]
    assert [c.header for c in fit_columns(5, [10], [(c, 10) for c in cols])] == []
    widths = [(cols[0], 30), (cols[1], 5), (cols[2], 10), (cols[3], 5)]  # a wide column gives way to narrow ones
    assert [c.header for c in fit_columns(50, [10], widths)] == ["b", "c", "d"]


def test_a_host_name_longer_than_the_terminal_does_not_crash_and_hosts_without_errors_have_no_error_column() -> None:
    long = HostResult("h" * 120, "x", Status.UNREACHABLE, HostError("connect", "refused"))
    out = render(RunReport("ping", 0, 0.1, (long,)), 60, render_table_plain)
    assert max(len(line) for line in out.splitlines()) <= 60
    out = render(RunReport("status", 0, 0.1, fleet().hosts[:1]), 160)
    assert "Error" not in out


def render_table_plain(console: Console, report: RunReport) -> None:
    render_table(console, report, [])


# -- colours come from the host's own findings (its resolved thresholds), not from numbers in render/ ------


def facts(used_pct: float, mem_pct: float) -> dict[str, Any]:
    mount = {"mount": "/srv", "device": "/dev/vdb", "fstype": "ext4", "size_kb": 1000, "used_kb": int(used_pct * 10),
             "avail_kb": 1000 - int(used_pct * 10), "used_pct": used_pct, "inodes_total": 100, "inodes_used": 1,
             "inodes_free": 99, "inodes_pct": 1.0, "read_only": False}
    memory = {"total_kb": 1000, "available_kb": int(1000 - mem_pct * 10), "used_kb": int(mem_pct * 10),
              "used_pct": mem_pct, "swap_total_kb": 0, "swap_used_kb": 0, "swap_used_pct": None}
    return {"filesystems": {"mounts": [mount]}, "memory": memory, "errors": {}}


def judged(name: str, f: dict[str, Any], host_vars: dict[str, Any]) -> HostResult:
    findings = [x.to_dict() for x in run_checks(checks_within(STATUS_SECTIONS), f, host_vars, name)]
    return HostResult(name, name, Status.OK, data={"summary": summarise(f), "findings": findings, "errors": {}})


def cell_styles(host: HostResult) -> dict[str, str | None]:
    return {c.header: c.style_of(host) if c.style_of else None for c in STATUS_COLUMNS}


def test_cells_are_coloured_by_the_hosts_own_thresholds() -> None:
    strict = judged("strict", facts(used_pct=60.0, mem_pct=92.0), {"disk_warn_pct": 50, "mem_crit_pct": 91})
    lenient = judged("lenient", facts(used_pct=90.0, mem_pct=95.0), {"disk_warn_pct": 95, "disk_crit_pct": 99,
                                                                       "mem_warn_pct": 98, "mem_crit_pct": 99})
    default = judged("default", facts(used_pct=90.0, mem_pct=50.0), {})
    assert cell_styles(strict)["Worst FS"] == "yellow"  # 60% is a warning for this host (disk_warn_pct: 50)
    assert cell_styles(strict)["Mem %"] == "bold red"  # 92% is critical for it (mem_crit_pct: 91)
    assert cell_styles(lenient)["Worst FS"] is None and cell_styles(lenient)["Mem %"] is None  # no finding, no colour
    assert cell_styles(default)["Worst FS"] == "yellow" and cell_styles(default)["Mem %"] is None
    assert cell_styles(strict)["Findings"] == "bold red" and cell_styles(lenient)["Findings"] is None
    assert cell_styles(default)["CPU %"] is None  # no check judges CPU %: never coloured


def test_coloured_table_agrees_with_the_findings() -> None:
    lenient = judged("lenient", facts(used_pct=90.0, mem_pct=95.0), {"disk_warn_pct": 95, "mem_warn_pct": 98})
    console = Console(file=io.StringIO(), width=200, color_system="standard", force_terminal=True)
    render_status(console, RunReport("status", 0, 0.1, (lenient,)))
    out = console.file.getvalue()  # type: ignore[attr-defined]
    assert "/srv 90%" in out and "\x1b[33m/srv 90%" not in out and "\x1b[1;31m/srv 90%" not in out
    assert lenient.data["findings"] == []


# -- csv: one raw value per column, machine-friendly headers --------------------------------------------


def test_status_csv_has_raw_values_under_machine_names() -> None:
    out = io.StringIO()
    write_csv(fleet(), STATUS_COLUMNS, out)
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert list(rows[0]) == [
        "name", "address", "status", "error_kind", "error_message", "os", "uptime_s", "cpu_pct", "load1", "load5",
        "load15", "mem_pct", "worst_fs", "worst_fs_used_pct", "updates_pending", "updates_security",
        "reboot_required", "skew_s", "findings_critical", "findings_warning"]
    web = rows[0]
    assert (web["uptime_s"], web["updates_pending"], web["updates_security"], web["load5"]) == ("273600.0", "133", "91",
                                                                                                "0.2")
    assert (web["worst_fs"], web["worst_fs_used_pct"], web["reboot_required"]) == ("/srv/data", "100.0", "false")
    assert (web["findings_critical"], web["findings_warning"], web["cpu_pct"]) == ("1", "0", "12.5")
    down = rows[1]
    assert down["error_kind"] == "connect" and down["uptime_s"] == "" and down["updates_pending"] == ""
    text = out.getvalue()
    assert "(91 sec)" not in text and "3d 4h" not in text and "None" not in text


def test_table_shows_display_forms_of_the_same_values() -> None:
    out = render(RunReport("status", 0, 1.0, fleet().hosts[:1]), 200)
    assert "133 (91 sec)" in out and "3d 4h" in out and "0.31 0.20 0.10" in out and "1 crit, 0 warn" in out


# -- metrics: human units for people, "... and N more" on cut lists, raw numbers in JSON ----------------


METRICS_FACTS = {
    "time": {"epoch": T0 if (T0 := 1_714_564_800.1234) else 0, "skew_s": 0.004, "synchronized": None,
             "ntp_service": None, "ntp_enabled": None, "ntp_offset_s": None, "timezone": "Etc/UTC", "utc_offset": "+0000"},
    "uptime": {"seconds": 273600.0, "boot_time": T0 - 273600.0, "load1": None, "load5": None, "load15": None,
               "procs_running": None, "procs_total": 80},
    "memory": {"total_kb": 24683652, "available_kb": 24282048, "used_kb": 401604, "used_pct": 1.6,
               "swap_total_kb": 0, "swap_used_kb": 0, "swap_used_pct": None},
    "os": {"id": "ubuntu", "name": "Ubuntu", "version_id": "22.04", "pretty_name": "Ubuntu 22.04.4 LTS",
           "id_like": ["debian"], "family": "linux"},
    "filesystems": {"mounts": [{"mount": "/", "device": "/dev/vda", "fstype": "ext4", "size_kb": 264212084,
                                "used_kb": 22826316, "avail_kb": 83564596, "used_pct": 21.5, "inodes_total": None,
                                "inodes_used": None, "inodes_free": None, "inodes_pct": None, "read_only": False}]},
    "updates": {"manager": "apt", "pending": 141, "security": 91, "lists_mtime": T0 - 3600,
                "packages": [{"name": f"pkg{i:03d}", "version": "2", "current": "1", "repo": "stable",
                              "security": i % 2 == 0} for i in range(141)]},
    "services": {"available": True, "manager": "systemd", "init": "systemd", "system_state": "degraded",
                 "failed": [{"name": "backup.service", "state": "failed", "start_mode": "enabled",
                             "description": "Nightly backup"}]},
    "processes": {"count": 118, "top_cpu": [{"pid": 1, "name": "init", "user": "root", "state": "S", "cpu_pct": 0.5,
                                             "mem_pct": 0.1, "rss_kb": 15036}], "top_mem": []},
    "reboot": {"unavailable": "no /run/reboot-required"},
    "errors": {},
}


def test_metrics_table_speaks_human_units_and_says_how_many_more(berlin_tz: None) -> None:
    from rmmctl.render.health import render_metrics

    host = HostResult("web01", "a", Status.WARN, data={"facts": METRICS_FACTS, "findings": [
        {"check_id": "updates.security", "severity": "warning", "title": "91 security update(s) pending",
         "evidence": [], "remediation": "", "playbook": None}]})
    out = render(RunReport("metrics", 0, 1.0, (host,)), 160, render_metrics)
    assert "23.5 GiB" in out and "252.0 GiB" in out and "14.7 MiB" in out  # memory, disk size, rss
    assert "3d 4h" in out and "2024-05-01 14:00:00 CEST" in out and "2024-04-28 10:00:00 CEST" in out  # boot
    assert "lists_mtime: 2024-05-01 13:00:00 CEST" in out and "pending: 141" in out
    assert "pkg019" in out and "pkg020" not in out and "... and 121 more" in out
    assert "backup.service" in out and "Nightly backup" in out  # services by their neutral names
    assert "processes: top 1 by CPU of 118" in out and "warning: 91 security update(s) pending" in out
    assert "reboot: unavailable (no /run/reboot-required)" in out
    assert "None" not in out and "True" not in out and "False" not in out and "1714564800" not in out
    assert "size_kb" not in out and "total_kb" not in out  # the unit is in the value now


def test_metrics_with_old_service_names_and_missing_optional_values_still_render(berlin_tz: None) -> None:
    from rmmctl.render.health import render_metrics

    old = {**METRICS_FACTS, "services": {"available": True, "manager": "systemd", "init": "systemd",
                                         "system_state": "degraded", "failed": [
                                             {"unit": "nginx.service", "load": "loaded", "active": "failed",
                                              "sub": "failed", "description": "web"}]},
           "uptime": {"seconds": 5.0}, "cpu": {"count": 2, "percent": 3.0}}
    del old["os"]
    host = HostResult("web01", "a", Status.OK, data={"facts": old, "findings": []})
    out = render(RunReport("metrics", 0, 1.0, (host,)), 120, render_metrics)
    assert "nginx.service" in out and "5s" in out and "None" not in out


def test_status_tolerates_missing_load_averages() -> None:
    summary = {**SUMMARY, "load": None, "os_short": None}
    host = HostResult("win01", "a", Status.OK, data={"summary": summary, "findings": [], "errors": {}})
    out = render(RunReport("status", 0, 1.0, (host,)), 200)
    assert re.search(r"│ win01 +│ ok +│ +- +│", out) and "None" not in out


def test_failed_metrics_hosts_show_the_short_reason_then_the_whole_error() -> None:
    from rmmctl.render.health import render_metrics

    name, (status, error, reason) = next(iter(ERRORS.items()))
    out = render(RunReport("metrics", 0, 1.0, (HostResult(name, name, status, error),)), 200, render_metrics)
    assert out.splitlines()[0] == f"{name} {status.value} {reason}"
    assert f"{name}: {error.kind}: {error.message}" in out


@pytest.fixture
def berlin_tz(monkeypatch: pytest.MonkeyPatch):
    import time

    monkeypatch.setenv("TZ", "Europe/Berlin")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_metrics_csv_has_the_status_row_of_its_facts() -> None:
    host = HostResult("web01", "a", Status.OK, data={"facts": METRICS_FACTS, "findings": []})
    out = io.StringIO()
    write_csv(RunReport("metrics", 0, 1.0, (host,)), STATUS_COLUMNS, out)
    [row] = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert (row["uptime_s"], row["updates_pending"], row["updates_security"], row["mem_pct"]) == ("273600.0", "141",
                                                                                                  "91", "1.6")
    assert (row["worst_fs"], row["worst_fs_used_pct"], row["load1"], row["os"]) == ("/", "21.5", "", "Ubuntu 22.04")


def test_log_table_shows_local_times_with_the_zone(berlin_tz: None) -> None:
    from rmmctl.render.health import render_log_entries

    console = Console(file=io.StringIO(), width=160, color_system=None)
    render_log_entries(console, [{"host": "web01", "time": "2024-05-01T12:00:00.123Z", "level": "err",
                                  "source": None, "message": "disk error", "pid": None},
                                 {"host": "web02", "time": None, "level": "crit", "source": "kernel",
                                  "message": "oom", "pid": 1}])
    out = console.file.getvalue()  # type: ignore[attr-defined]
    assert "2024-05-01 14:00:00 CEST" in out and "T12:00" not in out and "None" not in out
