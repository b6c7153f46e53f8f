"""The system checks on Windows facts: the facts come from the Windows fixtures through the real probe path
(bundle, the double, the parsers), and each rule's evidence and fix must speak Windows (Start-Service,
w32tm, the windows-maintenance playbook), never systemctl, chrony or df."""

from __future__ import annotations

import time
from typing import Any

import pytest

from rmmctl.checks.catalog import CHECKS
from rmmctl.checks.registry import run_checks
from rmmctl.models import Finding, Severity
from rmmctl.probes.windows import bundle
from rmmctl.probes.windows.prober import ParseContext, parse_output

from winrm_double import Invocation
from winrm_double.probes import ProbeHost

LINUX_WORDS = ("systemctl", "journalctl", "chrony", "timedatectl", "timesyncd", "df ", "fsck", "dmesg",
               "mount -o", "disk-cleanup")


def windows_facts(cases: dict[str, str] | None = None,
                  sections: tuple[str, ...] = ("os", "uptime", "cpu", "memory", "filesystems", "services",
                                               "time")) -> dict[str, Any]:
    host = ProbeHost(cases)
    nonce = bundle.new_nonce()
    script = bundle.build_script(list(sections), nonce=nonce, params={},
                                 budget_s=bundle.budgets(list(sections), None))
    res = host(Invocation(command_line="powershell", script=script))
    assert not host.unknown
    facts = parse_output(res.stdout, nonce, list(sections), ParseContext(time.time(), {}))
    assert not facts.errors, facts.errors
    return facts.to_jsonable()


def check(check_id: str, facts: dict[str, Any], host_vars: dict[str, Any] | None = None) -> list[Finding]:
    found = run_checks(CHECKS.select([check_id]), facts, host_vars or {}, "win-acc01")
    for f in found:
        text = " ".join((f.title, f.remediation, *f.evidence))
        assert not [w for w in LINUX_WORDS if w in text], f"{f.check_id} speaks Linux: {text}"
    return found


# --- services.failed ------------------------------------------------------------------------------------

def test_failed_windows_services_with_their_exit_codes_and_start_service() -> None:
    [f] = check("services.failed", windows_facts())
    assert f.severity is Severity.CRITICAL  # three failed >= failed_units_crit
    assert f.title == "3 failed service(s): Spooler, AcmeBackup, DiensteÜberwachung"
    assert f.evidence == (
        "service Spooler stopped: Print Spooler (exit code 1067: its process ended unexpectedly)",
        "service AcmeBackup stopped: Acme's Backup Agent (exit code 1066: the service's own error 3)",
        "service DiensteÜberwachung stopped: Überwachungsdienst für Geräte "
        "(exit code 0: stopped although its start is automatic)",
    )
    assert "Start-Service NAME" in f.remediation and "Service Control Manager" in f.remediation
    assert f.playbook is None
    for expected in ("gupdate", "edgeupdate", "sppsvc", "MapsBroker", "RemoteRegistry"):
        assert expected not in f.title


def test_one_failed_service_names_itself_in_the_fix_and_none_is_quiet() -> None:
    [f] = check("services.failed", windows_facts({"services": "one_bare"}))
    assert f.severity is Severity.WARNING and f.title == "1 failed service(s): Spooler"
    assert "`Start-Service Spooler`" in f.remediation and "`sc.exe qc Spooler`" in f.remediation
    assert check("services.failed", windows_facts({"services": "none"})) == []
    assert check("services.failed", windows_facts({"services": "access_denied"})) == []  # unavailable


def test_a_logon_failure_says_to_reset_the_service_account_password() -> None:
    facts = windows_facts()
    facts["services"]["failed"][0]["scm"]["exit_code"] = 1069
    [f] = check("services.failed", facts)
    assert "logon failed" in f.evidence[0] and "password reset" in f.remediation


# --- time -----------------------------------------------------------------------------------------------

def test_a_synchronised_windows_clock_has_no_time_findings() -> None:
    facts = windows_facts()
    assert check("time.skew", facts) == [] and check("time.unsynchronized", facts) == []


@pytest.mark.parametrize(("case", "why"), [
    ("cmos", "w32tm's source is the Local CMOS Clock"),
    ("free_running", "w32tm's source is the Free-running System Clock"),
    ("disabled", "W32Time is disabled"),
])
def test_an_unsynchronised_windows_clock_quotes_w32tm_and_says_resync(case: str, why: str) -> None:
    [f] = check("time.unsynchronized", windows_facts({"time": case}))
    assert f.title == f"the clock is not synchronised: {why}" and f.severity is Severity.WARNING
    assert "w32tm /resync" in f.remediation
    assert f.evidence[1].startswith("W32Time ")
    if case == "disabled":
        assert "Set-Service w32time -StartupType Automatic" in f.remediation
        assert check("time.unsynchronized", windows_facts({"time": case}), {"time_service_required": False}) == []
    else:
        assert f"w32tm /query /source: {why.rsplit('the ', 1)[1]}" in f.evidence[1]
        assert "/syncfromflags:domhier" in f.remediation and "UDP 123" in f.remediation


def test_a_stopped_trigger_start_w32time_is_windows_default_but_a_stopped_automatic_one_is_not() -> None:
    assert check("time.unsynchronized", windows_facts({"time": "stopped_trigger"})) == []
    facts = windows_facts({"time": "stopped_trigger"})
    facts["time"]["w32time"]["start_mode"] = "auto"
    [f] = check("time.unsynchronized", facts)
    assert f.title == "the Windows Time service (W32Time) is not running"
    assert "Start-Service w32time" in f.remediation
    assert check("time.unsynchronized", facts, {"time_service_required": False}) == []


def test_a_windows_clock_five_minutes_ahead_is_critical_with_w32time_evidence() -> None:
    [f] = check("time.skew", windows_facts({"time": "ahead"}))
    assert f.severity is Severity.CRITICAL and f.title.startswith("clock is off by 299.")
    assert f.evidence[1] == ("W32Time running (auto), w32tm /query /source: pool.ntp.org,0x9, Type NTP, "
                             "NtpServer pool.ntp.org,0x9 time.windows.com,0x9, stripchart: 08:04:24, -300.0012345s")
    assert "w32tm /resync /force" in f.remediation and "Start-Service w32time" in f.remediation


def test_the_unreachable_source_and_hyperv_are_synchronised() -> None:
    for case in ("unreachable", "hyperv"):
        assert check("time.unsynchronized", windows_facts({"time": case})) == []


# --- disk -----------------------------------------------------------------------------------------------

def test_a_full_windows_volume_names_windows_maintenance_not_disk_cleanup() -> None:
    found = check("disk.space", windows_facts())
    assert [(f.title, f.severity) for f in found] == [("volume D: is 98.0% full", Severity.CRITICAL)]
    [f] = found  # R: is 99% full but read-only: not judged on space (as on Linux)
    assert f.evidence == ("Données D: (ReFS): 957228554 KiB used of 976759804 KiB, 19531250 KiB free (98.0%)",)
    assert "windows-maintenance" in f.remediation and "rmmctl play HOST windows-maintenance" in f.remediation
    assert f.playbook == "windows-maintenance"  # diagnose --fix runs it there, never disk-cleanup


def test_a_nearly_full_system_drive_on_a_one_disk_machine() -> None:
    [f] = check("disk.space", windows_facts({"filesystems": "one_disk"}))
    assert f.title == "volume C: is 95.0% full" and f.severity is Severity.CRITICAL
    assert check("disk.space", windows_facts({"filesystems": "one_disk"}), {"disk_crit_pct": 99}
                 )[0].severity is Severity.WARNING
    assert check("disk.inodes", windows_facts()) == []  # NTFS has no inode counts: null, never a finding


def test_a_read_only_system_drive_is_critical_with_chkdsk_other_drives_only_when_listed() -> None:
    facts = windows_facts({"filesystems": "one_disk"})
    assert check("disk.readonly", facts) == []
    facts["filesystems"]["mounts"][0]["read_only"] = True
    [f] = check("disk.readonly", facts)
    assert f.title == "volume C: is read-only" and f.severity is Severity.CRITICAL
    assert "chkdsk C: /scan" in f.remediation and "attributes volume clear readonly" in f.remediation
    facts = windows_facts()
    assert check("disk.readonly", facts) == []  # R: is read-only but not asked for
    [r] = check("disk.readonly", facts, {"writable_mounts": ["R:"]})
    assert r.title == "volume R: is read-only"


# --- memory and cpu ---------------------------------------------------------------------------------------

def test_memory_pressure_and_the_page_file_on_windows() -> None:
    facts = windows_facts({"memory": "two_pagefiles"})
    [mem] = check("memory.pressure", facts)
    assert mem.title == "memory is 97.0% used" and mem.severity is Severity.CRITICAL
    assert check("memory.swap", facts) == []  # 64.3% of the page files
    facts["memory"].update(swap_used_kb=8000000, swap_used_pct=95.4)
    [sw] = check("memory.swap", facts)
    assert sw.title == "the page file is 95.4% used" and "page file" in sw.evidence[0]
    del facts["os"]  # without the os section the rule cannot tell: the neutral wording
    assert check("memory.swap", facts)[0].title == "swap is 95.4% used"


def test_windows_has_no_load_averages_so_cpu_load_is_never_judged() -> None:
    facts = windows_facts({"cpu": "two_sockets"})  # 100% busy, but one sample is no sustained load
    assert facts["uptime"]["load5"] is None and check("cpu.load", facts) == []


def test_a_healthy_windows_host_has_no_system_findings_but_the_default_fixtures_are_not_healthy() -> None:
    ids = {f.check_id for f in run_checks(CHECKS.select(["disk", "memory", "cpu", "services", "time"]),
                                          windows_facts(), {}, "w")}
    assert ids == {"disk.space", "services.failed"}
    healthy = windows_facts({"filesystems": "no_disks", "services": "none"})
    assert run_checks(CHECKS.select(["disk", "memory", "cpu", "services", "time"]), healthy, {}, "w") == []
