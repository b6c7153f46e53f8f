"""Mixed fleets: real sshd hosts and Windows hosts (WS-Management doubles answering rmmctl's PowerShell
probes from PowerShell 5.1 fixtures) in one inventory give one table, one JSON document, one recap.
Every test ends with no WinRM shell left open and no script the double did not know."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from referencing import Registry, Resource

from conftest import cli
from fleet import Fleet
from winfleet import PASSWORD, PASSWORD_ENV, WinFleet, add_to_inventory

CASES = {
    "win-01": {"*": "healthy"},  # a healthy office PC
    "win-02": {"printers": "stuck_queue"},  # the print server with a stuck queue
    "win-03": {"printers": "driver_failing"},  # a printer driver that fails to load
}


@pytest.fixture(scope="module")
def windows() -> Iterator[WinFleet]:
    with WinFleet(3, cases=CASES) as wf:
        yield wf


@pytest.fixture
def mixed(fleet: Fleet, windows: WinFleet, tmp_path: Path, env: dict[str, str],
          monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An inventory of fleet-01, fleet-02 and the three Windows hosts."""
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    for name, cases in CASES.items():
        windows.probes[name].cases = dict(cases)
    yield add_to_inventory(fleet.write_inventory(tmp_path / "inv.yaml", [1, 2]), windows)
    windows.check_clean()


def rmmctl(*args: str) -> tuple[int, dict[str, Any]]:
    res = cli(*args, "-o", "json")
    assert res.stdout.strip(), res.output
    return res.exit_code, json.loads(res.stdout)


SCHEMAS = Path(__file__).resolve().parents[2] / "docs" / "schemas"


def validate(doc: dict[str, Any], name: str) -> None:
    schemas = [json.loads(p.read_text()) for p in SCHEMAS.glob("*.schema.json")]
    registry = Registry().with_resources((s["$id"], Resource.from_contents(s)) for s in schemas)
    ref = {"$ref": f"https://rmmctl.dev/schemas/v1/{name}.schema.json"}
    jsonschema.Draft202012Validator(ref, registry=registry).validate(doc)


def by_name(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {h["name"]: h for h in doc["hosts"]}


def test_diagnose_printers_finds_the_stuck_queue_and_the_failing_driver_with_evidence(mixed: Path) -> None:
    code, doc = rmmctl("diagnose", "all", "-i", str(mixed), "--check", "printers")
    hosts = by_name(doc)
    assert set(hosts) == {"fleet-01", "fleet-02", "win-01", "win-02", "win-03"}
    ids = {name: {f["check_id"] for f in h["data"]["findings"]} for name, h in hosts.items()}
    assert "printers.stuck_queue" in ids["win-02"]
    assert "printers.driver_failing" in ids["win-03"]
    assert not ids["win-01"] and hosts["win-01"]["status"] == "ok"
    failing = next(f for f in hosts["win-03"]["data"]["findings"] if f["check_id"] == "printers.driver_failing")
    assert any("808" in line for line in failing["evidence"]), failing
    assert code == 5  # critical findings


def test_status_one_document_and_one_table_for_linux_and_windows(mixed: Path, windows: WinFleet) -> None:
    code, doc = rmmctl("status", "all", "-i", str(mixed))
    validate(doc, "status")
    hosts = by_name(doc)
    assert [h["status"] for h in doc["hosts"]] and set(hosts) == {"fleet-01", "fleet-02", "win-01", "win-02",
                                                                  "win-03"}
    win = hosts["win-01"]
    assert win["status"] == "ok", win["data"]["findings"]
    summary = win["data"]["summary"]
    assert summary["os"] == "Windows 10 Pro 22H2" and summary["os_short"] == "Windows 10 22H2"
    assert summary["hostname"] == "win-acc01" and summary["load"] is None and summary["updates"] == 0
    assert summary["mem_pct"] is not None and summary["worst_fs"]["mount"] == "C:"
    assert not win["data"]["errors"]
    crit = {f["check_id"] for f in hosts["win-02"]["data"]["findings"]}
    assert {"services.failed", "disk.space"} <= crit and hosts["win-02"]["status"] == "crit"
    assert hosts["fleet-01"]["status"] in ("ok", "warn", "crit")  # the sshd hosts answer in the same run
    assert code == 5
    # one probe per Windows host: one shell, one command
    assert all(p.probes[-1] == ["time", "host", "os", "uptime", "memory", "filesystems", "services", "reboot",
                                "updates", "cpu"] for p in windows.probes.values())
    res = cli("status", "all", "-i", str(mixed), env={"COLUMNS": "160"})
    table = res.stdout
    assert "win-01" in table and "fleet-01" in table and "Windows 10 22H2" in table


def test_metrics_on_windows_are_the_neutral_facts_schema(mixed: Path) -> None:
    from rmmctl.facts import json_schema

    code, doc = rmmctl("metrics", "win-01,win-02", "-i", str(mixed))
    validate(doc, "metrics")
    for host in doc["hosts"]:
        facts = host["data"]["facts"]
        jsonschema.validate(facts, json_schema([k for k in facts if k != "errors"]))
        assert facts["os"]["family"] == "windows" and not facts["errors"]
        assert facts["processes"]["top_cpu"] and facts["memory"]["total_kb"] > 0


def test_a_broken_wmi_class_is_one_unavailable_section_never_a_failed_host(mixed: Path, windows: WinFleet) -> None:
    windows.probes["win-01"].cases.update({"uptime": "wmi_broken", "cpu": "hang"})
    code, doc = rmmctl("metrics", "win-01", "-i", str(mixed))
    facts = doc["hosts"][0]["data"]["facts"]
    broken = (Path(__file__).resolve().parents[1] / "fixtures/ps/uptime/wmi_broken.fail").read_text().strip()
    assert facts["uptime"] == {"unavailable": broken}
    assert facts["cpu"]["unavailable"].startswith("timed out: ")
    assert facts["memory"]["total_kb"] > 0 and doc["hosts"][0]["status"] != "error"


def test_logs_read_the_event_log_with_the_same_filters(mixed: Path, windows: WinFleet) -> None:
    code, doc = rmmctl("logs", "win-01,fleet-01", "-i", str(mixed), "--since", "2h", "--level", "warning",
                       "--source", "System")
    validate(doc, "logs")
    hosts = by_name(doc)
    win = hosts["win-01"]["data"]
    assert win["logs"]["source"] == "eventlog" and win["entries"]
    assert all(e["level"] in ("emerg", "alert", "crit", "err", "warning") for e in win["entries"])
    sent = json.loads(windows.probes["win-01"].params[-1])
    assert sent["LOG_SOURCE"] == "System" and sent["log_level"] == "warning" and sent["since"]
    assert hosts["fleet-01"]["status"] in ("ok", "warn")  # the sshd host read its own log in the same run


def test_diagnose_one_report_and_history_and_inventory_know_the_windows_hosts(mixed: Path) -> None:
    code, doc = rmmctl("diagnose", "all", "-i", str(mixed))
    validate(doc, "diagnose")
    assert len(doc["hosts"]) == 5 and code == 5
    hosts = by_name(doc)
    assert hosts["win-01"]["status"] == "ok"
    assert "printers.stuck_queue" in {f["check_id"] for f in hosts["win-02"]["data"]["findings"]}
    code, hist = rmmctl("history", "-n", "1")
    last = hist["runs"][0]
    assert last["command"] == "diagnose" and last["hosts_total"] == 5 and last["counts"]["ok"] >= 1
    code, shown = rmmctl("history", "show", str(last["id"]))
    assert "win-02" in json.dumps(shown)
    res = cli("inventory", "list", "-i", str(mixed), "-o", "json")
    listed = {h["name"]: h for h in json.loads(res.stdout)["hosts"]}
    assert listed["win-01"]["connection"] == "winrm" and listed["win-01"]["os"] == "windows"


def test_one_play_recap_for_linux_and_windows_hosts(mixed: Path, windows: WinFleet, tmp_path: Path) -> None:
    book = tmp_path / "mixed.yaml"
    book.write_text(
        "name: both families\nhosts: all\ntasks:\n"
        "  - name: the Linux side\n    command: hostname\n    when: facts.os.family != 'windows'\n"
        "  - name: the Windows side\n    win_service: {name: W32Time, state: started}\n"
        "    when: facts.os.family == 'windows'\n")
    code, doc = rmmctl("play", str(book), "-i", str(mixed), "--yes")
    validate(doc, "play")
    hosts = by_name(doc)
    assert (doc["summary"]["hosts"], doc["summary"]["changed"], doc["summary"]["failed"]) == (5, 5, 0)
    assert set(hosts) == {"fleet-01", "fleet-02", "win-01", "win-02", "win-03"} and code == 0, doc
    for name in ("fleet-01", "fleet-02"):
        assert [t["status"] for t in hosts[name]["data"]["tasks"]] == ["changed", "skipped"]
        assert hosts[name]["data"]["recap"] == {"changed": 1, "failed": 0, "ignored": 0, "ok": 0, "skipped": 1}
    for name in ("win-01", "win-02", "win-03"):
        assert [t["status"] for t in hosts[name]["data"]["tasks"]] == ["skipped", "changed"]
        assert windows.hosts[name].model.services["W32Time"]["status"] == "Running"
