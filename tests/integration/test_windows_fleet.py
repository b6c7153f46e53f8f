"""Mixed fleets: real sshd hosts and Windows hosts (WS-Management doubles answering rmmctl's PowerShell
probes from PowerShell 5.1 fixtures) in one inventory give one table, one JSON document, one recap.
Every test ends with no WinRM shell left open and no script the double did not know."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import cli
from fleet import Fleet
from winfleet import PASSWORD, PASSWORD_ENV, WinFleet, add_to_inventory

CASES = {
    "win-01": {},  # a healthy office PC
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
