"""Printer checks against a real private cupsd, reached from real sshd hosts (docs/architecture.md).

print-01  its /run/cups/cups.sock is the private cupsd's socket and /var/log/cups its log directory, so
          plain `lpstat` on that host sees the office queues of tests/cups.py: one per broken state
          and the healthy office-ok (inventory printer_models names the model office-raw should have)
print-02  no scheduler, inventory var print_server: true (printers.scheduler_down)
print-03  no scheduler and not a print server: nothing to report
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from conftest import require_fleet
from cups import OFFICE, OFFICE_MODELS, STUCK_WITH_JOBS, CupsServer, build_office, cups_missing
from fleet import FixtureSpec, Fleet
from rmmctl.checks.catalog import CHECKS
from rmmctl.checks.registry import run_checks
from rmmctl.cli import app
from rmmctl.probes import linux
from rmmctl.probes.linux import bundle
from rmmctl.transports import TransportOptions
from rmmctl.transports.ssh import SSHTransport

QUIET = {"loadavg": "0.12 0.08 0.05 1/180 4242\n"}


def _require_cups() -> None:
    reason = cups_missing()
    if reason and os.environ.get("CI"):
        pytest.fail(f"private cupsd unavailable in CI: {reason}", pytrace=False)
    if reason:
        pytest.skip(f"private cupsd unavailable: {reason}")


@pytest.fixture(scope="module")
def office(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Fleet, Path, CupsServer]]:
    """The private cupsd with the office queues, three fleet hosts and an inventory for them."""
    require_fleet()
    _require_cups()
    work = tmp_path_factory.mktemp("print")
    with CupsServer() as cups, Fleet(work / "fleet", prefix="print") as fleet:
        cups.start()  # the socket must exist before print-01 bind-mounts it
        print01 = FixtureSpec(run={"cups/.keep": ""}, log={"cups/.keep": ""}, proc=QUIET,
                              binds={"/run/cups/cups.sock": str(cups.socket), "/var/log/cups": str(cups.log_dir)})
        fleet.start(3, {"print-01": print01, "print-02": FixtureSpec(proc=QUIET), "print-03": FixtureSpec(proc=QUIET)})
        build_office(cups)
        inv = fleet.write_inventory(work / "inventory.yaml")
        doc = yaml.safe_load(inv.read_text())
        doc["hosts"]["print-01"]["vars"] = {"printer_models": OFFICE_MODELS}
        doc["hosts"]["print-02"]["vars"] = {"print_server": True}
        inv.write_text(yaml.safe_dump(doc, sort_keys=False))
        yield fleet, inv, cups


def _probe(fleet: Fleet, i: int, tmp: Path) -> Any:
    (tmp / "empty").write_text("")
    options = TransportOptions(connect_timeout=5.0, command_timeout=30.0, known_hosts=(fleet.known_hosts,),
                               user_known_hosts=tmp / "empty", ssh_config=tmp / "empty")
    transport = SSHTransport(fleet.inventory_host(i), options)
    try:
        nonce = bundle.new_nonce()
        started = time.time()
        result = transport.run(bundle.COMMAND, stdin=bundle.build_script(["printers"], nonce=nonce))
    finally:
        transport.close()
    return linux.parse_output(result.stdout, nonce, ["printers"], controller_time=started)


def _by_printer(findings: list[dict[str, Any]]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for f in findings:
        name = next(n for n in OFFICE if f"printer {n} " in f["title"] or f"printer {n}:" in f["title"])
        out.setdefault(name, set()).add(f["check_id"])
    return out


def test_probe_over_ssh_sees_the_private_cupsd_through_the_hosts_own_socket(
        office: tuple[Fleet, Path, CupsServer], env: dict[str, str], tmp_path: Path) -> None:
    fleet, _, _ = office
    facts = _probe(fleet, 1, tmp_path)
    assert facts.errors == {}
    cups = facts["printers"]
    assert cups["scheduler"]["running"] is True and cups["log_error"] is None
    assert sorted(p["name"] for p in cups["printers"]) == sorted(OFFICE)
    states = {j["printer"]: j["state"] for j in cups["jobs"] if j["state"] != "pending-held"}
    assert states["office-filterfail"] == "processing-stopped" and states["office-stuck"] == "processing"
    assert any("Printer stopped due to backend errors" in e["message"] for e in cups["log"])
    findings = run_checks(CHECKS.select(["printers"]), facts, {"printer_models": OFFICE_MODELS}, "print-01")
    assert _by_printer([f.to_dict() for f in findings]) == {n: ids for n, ids in OFFICE.items() if ids}
    # the same probe on a host without a CUPS socket: the machine's own (absent) scheduler
    assert _probe(fleet, 3, tmp_path)["printers"]["scheduler"] == {"running": False, "message": "scheduler is not running"}


def test_diagnose_reports_each_broken_printer_and_nothing_for_office_ok(
        office: tuple[Fleet, Path, CupsServer], env: dict[str, str]) -> None:
    _, inv, _ = office
    result = CliRunner().invoke(app, ["diagnose", "--check", "printers", "-i", str(inv), "--json"])
    assert result.exit_code == 5, result.output  # critical findings (driver, unreachable, scheduler)
    hosts = {h["name"]: h for h in json.loads(result.stdout)["hosts"]}
    findings = hosts["print-01"]["data"]["findings"]
    assert _by_printer(findings) == {n: ids for n, ids in OFFICE.items() if ids}
    assert not [f for f in findings if f["title"].startswith(("printer office-ok ", "printer office-ok:"))]
    assert all(f["evidence"] and f["remediation"] for f in findings)
    paused = next(f for f in findings if f["check_id"] == "printers.paused")
    assert "Paused by technician for toner change" in paused["title"]
    assert paused["remediation"].startswith("cupsenable office-paused")
    missing = next(f for f in findings if f["check_id"] == "printers.driver_missing")
    assert "rastertoacme" in missing["title"]
    assert [f["check_id"] for f in hosts["print-02"]["data"]["findings"]] == ["printers.scheduler_down"]
    assert hosts["print-03"]["data"]["findings"] == [] and hosts["print-03"]["status"] == "ok"


def test_stuck_queue_once_jobs_are_older_than_printer_stuck_minutes(
        office: tuple[Fleet, Path, CupsServer], env: dict[str, str], tmp_path: Path) -> None:
    _, inv, _ = office
    doc = yaml.safe_load(inv.read_text())
    doc["hosts"]["print-01"]["vars"]["printer_stuck_minutes"] = 0.01  # 0.6 s: the jobs are seconds old
    stuck_inv = tmp_path / "inventory.yaml"
    doc["known_hosts"] = str((inv.parent / doc["known_hosts"]).resolve())
    stuck_inv.write_text(yaml.safe_dump(doc, sort_keys=False))
    result = CliRunner().invoke(app, ["diagnose", "print-01", "--check", "printers.stuck_queue", "-i", str(stuck_inv),
                                      "--json"])
    [host] = json.loads(result.stdout)["hosts"]
    stuck = sorted(f["title"].split()[1].rstrip(":") for f in host["data"]["findings"])
    assert stuck == sorted(STUCK_WITH_JOBS) and result.exit_code == 4
