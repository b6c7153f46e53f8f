"""The printers section parser: details the captured fixtures (tests/fixtures/probes/printers) pin less directly."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from rmmctl.probes import linux
from rmmctl.probes.linux import bundle
from rmmctl.probes.linux.printers import parse_jobs, parse_options, parse_printers

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "probes" / "printers"


def _parse(case: str) -> dict:
    return parse_printers((FIXTURES / f"{case}.txt").read_text(encoding="utf-8"))


def test_lpoptions_line_is_shell_quoted_and_a_bare_key_is_empty() -> None:
    line = ("device-uri=file:/dev/null printer-info='Front office laser' printer-location "
            "printer-make-and-model='Acme \"Laser\" 5000' printer-state=5")
    assert parse_options(line) == {"device-uri": "file:/dev/null", "printer-info": "Front office laser",
                                   "printer-location": "", "printer-make-and-model": 'Acme "Laser" 5000',
                                   "printer-state": "5"}


def test_job_times_use_the_hosts_utc_offset() -> None:
    berlin = _parse("cups-restarted-berlin")
    utc = _parse("cups-office")
    assert "Sun Nov 22 05:37:36 2026" in berlin["jobs"][0]["line"]  # lpstat prints local time
    assert berlin["jobs"][0]["submitted"] == utc["jobs"][0]["submitted"] == "2026-11-22T04:37:36.000Z"
    assert berlin["jobs"][0]["age_s"] == berlin["epoch"] - 1795322256


def test_true_job_states_come_from_ipptool_and_stay_null_without_it() -> None:
    text = (FIXTURES / "cups-office.txt").read_text(encoding="utf-8")
    head, _, rest = text.partition("@@part ipp\n")
    without = parse_printers(head + rest.partition("@@end ipp 0\n")[2])
    assert {j["state"] for j in without["jobs"]} == {None}
    states = {j["job"]: j["state"] for j in _parse("cups-office")["jobs"]}
    assert states["office-filterfail-6"] == "processing-stopped" and states["office-paused-8"] == "pending-held"


def test_lpstat_detail_lines_fill_reasons_and_messages() -> None:
    jobs = parse_jobs("office-x-7  alice  2048   Mon Jan  5 09:03:04 2026\n\tStatus: Ready, printing\n"
                      "\tAlerts: job-printing job-completed-with-errors\n\tqueued for office-y\n", "+0000", None)
    assert jobs == [{"id": 7, "job": "office-x-7", "printer": "office-y", "user": "alice", "size": 2048,
                     "line": "office-x-7  alice  2048   Mon Jan  5 09:03:04 2026",
                     "submitted": "2026-01-05T09:03:04.000Z", "age_s": None, "state": None,
                     "reasons": ["job-printing", "job-completed-with-errors"], "message": "Ready, printing"}]


def test_log_lines_are_tied_to_printers_through_jobs_names_and_uris() -> None:
    log = {(e["printer"], e["job"], e["level"]) for e in _parse("cups-office")["log"]}
    assert ("office-filterfail", 6, "debug") in log  # the filter's exit status line
    assert ("office-offline", 1, "info") in log  # "Printer stopped due to backend errors"
    assert ("office-baddriver", None, "err") in log
    body = ("epoch=100\n@@part scheduler\nscheduler is running\n@@end scheduler 0\n@@part log\n"
            "E [22/Nov/2026:01:47:07 +0100] [Client 19] Returning IPP server-error-not-accepting-jobs for "
            "Create-Job (ipp://localhost:631/printers/office-reject) from localhost.\n"
            "E [22/Nov/2026:01:47:07 +0000] [cups-deviced] PID 9 (driverless) stopped with status 2!\n@@end log 0\n")
    entries = parse_printers(body)["log"]
    assert [(e["printer"], e["time"]) for e in entries] == [("office-reject", "2026-11-22T00:47:07.000Z"),
                                                           (None, "2026-11-22T01:47:07.000Z")]


def test_an_unreadable_error_log_is_reported_not_fatal() -> None:
    facts = _parse("cups-office-nonroot")
    assert facts["log"] == [] and "not readable" in facts["log_error"]
    assert len(facts["printers"]) == 8 and facts["scheduler"]["running"] is True


def test_the_section_runs_without_cups_here_and_reports_the_scheduler() -> None:
    nonce = bundle.new_nonce()
    script = bundle.build_script(["printers"], nonce=nonce)
    env = {"PATH": "/usr/bin:/bin", "CUPS_SERVER": "/nonexistent/cups.sock"}
    out = subprocess.run(["sh", "-s"], input=script, capture_output=True, text=True, env=env, timeout=30,
                         check=False).stdout
    facts = linux.parse_output(out, nonce, ["printers"], controller_time=0.0)
    assert facts.errors == {}
    expected = json.loads((FIXTURES / "debian12.json").read_text())
    assert facts["printers"]["scheduler"] == expected["scheduler"] == {"running": False,
                                                                       "message": "scheduler is not running"}
