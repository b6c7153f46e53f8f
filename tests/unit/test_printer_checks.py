"""Printer checks over CUPS output captured from a real private cupsd (tests/fixtures/probes/printers)."""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cups import OFFICE, OFFICE_MODELS, STUCK_WITH_JOBS
from rmmctl.checks.base import Finding, Severity
from rmmctl.checks.catalog import CHECKS
from rmmctl.checks.printers import PRINTER_CHECKS
from rmmctl.checks.registry import run_checks
from rmmctl.errors import ConfigError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "probes" / "printers"


def _facts(case: str) -> dict[str, Any]:
    return {"printers": json.loads((FIXTURES / f"{case}.json").read_text(encoding="utf-8"))}


def _run(case: str, **host_vars: Any) -> list[Finding]:
    return run_checks(CHECKS.select(["printers"]), _facts(case), host_vars, "print-01")


def _by_printer(findings: list[Finding]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = defaultdict(set)
    for f in findings:
        name = next(n for n in OFFICE if f"printer {n} " in f.title or f"printer {n}:" in f.title)
        out[name].add(f.check_id)
    return dict(out)


def test_every_printer_check_is_registered_in_the_printers_group() -> None:
    ids = [c.id for c in CHECKS.select(["printers"])]
    assert ids == [c.id for c in PRINTER_CHECKS]
    assert set(ids) == {"printers.scheduler_down", "printers.paused", "printers.rejecting", "printers.driver_missing",
                        "printers.driver_crash", "printers.unreachable", "printers.stuck_queue", "printers.raw_queue",
                        "printers.spooler_crashing", "printers.driver_failing", "printers.device_error"}  # Windows


def test_each_broken_queue_gets_its_check_and_the_healthy_one_nothing() -> None:
    found = _by_printer(_run("cups-office", printer_models=OFFICE_MODELS))
    assert found == {name: ids for name, ids in OFFICE.items() if ids}
    assert "office-ok" not in found


def test_stuck_queue_needs_jobs_older_than_the_threshold() -> None:
    # the captured jobs are 4 s old: quiet at the default 15 min, reported at 0.05 min (3 s)
    assert not [f for f in _run("cups-office") if f.check_id == "printers.stuck_queue"]
    stuck = [f for f in _run("cups-office", printer_stuck_minutes=0.05) if f.check_id == "printers.stuck_queue"]
    assert sorted(f.title.split()[1].rstrip(":") for f in stuck) == sorted(STUCK_WITH_JOBS)
    assert all(f.severity is Severity.WARNING for f in stuck)
    assert "office-stuck-4" in next(f for f in stuck if "office-stuck" in f.title).remediation


def test_evidence_is_quoted_from_the_hosts_output() -> None:
    raw = (FIXTURES / "cups-office.txt").read_text(encoding="utf-8").replace('\\"', '"')
    for finding in _run("cups-office", printer_models=OFFICE_MODELS):
        assert finding.evidence and finding.remediation, finding
        quoted = [line for line in finding.evidence if line.split(": ", 1)[-1].split("  ")[0] in raw]
        assert quoted, (finding.check_id, finding.evidence)


def test_findings_name_the_cause_and_the_fix() -> None:
    by_id = {f.check_id + "/" + f.title.split()[1].rstrip(":"): f for f in
             _run("cups-office", printer_models=OFFICE_MODELS)}
    paused = by_id["printers.paused/office-paused"]
    assert "Paused by technician for toner change" in paused.title and paused.remediation.startswith(
        "cupsenable office-paused")
    assert by_id["printers.rejecting/office-reject"].remediation.startswith("cupsaccept office-reject")
    missing = by_id["printers.driver_missing/office-baddriver"]
    assert missing.severity is Severity.CRITICAL and "rastertoacme" in missing.title
    assert any('Unable to start filter "rastertoacme"' in e for e in missing.evidence)
    crash = by_id["printers.driver_crash/office-filterfail"]
    assert "rastertoacme" in crash.title and any("lm5000.icc" in e for e in crash.evidence)
    assert any("stopped due to filter errors" in e for e in crash.evidence)
    offline = by_id["printers.unreachable/office-offline"]
    assert offline.severity is Severity.CRITICAL and "socket://127.0.0.1:9/?contimeout=1" in offline.remediation
    assert any("Printer stopped due to backend errors" in e for e in offline.evidence)
    assert by_id["printers.unreachable/office-stuck"].severity is Severity.WARNING
    raw = by_id["printers.raw_queue/office-raw"]
    assert "Local Raw Printer" in raw.evidence[0] and "Generic PostScript" in raw.title


def test_without_the_error_log_the_cups_state_still_tells_each_problem() -> None:
    found = _by_printer(_run("cups-office-nonroot", printer_models=OFFICE_MODELS))
    assert found == {name: ids for name, ids in OFFICE.items() if ids}
    missing = next(f for f in _run("cups-office-nonroot") if f.check_id == "printers.driver_missing")
    assert "rastertoacme" in missing.title  # named from the printer's message, no log needed


def test_after_a_restart_a_queue_whose_ppd_vanished_is_raw() -> None:
    found = _by_printer(_run("cups-restarted-berlin", printer_models=OFFICE_MODELS))
    assert found["office-ok"] == {"printers.raw_queue"}
    assert "printers.paused" in found["office-paused"] and "printers.rejecting" in found["office-reject"]
    rejecting = next(f for f in _run("cups-restarted-berlin") if f.check_id == "printers.rejecting")
    assert rejecting.title.endswith("no reason given")  # cupsd forgets the -r text on restart


def test_no_scheduler_is_quiet_unless_the_host_is_a_print_server() -> None:
    assert _run("debian12") == []
    assert _run("alpine-busybox", print_server=True) == []  # no CUPS client at all: nothing to judge
    down = _run("debian12", print_server=True)
    assert [f.check_id for f in down] == ["printers.scheduler_down"] and down[0].severity is Severity.CRITICAL
    assert down[0].evidence == ("lpstat -r: scheduler is not running",)
    assert [f.check_id for f in _run("debian12", printer_models={"front": "HP"})] == ["printers.scheduler_down"]


def test_old_log_lines_do_not_raise_findings() -> None:
    facts = _facts("cups-office")
    for entry in facts["printers"]["log"]:
        entry["age_s"] = 3 * 86400
    for job in facts["printers"]["jobs"]:
        job["reasons"] = []
    found = {f.check_id for f in run_checks(CHECKS.select(["printers.driver_crash"]), facts, {}, "h")}
    assert found == set()
    found = {f.check_id for f in run_checks(CHECKS.select(["printers.driver_crash"]), facts,
                                            {"printer_log_hours": 100}, "h")}
    assert found == {"printers.driver_crash"}


@pytest.mark.parametrize("bad", [["office-ok"], {"office-ok": 3}, "office-ok"])
def test_bad_printer_models_is_a_one_line_config_error(bad: Any) -> None:
    with pytest.raises(ConfigError, match=r"vars\.printer_models must map queue names"):
        _run("cups-office", printer_models=bad)
