"""The printer checks on Windows hosts: the facts of tests/fixtures/ps/printers (through the probe and the
parser) give findings whose evidence quotes the host's own values and whose fixes are PowerShell or the
windows-spooler-repair playbook. The CUPS behaviour is pinned by test_printer_checks.py."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

import pytest
from test_windows_probe import probe

from rmmctl.checks.base import Finding, Severity
from rmmctl.checks.catalog import CHECKS
from rmmctl.checks.printers_windows import WIN_REPAIR, ps_quote
from rmmctl.checks.registry import run_checks
from winrm_double.probes import fixture


def facts(case: str) -> dict[str, Any]:
    f, _ = probe(["printers"], {"printers": case})
    assert not f.errors
    return {"printers": f["printers"]}


def run(case_or_facts: str | Mapping[str, Any], **hv: Any) -> list[Finding]:
    data = facts(case_or_facts) if isinstance(case_or_facts, str) else case_or_facts
    return run_checks(CHECKS.select(["printers"]), data, hv, "win-acc01")


def ids(findings: list[Finding]) -> list[tuple[str, str]]:
    return sorted((f.check_id, f.severity.value) for f in findings)


def one(findings: list[Finding], check_id: str) -> Finding:
    [f] = [f for f in findings if f.check_id == check_id]
    return f


def test_a_healthy_office_has_no_findings() -> None:
    assert run("default") == []


def test_windows_findings_name_the_windows_playbooks_never_the_cups_one() -> None:
    every = [f for case in ("stuck_queue", "driver_failing", "spooler_stopped", "offline", "one_printer")
             for f in run(case)]
    books: dict[str, set[str | None]] = {}
    for f in every:
        books.setdefault(f.check_id, set()).add(f.playbook)
    assert books["printers.stuck_queue"] == {"windows-spooler-repair"}
    assert books["printers.scheduler_down"] == {"windows-spooler-repair"}
    # a driver the events name is reinstalled by its playbook; an unnamed one has no playbook to run
    assert books["printers.driver_failing"] <= {"windows-printer-driver", None}
    assert "windows-printer-driver" in books["printers.driver_failing"]
    assert "printer-repair" not in set().union(*books.values())
    assert all(f.evidence and f.remediation for f in every)
    assert not any("cupsenable" in f.remediation or "lpadmin" in f.remediation or "systemctl" in f.remediation
                   for f in every)


def test_a_driver_failure_from_before_the_spooler_last_started_is_history() -> None:
    now = facts("driver_failing")
    assert any(f.check_id == "printers.driver_failing" for f in run(now))
    later = copy.deepcopy(now)
    later["printers"]["windows"]["spooler"]["started"] = "2999-01-01T00:00:00Z"  # restarted after every event
    assert not any(f.check_id == "printers.driver_failing" for f in run(later))


def test_without_printmanagement_nothing_is_claimed_about_queues() -> None:
    assert run("no_module") == []  # no printers known: no orphaned-spool claim either


def test_a_stopped_disabled_spooler_is_critical_with_the_enable_and_start_fix() -> None:
    found = run("spooler_stopped")
    assert ids(found) == [("printers.scheduler_down", "critical")]
    f = found[0]
    assert f.title == "the Print Spooler is stopped and disabled"
    assert f.evidence[0] == "Get-Service Spooler: Status=Stopped StartType=Disabled"
    assert "Get-Printer: The spooler service is not reachable.  Ensure the spooler service is running." in f.evidence
    assert any("4 file(s), 81920 bytes" in e for e in f.evidence)
    assert f.remediation.startswith("`Set-Service Spooler -StartupType Automatic; Start-Service Spooler`")
    assert WIN_REPAIR in f.remediation


def test_a_spooler_disabled_on_purpose_or_only_disabled_or_unreadable() -> None:
    assert run("spooler_stopped", print_server=False) == []  # a domain controller: said so in the inventory
    assert ids(run("spooler_stopped", print_server=True)) == [("printers.scheduler_down", "critical")]
    data = facts("default")
    data["printers"]["windows"]["spooler"]["start_mode"] = "disabled"
    assert one(run(data), "printers.scheduler_down").title == \
        "the Print Spooler is running but disabled (it will not start again)"
    data["printers"]["windows"]["spooler"] = {"state": "unknown", "start_mode": None}
    assert run(data) == []  # Get-Service failed: no claim either way


def test_a_crashing_spooler_and_the_driver_that_fails_to_load() -> None:
    found = run("driver_failing")
    assert ids(found) == [("printers.device_error", "warning"), ("printers.driver_crash", "critical"),
                          ("printers.driver_failing", "critical"), ("printers.spooler_crashing", "critical")]
    crash = one(found, "printers.spooler_crashing")
    assert crash.title == "the Print Spooler crashed 3 time(s) in 168 h (faulting module kxdrvui.dll)"
    assert [e.split(" ", 1)[1].split(":")[0] for e in crash.evidence] == [
        "Service Control Manager 7031"] * 3 + ["Application Error 1000"]
    assert "It has done this 3 time(s)." in crash.evidence[2]
    assert "Kyocera TASKalfa 3253ci KX" in crash.remediation and WIN_REPAIR in crash.remediation
    drv = one(found, "printers.driver_failing")
    assert drv.title == "printer driver Kyocera TASKalfa 3253ci KX fails to load (kxdrvui.dll), 3 event(s)"
    assert any("808: The print spooler failed to load a plug-in module C:\\Windows\\system32\\spool\\DRIVERS"
               "\\x64\\3\\kxdrvui.dll, error code 0x7e." in e for e in drv.evidence)
    assert "printers using it: Empfang Kyocera" in drv.evidence
    assert any(e.startswith("Get-PrinterDriver: Kyocera TASKalfa 3253ci KX version 8.1.1109.0") for e in drv.evidence)
    assert "Set-Printer -Name 'Empfang Kyocera'" in drv.remediation and "win_printer" in drv.remediation
    failed = one(found, "printers.driver_crash")
    assert failed.title.startswith("printer Empfang Kyocera: 1 document(s) failed to print")
    assert "failed to print on printer Empfang Kyocera" in failed.evidence[1]


def test_crash_severity_and_window_follow_the_thresholds() -> None:
    assert one(run("driver_failing", spooler_crashes_critical=4), "printers.spooler_crashing").severity \
        is Severity.WARNING
    assert not [f for f in run("driver_failing", spooler_crash_hours=0.5) if f.check_id == "printers.spooler_crashing"]
    # the 808s are an hour old: outside a half-hour printer_log_hours, so no driver finding either
    assert not [f for f in run("driver_failing", printer_log_hours=0.5) if f.check_id == "printers.driver_failing"]


def test_an_808_whose_dll_no_driver_ships_is_a_warning_that_says_how_to_find_it() -> None:
    found = run("one_printer")
    drv = one(found, "printers.driver_failing")
    assert drv.severity is Severity.WARNING
    assert drv.title == "a printer driver's module hpcpp270.dll fails to load (driver not identified), 1 event(s)"
    assert "Get-PrinterDriver | Where-Object DependentFiles -match 'hpcpp270\\.dll'" in drv.remediation
    crash = one(found, "printers.spooler_crashing")
    assert crash.severity is Severity.WARNING and "a plug-in failed to load: hpcpp270.dll" in crash.title
    assert "Druckwarteschlange" in crash.evidence[0]


def test_stuck_jobs_quote_the_job_and_the_spool_folder() -> None:
    found = run("stuck_queue")
    assert ids(found) == [("printers.device_error", "warning"), ("printers.stuck_queue", "warning")]
    stuck = one(found, "printers.stuck_queue")
    assert stuck.title == "printer Büro-Drucker 2.OG: a job has waited 120 min (limit 15 min)"
    assert any('job 14 "Lieferschein 4711 <Kopie>.docx" by ACME\\anna' in e and "JobStatus=Error, Printing" in e
               and e.endswith("(age 120 min)") for e in stuck.evidence)
    assert any("JobStatus=Deleting" in e for e in stuck.evidence)
    assert not any("notes.txt" in e for e in stuck.evidence)  # a minute old
    assert any(e.startswith("spool folder") and "6 file(s)" in e for e in stuck.evidence)
    assert "Remove-PrintJob -PrinterName 'Büro-Drucker 2.OG' -ID 14" in stuck.remediation
    assert WIN_REPAIR in stuck.remediation
    assert not [f for f in run("stuck_queue", printer_stuck_minutes=180) if f.check_id == "printers.stuck_queue"]


def test_orphaned_spool_files_without_old_jobs_are_a_stuck_queue() -> None:
    data = facts("default")
    data["printers"]["windows"]["spool"] = {"files": 3, "bytes": 9000, "oldest_age_s": 3600}
    f = one(run(data), "printers.stuck_queue")
    assert f.title == "spool folder: 3 file(s) older than 15 min without a job waiting that long"
    assert f.evidence[0].endswith("3 file(s), 9000 bytes, oldest 60 min old")


def test_offline_paused_and_paper_out_each_with_its_fix() -> None:
    found = run("offline")
    assert ids(found) == [("printers.device_error", "warning"), ("printers.paused", "warning"),
                          ("printers.unreachable", "warning")]
    paused = one(found, "printers.paused")
    assert paused.title == "printer Bob's HP is paused"
    assert paused.evidence[0].startswith("Get-Printer: Bob's HP PrinterStatus=Paused JobCount=1")
    assert "Urlaubsantrag.pdf" in paused.evidence[1]
    assert "Where-Object Name -eq 'Bob''s HP' | Invoke-CimMethod -MethodName Resume" in paused.remediation
    off = one(found, "printers.unreachable")
    assert off.title == "printer Büro-Drucker 2.OG is offline: port:IP_192.0.2.21 (192.0.2.21)"
    assert "Test-NetConnection 192.0.2.21 -Port 9100" in off.remediation
    paper = one(found, "printers.device_error")
    assert paper.title == "printer Lager Zebra reports PaperOut" and "load paper" in paper.remediation
    assert "PrinterStatus=PaperOut" in paper.evidence[0]


def test_an_offline_printer_with_jobs_waiting_is_critical_and_a_wsd_port_is_named() -> None:
    data = copy.deepcopy(facts("offline"))
    bob = next(p for p in data["printers"]["printers"] if p["name"] == "Bob's HP")
    bob["state_reasons"] = ["offline"]
    off = [f for f in run(data) if f.check_id == "printers.unreachable" and "Bob's HP" in f.title]
    assert off and off[0].severity is Severity.CRITICAL and "WSD port" in off[0].remediation


def test_printer_models_on_windows_is_about_the_driver_name() -> None:
    found = run("default", printer_models={"Büro-Drucker 2.OG": "HP Universal", "Bob's HP": "Kyocera"})
    [raw] = [f for f in found if f.check_id == "printers.raw_queue"]
    assert raw.title == 'printer Bob\'s HP uses driver "HP LaserJet Pro M404-M405 PCL-6 (V4)"; expected "Kyocera"'
    assert "Set-Printer -Name 'Bob''s HP' -DriverName 'Kyocera'" in raw.remediation


@pytest.mark.parametrize("case", ["stuck_queue", "driver_failing", "spooler_stopped", "offline", "one_printer"])
def test_evidence_quotes_the_hosts_values(case: str) -> None:
    values = {" ".join(v.split()) for v in _strings(json.loads(fixture("printers", case))) if len(v) >= 6}
    for f in run(case):
        assert any(v in " ".join(f.evidence[0].split()) for v in values), (f.check_id, f.evidence[0])


def _strings(doc: Any) -> list[str]:
    if isinstance(doc, str):
        return [doc]
    if isinstance(doc, dict):
        return [s for v in doc.values() for s in _strings(v)]
    if isinstance(doc, list):
        return [s for v in doc for s in _strings(v)]
    return []


def test_ps_quote_doubles_single_quotes() -> None:
    assert ps_quote("Bob's HP") == "'Bob''s HP'"
