"""docs/diagnose.md and docs/json.md stay in step with the check registry and diagnose.schema.json;
the --list and findings renderers, and status judging with every check its sections cover."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
from referencing import Registry, Resource
from rich.console import Console

from rmmctl.checks.catalog import CHECKS
from rmmctl.health import METRICS_SECTIONS, STATUS_SECTIONS, checks_within
from rmmctl.models import HostError, HostResult, RunReport, Status
from rmmctl.docsgen import DOC_BEGIN, DOC_END, checks_markdown, main, update_doc
from rmmctl.render.diagnose import check_rows, render_findings

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "diagnose.md").read_text()
JSON_MD = (ROOT / "docs" / "json.md").read_text()
SCHEMAS = ROOT / "docs" / "schemas"
SCHEMA = json.loads((SCHEMAS / "diagnose.schema.json").read_text())


def test_docs_table_is_in_step_with_the_registry() -> None:
    rows = check_rows(CHECKS.all())
    assert update_doc(DOC, rows) == DOC, "run `python -m rmmctl.docsgen` to update docs/diagnose.md"
    table = DOC.split(DOC_BEGIN)[1].split(DOC_END)[0]
    assert [m for m in re.findall(r"^\| `([a-z0-9_.]+)` \|", table, re.MULTILINE)] == [c.id for c in CHECKS.all()]


def test_update_doc_notices_a_new_check_and_keeps_the_prose() -> None:
    rows = check_rows(CHECKS.all())
    extra = [*rows, {"id": "acme.backup_age", "title": "a | b", "details": None, "sections": ["acme"],
                     "thresholds": {"acme_hours": 26.0}, "remediation": "run it",
                     "playbooks": ["backup-verify"]}]
    updated = update_doc(DOC, extra)
    assert updated != DOC and ("| `acme.backup_age` | a \\| b | `acme` | `acme_hours` = 26 | run it | `backup-verify` |"
                               in updated)
    assert updated.split(DOC_BEGIN)[0] == DOC.split(DOC_BEGIN)[0]
    assert updated.split(DOC_END)[1] == DOC.split(DOC_END)[1]
    assert checks_markdown(rows) in DOC


def test_docsgen_main_rewrites_only_the_generated_part(tmp_path: Path) -> None:
    stale = DOC.replace("| `disk.space` |", "| `disk.space_old` |")
    target = tmp_path / "diagnose.md"
    target.write_text(stale)
    assert main([str(target)]) == 0 and target.read_text() == DOC


def test_the_docs_generator_lives_outside_render() -> None:
    import rmmctl.docsgen
    import rmmctl.render.diagnose as rd

    assert not hasattr(rd, "update_doc") and not hasattr(rd, "checks_markdown") and not hasattr(rd, "main")
    assert "rmmctl.docsgen" in DOC and "rmmctl.render.diagnose" not in DOC
    assert rmmctl.docsgen.__file__.endswith("rmmctl/docsgen.py")


def _keys(*path: str) -> set[str]:
    node: Any = SCHEMA["$defs"]
    for step in path:
        node = node[step]
    return set(node["properties"])


def test_json_md_documents_every_diagnose_key() -> None:
    section = JSON_MD.split("### `diagnose`")[1].split("## JSON Schemas")[0]
    for what in ("data", "check", "history_finding"):
        missing = sorted(k for k in _keys(what) if f"`{k}`" not in section)
        assert missing == [], f"docs/json.md (diagnose) does not document {what} keys {missing}"


def _validator(ref: str) -> jsonschema.Draft202012Validator:
    schemas = [json.loads(p.read_text()) for p in SCHEMAS.glob("*.schema.json")]
    registry = Registry().with_resources((s["$id"], Resource.from_contents(s)) for s in schemas)
    return jsonschema.Draft202012Validator({"$ref": f"https://rmmctl.dev/schemas/v1/{ref}"}, registry=registry)


def test_json_md_example_host_validates_and_a_stray_key_does_not() -> None:
    block = JSON_MD.split("### `diagnose`")[1].split("```json\n")[1].split("```")[0]
    host = json.loads(block)
    validator = _validator("diagnose.schema.json#/$defs/host")
    validator.validate(host)
    host["data"]["extra"] = 1
    assert not validator.is_valid(host)


def test_list_rows_validate() -> None:
    doc = {"schema": "rmmctl/v1", "command": "diagnose --list", "checks": check_rows(CHECKS.all())}
    _validator("diagnose.schema.json#/$defs/check_list").validate(json.loads(json.dumps(doc)))


def render(report: RunReport) -> str:
    console = Console(file=io.StringIO(), width=120, color_system=None)
    render_findings(console, report)
    return console.file.getvalue()  # type: ignore[attr-defined]


def test_findings_table_groups_hosts_and_shows_evidence_and_fix() -> None:
    crit = {"check_id": "disk.space", "severity": "critical", "title": "filesystem / is 99% full",
            "evidence": ["/dev/sda1 /: 99%"], "remediation": "free space", "playbook": "disk-cleanup"}
    warn = {**crit, "check_id": "reboot.required", "severity": "warning", "title": "a reboot is required",
            "evidence": [], "playbook": None, "remediation": "reboot"}
    hosts = (HostResult("web", "a", Status.CRIT, data={"findings": [crit, warn], "checks": ["x"], "errors": {}}),
             HostResult("ok1", "b", Status.OK, data={"findings": [], "checks": ["x", "y"], "errors": {}}),
             HostResult("down", "c", Status.UNREACHABLE, HostError("connect", "refused \x1b[31m")))
    out = render(RunReport("diagnose", 0, 1.0, hosts))
    assert out.splitlines()[:5] == [
        "web crit 1 critical, 1 warning",
        "  CRITICAL disk.space  filesystem / is 99% full",
        "      > /dev/sda1 /: 99%",
        "      fix: free space (playbook: disk-cleanup)",
        "  WARNING  reboot.required  a reboot is required",
    ]
    assert "ok1 ok no findings (2 checks)" in out
    assert "down unreachable connect: refused \\x1b[31m" in out  # remote text cannot drive the terminal
    assert "3 hosts: 1 ok, 1 crit, 1 unreachable" in out


def test_status_and_metrics_judge_with_every_check_their_sections_cover() -> None:
    status = {c.id for c in checks_within(STATUS_SECTIONS)}
    assert {"disk.space", "cpu.load", "time.skew", "probe.incomplete"} <= status
    for check in CHECKS.all():
        assert (check.id in status) == set(check.sections).issubset(STATUS_SECTIONS)
    assert status <= {c.id for c in checks_within(METRICS_SECTIONS)}
