"""The Windows `printers` section: ps/printers.ps1 answered by the double from tests/fixtures/ps/printers
(PowerShell 5.1's shapes), parsed into the OS-neutral PrintersFacts and its `windows` detail."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest
from test_windows_probe import probe

from rmmctl.facts import json_schema
from rmmctl.probes.windows import bundle
from rmmctl.probes.windows.printers import kebab, parse_printers
from rmmctl.probes.windows.prober import ParseContext

CASES = ["default", "stuck_queue", "driver_failing", "spooler_stopped", "offline", "one_printer", "no_module"]


def printers(case: str) -> dict[str, Any]:
    facts, host = probe(["printers"], {"printers": case})
    assert host.probes == [["printers"]] and not facts.errors, facts.errors
    jsonschema.validate(facts.to_jsonable(), json_schema(["printers"]))
    return facts["printers"]


def by_name(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {i["name"]: i for i in items}


@pytest.mark.parametrize("case", CASES)
def test_every_fixture_parses_into_the_schema(case: str) -> None:
    assert printers(case)["windows"] is not None


def test_the_script_is_one_section_with_every_part_guarded() -> None:
    src = bundle.section_script("printers")
    assert src.startswith("# rmmctl-probe: printers@1\n")
    for part in ("Get-PrinterDriver", "Get-PrinterPort", "Get-PrintJob", "Microsoft-Windows-PrintService/Admin",
                 "spool\\PRINTERS", "Get-ChildItem"):
        assert part in src
    assert "Get-Command Get-Printer -ErrorAction SilentlyContinue" in src
    assert src.count("-MaxEvents") == 3 and "Id = 808, 215, 372, 99" in src and "Id = 7031, 7034" in src
    assert "??" not in src and "-AsArray" not in src and "GB" not in src


def test_a_healthy_office_with_non_ascii_and_apostrophe_names() -> None:
    p = printers("default")
    assert p["scheduler"] == {"running": True, "message": "Get-Service Spooler: Status=Running StartType=Automatic"}
    queues = by_name(p["printers"])
    assert list(queues) == ["Büro-Drucker 2.OG", "Bob's HP", "Microsoft Print to PDF"]
    buro = queues["Büro-Drucker 2.OG"]
    assert (buro["state"], buro["state_reasons"], buro["message"], buro["accepting"]) == ("idle", [], None, True)
    assert buro["device_uri"] == "port:IP_192.0.2.21 (192.0.2.21)"
    assert buro["make_and_model"] == "HP Universal Printing PCL 6" and buro["location"] == "2. OG, Raum 214"
    assert buro["is_raw"] is False and buro["ppd"] is None
    assert queues["Bob's HP"]["device_uri"] == "port:WSD-6a1f0c2e-33b1-4f8e-9a51-2b7c0d1e4f60"  # no host address
    [job] = p["jobs"]
    assert (job["id"], job["job"], job["printer"], job["state"], job["reasons"]) == (
        7, "Bob's HP-7", "Bob's HP", "processing", ["printing"])
    assert 15 <= job["age_s"] <= 40 and '"Quartalsbericht Q4.pdf" by bob' in job["line"]
    win = p["windows"]
    started = win["spooler"].pop("started")  # spoolsv.exe's start: a day ago in this fixture
    assert started is not None and started.endswith("Z")
    assert win["spooler"] == {"state": "running", "start_mode": "auto"}
    assert win["crashes"] == [] and win["driver_failures"] == [] and p["log"] == []
    drivers = by_name(win["drivers"])
    assert drivers["HP Universal Printing PCL 6"]["version"] == "61.270.1.25203"
    assert [d["isolation"] for d in win["drivers"]] == ["isolated", None, "shared"]
    assert win["spool"]["files"] == 2 and win["spool"]["bytes"] == 48640


def test_stuck_jobs_keep_their_status_flags_and_ages() -> None:
    p = printers("stuck_queue")
    jobs = {j["id"]: j for j in p["jobs"]}
    assert (jobs[14]["state"], jobs[14]["reasons"]) == ("processing-stopped", ["error", "printing"])
    assert (jobs[15]["state"], jobs[15]["reasons"]) == ("processing", ["deleting"])
    assert (jobs[3]["state"], jobs[3]["reasons"]) == ("pending", ["spooling"])
    assert 7190 <= jobs[14]["age_s"] <= 7230 and jobs[14]["user"] == "ACME\\anna"
    assert '"Lieferschein 4711 <Kopie>.docx"' in jobs[14]["line"]  # \u003c decoded
    assert by_name(p["printers"])["Büro-Drucker 2.OG"]["state"] == "stopped"
    assert p["windows"]["spool"]["files"] == 6 and p["windows"]["spool"]["oldest_age_s"] >= 7290


def test_808_names_the_dll_and_the_driver_that_ships_it() -> None:
    p = printers("driver_failing")
    win = p["windows"]
    fails = win["driver_failures"]
    assert [f["id"] for f in fails] == [808, 808, 372, 215]
    assert {(f["driver"], f["module"], f["printer"]) for f in fails if f["id"] == 808} == {
        ("Kyocera TASKalfa 3253ci KX", "kxdrvui.dll", None)}
    f372 = next(f for f in fails if f["id"] == 372)
    assert f372["printer"] == "Empfang Kyocera" and f372["module"] is None
    assert next(f for f in fails if f["id"] == 215)["driver"] == "Kyocera TASKalfa 3253ci KX"
    assert [(c["id"], c["source"]) for c in win["crashes"]] == [(7031, "Service Control Manager")] * 3 + [
        (1000, "Application Error")]
    assert [e["message"].split(":")[0] for e in p["log"]] == [
        "Service Control Manager 7031"] * 3 + ["Application Error 1000", "PrintService/Admin 808",
                                              "PrintService/Admin 808", "PrintService/Admin 372",
                                              "PrintService/Admin 215"]
    assert next(e for e in p["log"] if "372" in e["message"])["printer"] == "Empfang Kyocera"
    assert by_name(win["drivers"])["Kyocera TASKalfa 3253ci KX"]["isolation"] == "none"


def test_a_stopped_disabled_spooler_still_reports_with_nulls_for_the_rest() -> None:
    p = printers("spooler_stopped")
    assert p["scheduler"] == {"running": False, "message": "Get-Service Spooler: Status=Stopped StartType=Disabled"}
    assert p["printers"] == [] and p["jobs"] == [] and p["windows"]["drivers"] == []
    assert p["log_error"] == "The spooler service is not reachable.  Ensure the spooler service is running."
    assert p["windows"]["spooler"] == {"state": "stopped", "start_mode": "disabled", "started": None}
    assert p["windows"]["spool"] == {"files": 4, "bytes": 81920, "oldest_age_s": p["windows"]["spool"]["oldest_age_s"]}
    assert p["windows"]["spool"]["oldest_age_s"] >= 172790


def test_without_the_printmanagement_module_the_spooler_is_still_reported() -> None:
    p = printers("no_module")
    assert p["scheduler"]["running"] is True and p["windows"]["spooler"]["start_mode"] == "auto"
    assert p["printers"] == [] and p["jobs"] == [] and p["windows"]["drivers"] == []
    assert p["log_error"] == "Get-Printer is not available (no PrintManagement module)"
    assert p["windows"]["spool"] is None  # unreadable, not empty


def test_offline_paused_and_paper_out_are_stopped_with_their_reasons() -> None:
    queues = by_name(printers("offline")["printers"])
    assert {n: (q["state"], q["state_reasons"], q["message"]) for n, q in queues.items()} == {
        "Büro-Drucker 2.OG": ("stopped", ["offline"], "Offline"),
        "Bob's HP": ("stopped", ["paused"], "Paused"),
        "Lager Zebra": ("stopped", ["paper-out"], "PaperOut"),
    }
    assert queues["Lager Zebra"]["device_uri"] == "port:USB001"


def test_the_one_item_traps_null_jobs_ms_dates_and_int_enums() -> None:
    p = printers("one_printer")
    [queue] = p["printers"]
    assert queue["name"] == "Büro-Drucker 2.OG" and queue["state"] == "idle"  # PrinterStatus 0 = Normal
    assert p["jobs"] == [] and p["scheduler"]["running"] is True  # Status 4 = Running
    win = p["windows"]
    assert win["spooler"] == {"state": "running", "start_mode": "auto", "started": None}  # StartType 2 = Automatic
    [driver] = win["drivers"]
    assert driver["files"] == ["unidrv.dll"]
    [crash] = win["crashes"]
    assert crash["id"] == 7034 and "Druckwarteschlange" in crash["message"]
    assert crash["time"] is not None and 3590 <= p["log"][0]["age_s"] <= 3620  # /Date(ms)/
    [fail] = win["driver_failures"]
    assert (fail["module"], fail["driver"], fail["printer"]) == ("hpcpp270.dll", None, None)  # not its DLL
    assert 110 <= win["spool"]["oldest_age_s"] <= 140


def test_a_missing_section_script_part_is_unavailable_not_a_failed_host() -> None:
    facts, _ = probe(["host", "printers"], {"printers": "hang"})
    assert facts["printers"] == {"unavailable": "timed out: no answer within 10 s"}
    assert facts["host"]["hostname"] == "win-acc01"


def test_status_words_are_kebab_case() -> None:
    assert [kebab(w) for w in ("PaperJam", "IOActive", "Offline", "UserIntervention")] == [
        "paper-jam", "io-active", "offline", "user-intervention"]


def test_uncast_enums_and_combined_status_words() -> None:
    data = {"now": "2026-12-01T10:00:00.000Z", "spooler": {"status": "4", "start_type": "Manual"},
            "printers": [{"name": "P1", "status": "Paused, Offline", "port": "LPT1:", "jobs": 3},
                         {"name": "P2", "status": 4, "port": "IP_x", "port_host": "IP_x"},
                         {"name": "P3", "status": "TonerLow"}, {"name": "P4", "status": 11}],
            "jobs": [{"id": 1, "printer": "P1", "status": 18, "submitted": "2026-12-01T09:00:00.000Z"},
                     {"id": 2, "printer": "P1", "status": 4 | 16}, {"id": 3, "printer": "P1", "status": 1},
                     {"id": 4, "printer": "P1", "status": "Printed, Retained"}, {"id": 5, "printer": "P1", "status": 512}],
            "crashes": None, "drivers": None, "events": None, "spool": None}
    p = parse_printers(data, ParseContext(0.0, {}))
    q = by_name(p["printers"])
    assert (q["P1"]["state"], q["P1"]["state_reasons"]) == ("stopped", ["paused", "offline"])
    assert (q["P2"]["state"], q["P2"]["state_reasons"], q["P2"]["device_uri"]) == ("stopped", ["paper-jam"], "port:IP_x")
    assert (q["P3"]["state"], q["P3"]["state_reasons"]) == ("idle", ["toner-low"])
    assert q["P4"]["state"] == "processing"  # 11 = Printing
    jobs = {j["id"]: (j["state"], j["reasons"]) for j in p["jobs"]}
    assert jobs == {1: ("processing-stopped", ["error", "printing"]), 2: ("processing", ["deleting", "printing"]),
                    3: ("pending-held", ["paused"]), 5: ("processing-stopped", ["blocked"])}  # 4 is done
    assert next(j for j in p["jobs"] if j["id"] == 1)["age_s"] == 3600  # against the host's clock, not ours
    assert p["epoch"] == 1796119200 and p["windows"]["spooler"] == {"state": "running", "start_mode": "manual",
                                                                                   "started": None}
    assert p["windows"]["spool"] is None and p["log"] == []
