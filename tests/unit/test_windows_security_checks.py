"""The reboot, updates, av, backup and logs checks on Windows facts (parsed from the PowerShell 5.1 fixtures
by the Windows parsers): evidence from the host's own output, fixes in Windows terms."""

from __future__ import annotations

import copy
import time
from typing import Any

import pytest

from rmmctl.checks.base import Finding, Severity
from rmmctl.checks.catalog import BUILTIN_CHECKS
from rmmctl.checks.registry import Registry, params_for, run_checks
from rmmctl.errors import ConfigError

from test_windows_probe import probe

REG = Registry("test.none", BUILTIN_CHECKS)
WIN_OS = {"family": "windows", "id": "windows", "name": "Windows 10 Pro", "version_id": "10.0.19045",
          "version_codename": "22H2", "pretty_name": "Windows 10 Pro 22H2", "id_like": []}


def facts(cases: dict[str, str], params: dict[str, Any] | None = None) -> dict[str, Any]:
    """Windows facts of these sections (section -> fixture case), with the os and the host's clock."""
    got, _ = probe(list(cases), cases, params=params)
    assert not got.errors, got.errors
    out = got.to_jsonable()
    out.update(os=WIN_OS, time={"epoch": time.time(), "skew_s": 0.0, "synchronized": True, "ntp_service": "w32time",
                                "ntp_enabled": True, "ntp_offset_s": 0.01, "timezone": "W. Europe Standard Time",
                                "utc_offset": "+0100"})
    return out


def run(names: list[str], f: dict[str, Any], **host_vars: Any) -> list[Finding]:
    return run_checks(REG.select(names), f, host_vars, "win-acc01")


def only(findings: list[Finding], check_id: str) -> Finding:
    hits = [x for x in findings if x.check_id == check_id]
    assert len(hits) == 1, findings
    return hits[0]


def no_linux_advice(f: Finding) -> None:
    text = " ".join((f.title, f.remediation, *f.evidence))
    for word in ("apt", "freshclam", "journal", "systemd", "dnf", "mount"):
        assert word not in text, (word, f)
    assert f.playbook in (None, "windows-updates", "windows-maintenance")  # never a POSIX playbook on Windows


# -- reboot.required --------------------------------------------------------------------------------

def test_a_pending_windows_update_reboot_with_its_signals_as_evidence() -> None:
    f = only(run(["reboot"], facts({"reboot": "default"})), "reboot.required")
    assert f.severity is Severity.WARNING and f.title == "a reboot is pending"
    assert f.evidence == ("registry: WindowsUpdate\\Auto Update\\RebootRequired is set: installed updates wait for a "
                          "restart",
                          "registry: Session Manager\\PendingFileRenameOperations is set (antivirus and installers "
                          "set it; alone it needs no reboot)")
    assert "maintenance window" in f.remediation and "windows-updates" in f.remediation
    assert "Restart-Computer" in f.remediation
    no_linux_advice(f)


def test_cbs_and_a_rename_are_evidence_and_pending_file_renames_alone_are_no_finding() -> None:
    f = only(run(["reboot"], facts({"reboot": "rename"})), "reboot.required")
    assert len(f.evidence) == 2
    assert f.evidence[0].startswith("registry: Component Based Servicing\\RebootPending is set")
    assert f.evidence[1].startswith("registry: the computer name changes at the next restart")
    assert run(["reboot"], facts({"reboot": "pfro_only"})) == []
    assert run(["reboot"], facts({"reboot": "clean"})) == []


# -- updates.security / updates.pending ------------------------------------------------------------

def test_windows_security_updates_are_listed_by_title_and_kb() -> None:
    f = only(run(["updates.security"], facts({"updates": "default"})), "updates.security")
    assert f.severity is Severity.WARNING and f.title == "2 Windows security update(s) pending"
    assert f.evidence == (
        "2026-11 Cumulative Update for Windows 10 Version 22H2 for x64-based Systems (KB5046613) (Security Updates)",
        "2026-11 Security Update for Adobe Flash KB5045934 (Windows 10)")
    assert "windows-updates playbook" in f.remediation and "scheduled task" in f.remediation
    no_linux_advice(f)
    crit = only(run(["updates.security"], facts({"updates": "default"}), security_updates_crit=2), "updates.security")
    assert crit.severity is Severity.CRITICAL


def test_windows_pending_updates_count_security_apart() -> None:
    f = only(run(["updates.pending"], facts({"updates": "default"})), "updates.pending")
    assert f.severity is Severity.INFO and f.title == "5 Windows update(s) pending, 2 of them security"
    assert f.evidence[0].endswith("(Security Updates) [security]")
    assert "HP Inc. - Printer - 10.2.1.0 'Universal' Druckertreiber für Büro (Drivers)" in f.evidence
    assert "Security Intelligence Update for Microsoft Defender Antivirus - KB2267602 (Version 1.421.1234.0) " \
           "(Definition Updates)" in f.evidence
    no_linux_advice(f)
    assert only(run(["updates.pending"], facts({"updates": "default"}), updates_warn=5),
                "updates.pending").severity is Severity.WARNING
    assert run(["updates.pending", "updates.security"], facts({"updates": "stale"})) == []


# -- updates.failing (and no stale_lists on Windows) ------------------------------------------------

def test_a_failing_search_on_a_windows_host_says_the_error_and_what_it_means() -> None:
    f = only(run(["updates"], facts({"updates": "com_error"})), "updates.failing")
    assert f.severity is Severity.WARNING and f.title == "the Windows Update search fails"
    assert f.evidence == ("Windows Update: Exception from HRESULT: 0x8024402C",
                          "0x8024402C: the host cannot resolve or reach the update server (proxy or DNS)")
    assert "WSUS" in f.remediation and "Get-WindowsUpdateLog" in f.remediation and "windows-updates" in f.remediation
    no_linux_advice(f)


def test_an_unavailable_updates_section_on_linux_is_not_windows_update_failing() -> None:
    f = facts({"updates": "com_error"})
    f["os"] = {**WIN_OS, "family": "linux"}
    assert [x.check_id for x in run(["updates.failing"], f)] == []


def test_no_successful_search_for_too_long_and_nothing_installed_while_updates_wait() -> None:
    assert run(["updates.failing", "updates.stale_lists"], facts({"updates": "default"})) == []  # 1 h, 2 days
    f = only(run(["updates.failing"], facts({"updates": "stale"})), "updates.failing")
    assert f.title == "Windows Update has not searched successfully for 21 days"
    assert f.evidence[0].startswith("last successful search 20") and "(host clock " in f.evidence[0]
    assert run(["updates.failing"], facts({"updates": "stale"}), updates_search_max_days=30) == []
    assert run(["updates.stale_lists"], facts({"updates": "stale"})) == []  # apt advice never reaches Windows
    old = facts({"updates": "default"})
    old["updates"]["last_install"] = int(time.time()) - 60 * 86400
    f = only(run(["updates.failing"], old), "updates.failing")
    assert f.title == "Windows Update has installed nothing for 60 days, 5 update(s) pending"
    assert f.evidence[1] == "5 pending, 2 of them security"
    no_linux_advice(f)
    assert run(["updates.failing"], old, updates_install_max_days=90) == []
    nothing = copy.deepcopy(old)
    nothing["updates"].update(pending=0, security=0, packages=[])
    assert run(["updates.failing"], nothing) == []  # nothing to install: no installs needed


def test_updates_failing_needs_the_hosts_clock() -> None:
    f = facts({"updates": "stale"})
    del f["time"]
    assert run(["updates.failing"], f) == []


# -- av.defender_off / av.defender_age ------------------------------------------------------------

def test_healthy_defender_no_findings_and_no_clamav_finding() -> None:
    assert run(["av"], facts({"av": "default"})) == []


def test_real_time_protection_off_is_critical_with_the_status_as_evidence() -> None:
    found = run(["av"], facts({"av": "realtime_off_stale"}))
    off = only(found, "av.defender_off")
    assert off.severity is Severity.CRITICAL and off.title == "Microsoft Defender real-time protection is off"
    assert off.evidence == ("Get-MpComputerStatus: RealTimeProtectionEnabled False, AntivirusEnabled True, "
                            "AMServiceEnabled True, AMRunningMode Normal, IsTamperProtected None",)
    assert "Set-MpPreference -DisableRealtimeMonitoring $false" in off.remediation
    no_linux_advice(off)
    age = only(found, "av.defender_age")
    assert age.severity is Severity.CRITICAL and age.title == "Microsoft Defender signatures are 10.0 days old"
    assert age.evidence[0].startswith("antivirus signatures 1.419.50.0 last updated 20")
    assert age.evidence[1] == "AntivirusSignatureAge 10 days, last quick scan never"
    assert "Update-MpSignature" in age.remediation and "windows-maintenance" in age.remediation
    no_linux_advice(age)
    assert not [x for x in found if x.check_id == "av.clamav_age"]


def test_signature_age_thresholds_are_the_av_vars() -> None:
    f = facts({"av": "realtime_off_stale"})
    assert only(run(["av.defender_age"], f, av_crit_age_days=14), "av.defender_age").severity is Severity.WARNING
    assert run(["av.defender_age"], f, av_max_age_days=11, av_crit_age_days=14) == []


def test_defender_disabled_and_no_signature_date() -> None:
    f = facts({"av": "default"})
    f["av"]["defender"]["antivirus_enabled"] = False
    f["av"]["databases"] = []
    off = only(run(["av"], f), "av.defender_off")
    assert off.title == "Microsoft Defender antivirus is disabled" and "Start-Service WinDefend" in off.remediation
    age = only(run(["av"], f), "av.defender_age")
    assert age.severity is Severity.CRITICAL and age.title == "Microsoft Defender has no signature update on record"


@pytest.mark.parametrize("case", ["not_installed", "passive"])
def test_defender_absent_or_passive_gives_no_av_finding(case: str) -> None:
    assert run(["av"], facts({"av": case})) == []


# -- backup.freshness on Windows paths ----------------------------------------------------------------

PATHS = ["D:\\Backups\\nightly.vhdx", "D:\\Sicherung\\Bürodaten", "E:\\Veeam", "D:\\Empty"]


def test_windows_backup_paths_are_accepted_and_reach_the_probe() -> None:
    params = params_for(REG.select(["backup.freshness"]), {"backup_paths": [*PATHS, "\\\\nas01\\backup\\sql"]}, "w")
    assert params == {"BACKUP_PATHS": [*PATHS, "\\\\nas01\\backup\\sql"]}
    for bad in ("Backups\\x", "C:relative", "\\\\", "~/x"):
        with pytest.raises(ConfigError, match="must be an absolute path"):
            params_for(REG.select(["backup.freshness"]), {"backup_paths": [bad]}, "w")


def test_windows_backups_missing_empty_and_stale_in_windows_terms() -> None:
    f = facts({"backup": "default"}, {"BACKUP_PATHS": PATHS})
    found = run(["backup"], f, backup_paths=PATHS)
    by = {x.title.split(" ")[1] if x.title.startswith("backup ") and "directory" not in x.title else x.title: x
          for x in found}
    assert sorted(x.title for x in found) == sorted([
        "backup D:\\Sicherung\\Bürodaten is 28 h old (max 26 h)", "backup E:\\Veeam does not exist",
        "backup directory D:\\Empty holds no files"])
    stale = by["D:\\Sicherung\\Bürodaten"]
    assert stale.severity is Severity.WARNING
    assert stale.evidence[0].startswith("D:\\Sicherung\\Bürodaten\\2026\\müller.zip: 1048576 bytes, modified ")
    assert "Get-ScheduledTaskInfo" in stale.remediation
    missing = by["E:\\Veeam"]
    assert missing.severity is Severity.CRITICAL and "target drive or share" in missing.remediation
    for x in found:
        no_linux_advice(x)


def test_an_empty_backup_file_on_a_share_is_critical() -> None:
    f = facts({"backup": "one_path"})
    (x,) = run(["backup"], f, backup_paths=["\\\\nas01\\backup\\sql\\acc.bak"])
    assert x.severity is Severity.CRITICAL and x.title == "backup \\\\nas01\\backup\\sql\\acc.bak is only 0 bytes (min 1)"
    no_linux_advice(x)


def test_posix_backup_findings_keep_their_playbook() -> None:
    f = {"backup": {"now": 100000, "paths": [{"path": "/srv/b", "kind": "missing", "mtime": None, "size": None,
                                              "newest": None, "files": None}]}}
    (x,) = run(["backup"], f, backup_paths=["/srv/b"])
    assert x.playbook == "backup-verify" and "target mount" in x.remediation


# -- logs on the Event Log ---------------------------------------------------------------------

def test_event_log_findings_give_windows_advice() -> None:
    f = facts({"logs": "security_denied"})
    (x,) = [y for y in run(["logs"], f) if y.check_id == "logs.unreadable"]
    assert x.severity is Severity.WARNING and "Add-LocalGroupMember -Group 'Event Log Readers'" in x.remediation
    assert "journal" not in x.remediation and all("journal" not in e for e in x.evidence)
    assert [y for y in run(["logs"], facts({"logs": "default"})) if y.check_id == "logs.unreadable"] == []
