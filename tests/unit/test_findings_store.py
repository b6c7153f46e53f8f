"""Findings history in the store: new, ongoing, resolved per host, one transaction per host, two writers at once."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from rmmctl.models import HostResult, Status
from rmmctl.secrets import Redactor
from rmmctl.store import HistoryStore, open_store


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


@pytest.fixture
def store(tmp_path: Path) -> Any:
    with open_store(tmp_path / "h.db", clock=Clock()) as s:
        yield s


def f(check: str, key: str, severity: str = "warning", title: str | None = None) -> dict[str, Any]:
    return {"check_id": check, "key": f"{check}:{key}", "severity": severity, "title": title or key,
            "evidence": [f"evidence of {key}"], "remediation": "fix it"}


def states(store: HistoryStore, host: str | None = None, past: bool = False) -> dict[tuple[str, str], str]:
    return {(r["host"], r["finding_key"]): r["state"] for r in store.findings(host, include_past=past)}


def run(store: HistoryStore, host: str, checks: list[str], findings: list[dict[str, Any]]) -> int:
    run_id = store.begin_run("diagnose", ["diagnose"])
    store.record_findings(run_id, host, checks, findings)
    return run_id


def test_new_then_ongoing_then_resolved(store: HistoryStore) -> None:
    run(store, "web", ["disk.space", "reboot.required"], [f("disk.space", "/srv"), f("reboot.required", "r")])
    assert states(store) == {("web", "disk.space:/srv"): "new", ("web", "reboot.required:r"): "new"}
    run(store, "web", ["disk.space", "reboot.required"], [f("disk.space", "/srv", "critical")])
    assert states(store) == {("web", "disk.space:/srv"): "ongoing", ("web", "reboot.required:r"): "resolved"}
    [disk] = [r for r in store.findings("web") if r["check_id"] == "disk.space"]
    assert disk["severity"] == "critical" and disk["first_seen"] < disk["last_seen"]  # refreshed, not re-opened
    assert disk["evidence"] == ["evidence of /srv"] and disk["resolved_at"] is None
    run(store, "web", ["disk.space", "reboot.required"], [f("disk.space", "/srv")])
    assert states(store) == {("web", "disk.space:/srv"): "ongoing"}  # resolved in an earlier run: not shown
    assert states(store, past=True)[("web", "reboot.required:r")] == "past"


def test_only_checks_that_ran_resolve(store: HistoryStore) -> None:
    run(store, "web", ["disk.space", "services.failed"], [f("disk.space", "/"), f("services.failed", "nginx")])
    run(store, "web", ["disk.space"], [])  # services.failed did not run (not chosen, or its section failed)
    assert states(store) == {("web", "disk.space:/"): "resolved", ("web", "services.failed:nginx"): "ongoing"}


def test_hosts_are_independent(store: HistoryStore) -> None:
    run(store, "a", ["disk.space"], [f("disk.space", "/")])
    run(store, "b", ["disk.space"], [])
    assert states(store) == {("a", "disk.space:/"): "new"}
    assert states(store, "b") == {}


def test_a_problem_that_comes_back_is_new_again_and_keeps_its_past(store: HistoryStore) -> None:
    run(store, "a", ["disk.space"], [f("disk.space", "/")])
    run(store, "a", ["disk.space"], [])
    run(store, "a", ["disk.space"], [f("disk.space", "/")])
    rows = store.findings("a", include_past=True)
    assert [r["state"] for r in rows] == ["past", "new"]
    assert rows[0]["resolved_run_id"] == rows[1]["first_run_id"] - 1


def test_results_flow_in_through_add_host_result_in_one_transaction(store: HistoryStore) -> None:
    run_id = store.begin_run("diagnose", [])
    result = HostResult("web", "192.0.2.1", Status.WARN, data={"findings": []})
    store.add_host_result(run_id, result, findings=(["disk.space"], [f("disk.space", "/")]))
    assert states(store) == {("web", "disk.space:/"): "new"}
    bad = f("disk.space", "/x")
    del bad["severity"]  # a broken finding fails the whole host's write: no half-stored result
    with pytest.raises(KeyError):
        store.add_host_result(store.begin_run("diagnose", []), HostResult("web2", "x", Status.OK),
                              findings=(["disk.space"], [bad]))
    assert store.finding_hosts() == ["web"]
    assert [h["host"] for h in store.run(run_id)["hosts"]] == ["web"]  # type: ignore[index]


def test_secrets_are_redacted_in_findings(tmp_path: Path) -> None:
    redactor = Redactor()
    redactor.add("hunter2")
    with open_store(tmp_path / "r.db", redactor=redactor) as s:
        run(s, "a", ["x.y"], [{**f("x.y", "k hunter2"), "evidence": ["password=hunter2"]}])
        [row] = s.findings()
    assert "hunter2" not in repr(row)


def test_one_open_row_per_key_is_enforced_by_the_schema(store: HistoryStore) -> None:
    run(store, "a", ["disk.space"], [f("disk.space", "/")])
    raw = sqlite3.connect(store.path)
    with pytest.raises(sqlite3.IntegrityError):
        raw.execute("INSERT INTO findings (host, check_id, finding_key, severity, title, evidence, remediation,"
                    " first_seen, last_seen, first_run_id, last_run_id) SELECT host, check_id, finding_key,"
                    " severity, title, evidence, remediation, first_seen, last_seen, 9, 9 FROM findings")
    raw.close()


_WRITER = textwrap.dedent("""
    import sys
    from rmmctl.store import open_store
    db, tag = sys.argv[1], sys.argv[2]
    with open_store(db, timeout_s=30) as s:
        for i in range(40):
            run_id = s.begin_run("diagnose", [tag])
            found = [{"check_id": "disk.space", "key": f"disk.space:{k}", "severity": "warning", "title": k,
                      "evidence": [tag], "remediation": ""} for k in (["/", "/srv"] if i % 2 else ["/"])]
            for host in ("shared", f"own-{tag}"):
                s.record_findings(run_id, host, ["disk.space"], found)
""")


def test_two_processes_reconcile_the_same_hosts_without_losing_or_doubling_rows(tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    open_store(db).close()
    procs = [subprocess.Popen([sys.executable, "-c", _WRITER, str(db), tag], stderr=subprocess.PIPE)
             for tag in ("p1", "p2")]
    for p in procs:
        _, err = p.communicate(timeout=60)
        assert p.returncode == 0, err.decode()
    with open_store(db) as s:
        assert s.integrity_check() == "ok"
        for host in ("shared", "own-p1", "own-p2"):
            rows = s.findings(host, include_past=True)
            open_keys = [r["finding_key"] for r in rows if r["resolved_at"] is None]
            assert sorted(open_keys) == ["disk.space:/", "disk.space:/srv"], host  # each writer's last run
            assert sum(r["finding_key"] == "disk.space:/" for r in rows) == 1, host  # always found: one row
        for host in ("own-p1", "own-p2"):  # /srv found on odd runs only: opened 20 times, resolved 19 times
            srv = [r for r in s.findings(host, include_past=True) if r["finding_key"] == "disk.space:/srv"]
            assert (len(srv), sum(r["resolved_at"] is not None for r in srv)) == (20, 19)


def test_prune_drops_old_resolved_findings_and_keeps_open_ones(tmp_path: Path) -> None:
    clock = Clock()
    with open_store(tmp_path / "p.db", clock=clock, retention=1) as s:
        run(s, "a", ["disk.space"], [f("disk.space", "/"), f("disk.space", "/srv")])
        run(s, "a", ["disk.space"], [f("disk.space", "/")])  # /srv resolved now
        clock.now += 3 * 86400
        s.prune()
        assert states(s, past=True) == {("a", "disk.space:/"): "ongoing"}
