"""`rmmctl report` from a history written through the store's own methods on a fixed clock: the period,
the health scores, findings with what fixed them, plays, trends (SVG), updates, backups, outages; the
HTML is self-contained, the Markdown escapes its cells, the JSON matches docs/schemas/report.schema.json."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from conftest import cli
from rmmctl.errors import ConfigError, UsageError
from rmmctl.models import HostError, HostResult, RunReport, Status
from rmmctl.render import report as render
from rmmctl.report import Branding, Period, branding_from, build_report, parse_period, score
from rmmctl.store import open_store
from rmmctl.trends import DAY_S

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "docs" / "schemas" / "report.schema.json").read_text())
T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z
EXTERNAL = re.compile(r"""(?:\b(?:src|href|xlink:href|action|poster|data)\s*=\s*["']?\s*(?:https?:|//|file:))"""
                      r"""|url\(\s*["']?\s*(?:https?:|//)|@import|<script|<link\b""", re.IGNORECASE)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def finding(check: str, severity: str, title: str, evidence: list[str] | None = None) -> dict[str, Any]:
    return {"check_id": check, "key": f"{check}:{title}", "severity": severity, "title": title,
            "evidence": evidence or [f"seen: {title}"], "remediation": f"fix {check}"}


def host(name: str, status: Status = Status.OK, data: dict[str, Any] | None = None, error: str | None = None,
         samples: dict[str, float] | None = None) -> HostResult:
    return HostResult(name, "192.0.2.1", status, HostError("connect", error) if error else None, data or {},
                      samples=samples or {})


def one_run(store: Any, clock: Clock, at: float, command: str, hosts: list[tuple[HostResult, Any]],
            playbook: str | None = None, tasks: dict[str, list[dict[str, Any]]] | None = None) -> int:
    clock.now = at
    run_id = store.begin_run(command, [command], **({"playbook": playbook} if playbook else {}))
    for result, found in hosts:
        extra = {"tasks": tasks[result.name]} if tasks and result.name in tasks else {}
        store.add_host_result(run_id, result, findings=found, **extra)
    store.finish_run(run_id, RunReport(command, at, 1.0, tuple(r for r, _ in hosts)), 0)
    return run_id


def disk(pct: float, mem: float = 40.0) -> dict[str, float]:
    return {"disk./.used_pct": pct, "disk./srv.used_pct": 20.0, "memory.used_pct": mem, "updates.pending": 3,
            "updates.security": 1, "reboot.required": 1.0}


@pytest.fixture
def history(tmp_path: Path) -> Path:
    """web1: disk filling, a warning fixed by a play; db1: unreachable for two days, a critical backup
    finding still open; app1: an updates warning resolved by `diagnose --fix`."""
    db, clock = tmp_path / "h.db", Clock()
    with open_store(db, clock=clock) as s:
        d = DAY_S
        status = lambda n, pct: (host(n, data={"findings": []}, samples=disk(pct)), None)  # noqa: E731
        down = (host("db1", Status.UNREACHABLE, error="connect to 192.0.2.1:22: timed out"), None)
        one_run(s, clock, T0, "status", [status("web1", 50), down])
        one_run(s, clock, T0 + d, "status", [status("web1", 60), down])
        disk_warn = finding("disk.usage", "warning", "filesystem / is 60% full", ["/ 60% used of 10G"])
        backup = finding("backup.age", "critical", "backup /srv/backups is 3 days old")
        updates = finding("updates.pending", "warning", "3 update(s) pending")
        one_run(s, clock, T0 + 2 * d, "diagnose", [
            (host("web1", Status.WARN), (["disk.usage"], [disk_warn])),
            (host("db1", Status.CRIT), (["backup.age"], [backup])),
            (host("app1", Status.WARN), (["updates.pending"], [updates]))])
        tasks = [{"index": 0, "name": "clean", "module": "cleanup", "status": "changed", "changed": True,
                  "message": "removed 3 files", "duration_s": 0.2},
                 {"index": 1, "name": "verify backups", "module": "backup_verify", "status": "failed",
                  "message": "newest backup is 3 days old", "duration_s": 0.1}]
        one_run(s, clock, T0 + 3 * d, "play", [(host("web1", Status.CHANGED,
                                                     data={"recap": {"ok": 0, "changed": 1, "failed": 1}}), None)],
                playbook="/srv/playbooks/disk-cleanup.yaml", tasks={"web1": tasks})
        one_run(s, clock, T0 + 3.1 * d, "diagnose", [(host("web1"), (["disk.usage"], []))])
        one_run(s, clock, T0 + 4 * d, "status", [status("web1", 70), (host("db1", data={"findings": []},
                                                                         samples=disk(30)), None)])
        clock.now = T0 + 5 * d
        fix = s.begin_run("fix", ["diagnose", "--fix"])
        s.record_findings(fix, "app1", ["updates.pending"], [updates])
        s.add_host_result(fix, host("app1", data={"findings": [], "fix": {"before": [], "plays": [
            {"playbook": "security-updates", "mode": "run", "status": "changed", "recap": {}}]}}),
            findings=(["updates.pending"], []))
        s.finish_run(fix, RunReport("fix", clock.now, 1.0, (host("app1"),)), 0)
    return db


PERIOD = Period(T0 - DAY_S, T0 + 10 * DAY_S, "test period")


def doc_of(db: Path, hosts: list[str] | None = None) -> dict[str, Any]:
    with open_store(db) as s:
        return build_report(s, hosts, PERIOD, now=T0 + 10 * DAY_S)


def test_scores_follow_the_documented_formula(history: Path) -> None:
    doc = doc_of(history)
    jsonschema.Draft202012Validator(SCHEMA).validate(doc)
    hosts = {h["name"]: h for h in doc["hosts"]}
    assert list(hosts) == ["web1", "db1", "app1"]
    assert hosts["web1"]["score"] == 100 and hosts["web1"]["grade"] == "good"
    # db1: the critical backup finding is still open (-25); 2 of its 4 runs could not reach it (-30 x 2/4)
    assert (hosts["db1"]["score"], hosts["db1"]["grade"]) == (60, "poor")
    assert hosts["db1"]["open_findings"] == {"critical": 1, "warning": 0, "info": 0}
    assert [p["points"] for p in hosts["db1"]["penalties"]] == [25, 15.0]
    assert hosts["app1"]["score"] == 100  # fixed by diagnose --fix
    assert score({"critical": 5}, 1, 1) == 0 and score({}, 0, 0) is None  # clamped; no run: no score
    summary = doc["summary"]
    assert (summary["hosts"], summary["findings_opened"], summary["findings_resolved"]) == (3, 3, 2)
    assert (summary["unreachable_hosts"], summary["average_score"]) == (1, 86.7)


def test_findings_say_what_fixed_them(history: Path) -> None:
    found = {f["check_id"]: f for f in doc_of(history)["findings"]}
    assert found["disk.usage"]["resolution"]["how"] == "play"  # the play ran between last seen and resolved
    assert found["disk.usage"]["resolution"]["playbooks"] == ["disk-cleanup"]
    assert found["updates.pending"]["resolution"] == {
        "how": "fix", "run_id": 7, "at": "2026-01-06T00:00:00.000Z", "playbooks": ["security-updates"],
        "text": "rmmctl diagnose --fix (run 7): security-updates"}
    assert found["backup.age"]["open_at_end"] and found["backup.age"]["resolution"] is None
    assert found["disk.usage"]["evidence"] == ["/ 60% used of 10G"]


def test_outages_plays_trends_updates_backups(history: Path) -> None:
    doc = doc_of(history)
    [outage] = doc["unreachable"]
    assert outage == {"host": "db1", "from": "2026-01-01T00:00:00.000Z", "to": "2026-01-03T00:00:00.000Z",
                      "duration_s": 2 * DAY_S, "runs": 2, "ongoing": False, "error": "connect to 192.0.2.1:22: timed out"}
    [play] = doc["maintenance"]
    assert play["playbook"] == "disk-cleanup" and play["hosts"][0]["failed_tasks"] == [
        "verify backups: newest backup is 3 days old"]
    root = next(t for t in doc["trends"] if t["host"] == "web1" and t["label"] == "/")
    assert [v for _, v in root["points"]] == [50, 60, 70]
    # least squares over (0 d, 50), (1 d, 60), (4 d, 70): 40 / (78/9) = 4.615 points a day, full in 30 / that
    assert root["slope_per_day"] == pytest.approx(4.615) and root["full_in_days"] == pytest.approx(6.5)
    assert {u["host"]: (u["pending"], u["security"], u["reboot_required"]) for u in doc["updates"]} == {
        "web1": (3, 1, True), "db1": (3, 1, True)}
    assert {(b["host"], b["source"], b["result"]) for b in doc["backups"]} == {
        ("web1", "backup_verify", "failed"), ("db1", "backup.age", "critical")}


def test_html_is_self_contained_with_svg_charts(history: Path) -> None:
    doc = doc_of(history)
    page = render.html(doc, Branding("Example MSP", "data:image/png;base64,iVBORw0KGgo=", "logo.png"))
    assert not EXTERNAL.search(page), EXTERNAL.search(page)
    assert page.count("<svg") == 4  # web1 and db1: a disk and a memory chart each; app1 has no samples
    assert re.search(r'<polyline class="series" data-metric="disk\./\.used_pct"[^>]* points="[\d., ]+"', page)
    assert "full in 6.5 days" in page and "page-break-before: always" in page and "@media print" in page
    for name in ("web1", "db1", "app1"):
        assert f'<tr data-host="{name}">' in page
    assert '<span class="score poor">60</span>' in page
    assert 'src="data:image/png;base64,iVBORw0KGgo="' in page


def test_html_escapes_what_hosts_wrote(history: Path) -> None:
    doc = doc_of(history)
    doc["findings"][0]["title"] = "<script>alert(1)</script>"
    doc["trends"][0]["label"] = "</svg><img src=x>"
    page = render.html(doc)
    assert "<script>alert" not in page and "&lt;script&gt;" in page and "<img src=x>" not in page


def test_markdown_for_tickets(history: Path) -> None:
    doc = doc_of(history)
    doc["findings"][0]["evidence"] = ["a | b"]
    text = render.markdown(doc)
    assert "| db1 | 60 | poor |" in text
    assert "a \\| b" in text and "rmmctl diagnose --fix (run 7): security-updates" in text
    assert "## Unreachable hosts" in text and "2.0 days" in text


def test_hosts_without_history_are_listed_without_score(history: Path) -> None:
    doc = doc_of(history, ["web1", "new01"])
    assert [(h["name"], h["score"], h["grade"]) for h in doc["hosts"]] == [("web1", 100, "good"),
                                                                           ("new01", None, "no data")]
    assert {f["host"] for f in doc["findings"]} == {"web1"}


def test_periods() -> None:
    now = T0 + 0.5 * DAY_S
    assert parse_period("7d", now) == Period(now - 7 * DAY_S, now, "last 7 days")
    assert parse_period("2w", now).start == now - 14 * DAY_S
    may = parse_period("2026-05", now)
    assert (may.label, may.days) == ("May 2026", 31)
    assert parse_period("2026-12", now).end - parse_period("2026-12", now).start == 31 * DAY_S
    for bad in ("0d", "30", "2026-13", "yesterday", "99999d", "9999-12", "1969-12"):
        with pytest.raises(UsageError, match="--period"):
            parse_period(bad, now)


def test_logo_is_inlined_and_capped(tmp_path: Path) -> None:
    logo = tmp_path / "logo.png"
    logo.write_bytes(b"\x89PNG\r\n\x1a\n")
    brand = branding_from("Example MSP", logo)
    assert brand.logo_data_uri == "data:image/png;base64,iVBORw0KGgo=" and brand.msp_name == "Example MSP"
    big = tmp_path / "big.png"
    big.write_bytes(b"0" * (300 * 1024))
    with pytest.raises(ConfigError, match="256 KiB"):
        branding_from(None, big)
    with pytest.raises(ConfigError, match="unknown image type"):
        branding_from(None, tmp_path / "logo.bmp")
    with pytest.raises(ConfigError, match="No such file"):
        branding_from(None, tmp_path / "missing.png")


def test_cli_writes_each_format(history: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RMMCTL_DB", str(history))
    for suffix in ("html", "md", "json"):
        out = tmp_path / f"r.{suffix}"
        result = cli("report", "--period", "2026-01", "--msp-name", "Example MSP", "--out", str(out))
        assert result.exit_code == 0, result.output
        assert "web1" in out.read_text()
    doc = json.loads((tmp_path / "r.json").read_text())
    jsonschema.Draft202012Validator(SCHEMA).validate(doc)
    assert doc["period"]["label"] == "January 2026" and doc["msp"]["name"] == "Example MSP"
    result = cli("report", "--period", "2026-01", "-o", "json")  # stdout
    assert json.loads(result.stdout)["summary"]["hosts"] == 3


def test_pdf_without_chromium_says_how_to_get_one(history: Path, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RMMCTL_DB", str(history))
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing on PATH
    result = cli("report", "-o", "pdf", "--out", str(tmp_path / "r.pdf"))
    assert result.exit_code == 3
    assert "apt-get install chromium" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    result = cli("report", "-o", "pdf", "--out", str(tmp_path / "r.pdf"), "--chromium", str(tmp_path / "nope"))
    assert result.exit_code == 3 and "--chromium" in result.stderr
    assert not (tmp_path / "r.pdf").exists()


def test_common_options_before_the_command_and_the_format_from_the_suffix(history: Path, tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RMMCTL_DB", raising=False)
    result = cli("--db", str(history), "--json", "report", "--period", "2026-01")  # `rmmctl --json report`
    assert result.exit_code == 0 and json.loads(result.stdout)["command"] == "report"
    result = cli("report", "--db", str(history), "--period", "2026-01", "-o", "table")
    assert result.exit_code == 2  # report's own formats: html, md, json, pdf
    out = tmp_path / "r.md"
    assert cli("report", "--db", str(history), "--period", "2026-01", "--out", str(out)).exit_code == 0
    assert out.read_text().startswith("# All hosts: report for January 2026")


def test_period_reads_are_half_open(history: Path) -> None:
    with open_store(history) as s:
        assert [r["command"] for r in s.runs_between(T0, T0 + DAY_S)] == ["status"]  # T0 in, T0 + 1 d out
        assert [r["id"] for r in s.runs_between(T0 + DAY_S, T0 + 2 * DAY_S + 1, command="diagnose")] == [3]
        rows = s.host_results_between(T0, T0 + 1, host="db1")
        assert [(r["command"], r["status"], r["error_message"]) for r in rows] == [
            ("status", "unreachable", "connect to 192.0.2.1:22: timed out")]
        # resolved at T0 + 3.1 d: open during [T0 + 3 d, ...), not during [T0 + 3.2 d, ...)
        assert "disk.usage" in {f["check_id"] for f in s.findings_between(T0 + 3 * DAY_S, T0 + 3.05 * DAY_S)}
        assert "disk.usage" not in {f["check_id"] for f in s.findings_between(T0 + 3.2 * DAY_S, T0 + 9 * DAY_S)}
        assert s.findings_between(T0 - 2 * DAY_S, T0 - DAY_S) == []  # nothing seen before T0


def test_branding_and_the_contact_come_from_the_config_file_when_no_option_says(tmp_path: Path,
                                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from rmmctl.cli import app

    cfg = tmp_path / "config.yaml"
    cfg.write_text("report:\n  msp_name: Acme IT Services\n")
    monkeypatch.setenv("RMMCTL_DB", str(tmp_path / "h.db"))
    out = tmp_path / "r.html"
    res = CliRunner().invoke(app, ["report", "--config", str(cfg), "-o", "html", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "Acme IT Services" in out.read_text()
    res = CliRunner().invoke(app, ["report", "--config", str(cfg), "--msp-name", "Other", "-o", "html",
                                   "--out", str(out)])
    assert res.exit_code == 0 and "Other" in out.read_text() and "Acme IT Services" not in out.read_text()


def test_last_month_is_the_calendar_month_before_now() -> None:
    import calendar

    jan = calendar.timegm((2027, 1, 15, 12, 0, 0))
    p = parse_period("last-month", jan)
    assert (p.start, p.end) == (calendar.timegm((2026, 12, 1, 0, 0, 0)), calendar.timegm((2027, 1, 1, 0, 0, 0)))
    may = calendar.timegm((2026, 5, 1, 0, 30, 0))
    assert parse_period("Last-Month", may).start == calendar.timegm((2026, 4, 1, 0, 0, 0))
