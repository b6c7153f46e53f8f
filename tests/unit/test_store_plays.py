"""Play runs in the history store: runs.playbook, narrow task_results rows (one transaction with the
host row, replaced on a rewrite, redacted, pruned with their run), and the recorder feeding them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from rmmctl.models import HostResult, RunReport, Status
from rmmctl.processors import RunInfo, StoreRecorder, task_rows
from rmmctl.secrets import Redactor
from rmmctl.store import HistoryStore, open_store

TASKS = [
    {"index": 0, "name": "first", "module": "command", "line": 4, "status": "changed", "changed": True,
     "message": "rc=0", "duration_s": 0.01, "data": {"rc": 0}},
    {"index": 2, "name": "allowed to fail", "module": "command", "line": 9, "status": "failed", "changed": False,
     "message": "rc=1", "duration_s": 0.02, "data": {}, "ignored": True},
    {"index": 3, "name": "breaks", "module": "shell", "line": 12, "status": "failed", "changed": False,
     "message": "rc=2 token hunter2", "duration_s": 0.03, "data": {}},
    {"index": 0, "name": "restart", "module": "service", "line": 20, "status": "ok", "changed": False,
     "message": "", "duration_s": 0.01, "data": {}, "handler": True},  # a handler: index 0 of handlers
]


def play_host(name: str, tasks: list[dict[str, object]] = TASKS, status: Status = Status.FAILED) -> HostResult:
    return HostResult(name, "192.0.2.1", status, data={"play": "p", "tasks": tasks, "failed_task": None,
                                                       "recap": {"ok": 0, "changed": 1, "failed": 1}})


@pytest.fixture
def store(tmp_path: Path) -> Iterator[HistoryStore]:
    redactor = Redactor()
    redactor.add("hunter2")
    with open_store(tmp_path / "h.db", redactor=redactor) as s:
        yield s


def test_task_rows_are_narrow_ordered_and_redacted(store: HistoryStore) -> None:
    run_id = store.begin_run("play", ["play", "x.yaml"], playbook="/srv/x.yaml")
    store.add_host_result(run_id, play_host("b"), tasks=task_rows(play_host("b")))
    store.add_host_result(run_id, play_host("a", TASKS[:1], Status.CHANGED), tasks=task_rows(play_host("a", TASKS[:1])))
    store.add_host_result(run_id, play_host("b"), tasks=task_rows(play_host("b")))  # a rewrite replaces the rows
    store.finish_run(run_id, RunReport("play", 0.0, 1.0, (play_host("a", TASKS[:1]), play_host("b"))), 5)
    rows = store.task_results(run_id)
    assert [(r["host"], r["index"], r["status"]) for r in rows] == [
        ("a", 0, "changed"), ("b", 0, "changed"), ("b", 2, "ignored"), ("b", 3, "failed"), ("b", 0, "ok")]
    assert [r["handler"] for r in rows] == [False, False, False, False, True]
    assert rows[0] == {"host": "a", "index": 0, "name": "first", "module": "command", "status": "changed",
                       "changed": True, "message": "rc=0", "duration_s": 0.01, "handler": False}
    failed = store.task_results(run_id, status="failed")
    assert [(r["host"], r["name"]) for r in failed] == [("b", "breaks")]
    assert "hunter2" not in failed[0]["message"]
    assert store.runs(playbook="/srv/x.yaml")[0]["id"] == run_id and store.runs(playbook="/srv/y.yaml") == []
    assert store.task_results(10**30) == []


def test_prune_drops_task_rows_with_their_run(store: HistoryStore) -> None:
    run_id = store.begin_run("play", [], playbook="/srv/x.yaml")
    store.add_host_result(run_id, play_host("a"), tasks=task_rows(play_host("a")))
    assert store.prune(older_than_days=0) == 1
    assert store.task_results(run_id) == []


def test_the_recorder_writes_playbook_and_tasks_only_for_play_hosts(store: HistoryStore) -> None:
    recorder = StoreRecorder(store)
    run = RunInfo("play", ("play", "x.yaml"), (), 0.0, playbook="/srv/x.yaml")
    recorder.run_started(run)
    recorder.host_finished(run, play_host("a"))
    recorder.host_finished(run, HostResult("c", "192.0.2.3", Status.UNREACHABLE))
    assert run.run_id is not None
    assert store.runs()[0]["playbook"] == "/srv/x.yaml"
    assert {r["host"] for r in store.task_results(run.run_id)} == {"a"}
    assert task_rows(HostResult("c", "x", Status.OK, data={"tasks": []})) is None  # not a play's data
