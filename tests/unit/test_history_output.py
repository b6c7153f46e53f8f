"""`rmmctl history` for people and scripts: local times with the zone in tables, one ISO format in JSON
(formats.iso_utc, whatever the store keeps), and no `None` for a run that has not finished."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from rmmctl.cli import app
from rmmctl.models import AuditEntry, HostResult, RunReport, Status
from rmmctl.store import Store

T0 = 1_714_564_800.1234  # 2024-05-01T12:00:00.123Z = 14:00:00 CEST
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


@pytest.fixture
def berlin(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("TZ", "Europe/Berlin")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """One finished diagnose run with a finding and an audit row, then one run still going."""
    path = tmp_path / "h.db"
    now = [T0]
    with Store.open(path, clock=lambda: now[0]) as store:
        done = store.begin_run("diagnose", ["diagnose", "web01"])
        audit = (AuditEntry("web01", "exec", "sh -s", 0, 0.25, T0),)
        result = HostResult("web01", "192.0.2.1", Status.WARN, audit=audit, duration_s=0.5)
        store.add_host_result(done, result)
        store.record_findings(done, "web01", ["reboot.required"], [
            {"check_id": "reboot.required", "key": "reboot.required:r", "severity": "warning",
             "title": "a reboot is required", "evidence": ["linux-image"], "remediation": "reboot"}])
        now[0] = T0 + 1.5
        store.finish_run(done, RunReport("diagnose", T0, 1.5, (result,)), 4)
        now[0] = T0 + 60
        store.begin_run("status", ["status"])
    return path


def cli(db: Path, *args: str) -> Any:
    result = CliRunner().invoke(app, ["history", *args, "--db", str(db)], env={"COLUMNS": "160"})
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == 0, result.output
    return result


def iso_values(doc: Any) -> list[str]:
    """Every string in the document that looks like a timestamp."""
    if isinstance(doc, dict):
        return [v for x in doc.values() for v in iso_values(x)]
    if isinstance(doc, list):
        return [v for x in doc for v in iso_values(x)]
    return [doc] if isinstance(doc, str) and re.match(r"^\d{4}-\d\d-\d\d[T ]\d\d:", doc) else []


def test_runs_table_says_running_and_never_none(db: Path, berlin: None) -> None:
    out = cli(db, "runs").stdout
    running = next(line for line in out.splitlines() if "rmmctl status" in line)
    assert "running" in running and "None" not in out and "0.00s" not in running
    assert re.search(r"│ 2 +│ 2024-05-01 14:01:00 CEST │ rmmctl status +│ - +│ running +│ - +│ - +│", running), running
    finished = next(line for line in out.splitlines() if "rmmctl diagnose" in line)
    assert "2024-05-01 14:00:00 CEST" in finished and "1 warn" in finished and "1.50s" in finished


def test_every_timestamp_in_history_json_has_one_format(db: Path) -> None:
    docs = [json.loads(cli(db, *args, "--json").stdout) for args in (["runs"], ["show", "1"], ["audit"], ["findings"])]
    stamps = [v for doc in docs for v in iso_values(doc)]
    assert len(stamps) >= 8 and all(ISO.match(v) for v in stamps), stamps
    runs = docs[0]["runs"]
    assert runs[1]["started_at"] == "2024-05-01T12:00:00.123Z" and runs[1]["finished_at"] == "2024-05-01T12:00:01.623Z"
    assert runs[0]["finished_at"] is None and runs[0]["exit_code"] is None  # raw null for scripts, "-" for people
    [finding] = docs[3]["findings"]
    assert finding["first_seen"] == finding["last_seen"] == "2024-05-01T12:00:00.123Z"
    assert docs[2]["audit"][0]["at"] == "2024-05-01T12:00:00.123Z"


def test_show_audit_and_findings_tables_use_local_time(db: Path, berlin: None) -> None:
    show = cli(db, "show", "1").stdout
    assert show.splitlines()[0] == "run 1: diagnose at 2024-05-01 14:00:00 CEST: 1 warn, exit 4"
    assert "2024-05-01 14:00:00 CEST" in cli(db, "audit").stdout
    findings = cli(db, "findings").stdout
    assert "2024-05-01 14:00:00 CEST" in findings and "T12:00" not in findings and "None" not in findings


def test_history_findings_json_validates_against_its_schema(db: Path) -> None:
    import jsonschema
    from referencing import Registry, Resource

    schemas = [json.loads(p.read_text()) for p in (Path(__file__).resolve().parents[2] / "docs" / "schemas").glob("*.json")]
    registry = Registry().with_resources((s["$id"], Resource.from_contents(s)) for s in schemas)
    ref = {"$ref": "https://rmmctl.dev/schemas/v1/diagnose.schema.json#/$defs/history_findings"}
    doc = json.loads(cli(db, "findings", "--json").stdout)
    jsonschema.Draft202012Validator(ref, registry=registry).validate(doc)
