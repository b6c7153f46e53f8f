"""Run processors: what every processor sees, in which order, and the store recorder against a real SQLite
database that another connection keeps locked (the run goes on, results stay in memory, one retry)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from rmmctl import api
from rmmctl.errors import ExitCode, UsageError, exit_code_for
from rmmctl.inventory.model import Host, Inventory
from rmmctl.models import HostResult, RunReport, Status
from rmmctl.processors import Processor, RunInfo, StoreRecorder
from rmmctl.store import Store


def local_inventory(*names: str) -> Inventory:
    """Hosts on the local transport: real commands in real subprocesses, no network needed."""
    return Inventory({n: Host(n, "localhost", connection="local") for n in names}, {})


class Journal(Processor):
    """A processor is a class overriding what it needs; this one writes down every event."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []
        self.report: RunReport | None = None

    def run_started(self, run: RunInfo) -> None:
        self.events.append(("run_started", ",".join(h.name for h in run.hosts)))

    def host_finished(self, run: RunInfo, result: HostResult) -> None:
        self.events.append(("host_finished", result.name))

    def run_finished(self, run: RunInfo, report: RunReport) -> None:
        self.events.append(("run_finished", run.command))
        self.report = report


class Broken(Processor):
    def host_finished(self, run: RunInfo, result: HostResult) -> None:
        raise RuntimeError("a processor bug")


def test_processors_see_the_run_in_order_hosts_as_they_finish() -> None:
    journal = Journal()
    slow, quick = api.command_job("sleep 0.4; echo slow"), api.command_job("echo quick")

    def by_host(ctx):  # noqa: ANN001, ANN202 - the host listed first really is slower
        return (slow if ctx.host.name == "slow" else quick)(ctx)

    report = api.execute("run", local_inventory("slow", "quick"), "all", by_host, api.RunSettings(), [journal])
    assert journal.events == [("run_started", "slow,quick"), ("host_finished", "quick"),
                              ("host_finished", "slow"), ("run_finished", "run")]
    assert journal.report is not None and [h.name for h in journal.report.hosts] == ["slow", "quick"]
    assert [h.status for h in report.hosts] == [Status.OK, Status.OK]


def test_a_failing_processor_does_not_hide_the_event_from_the_others(tmp_path: Path) -> None:
    journal = Journal()
    with pytest.raises(RuntimeError, match="a processor bug"):
        api.execute("run", local_inventory("a"), "all", api.command_job("true"), api.RunSettings(),
                    [Broken(), journal])
    assert ("host_finished", "a") in journal.events  # Broken raised first; the journal still heard of it


def _holder(db: Path) -> sqlite3.Connection:
    """A second, real connection that takes the write lock and keeps it."""
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("BEGIN EXCLUSIVE")
    return conn


def test_a_locked_history_keeps_the_results_and_exits_8(tmp_path: Path) -> None:
    db = tmp_path / "history.db"
    store = Store.open(db, timeout_s=0.2)
    holder: list[sqlite3.Connection] = []

    class LockMidRun(Processor):  # listed after the recorder: the run row exists, no host is recorded yet
        def run_started(self, run: RunInfo) -> None:
            holder.append(_holder(db))

    with store:
        report = api.execute("run", local_inventory("a", "b"), "all", api.command_job("echo hi"),
                             api.RunSettings(forks=1), [StoreRecorder(store), LockMidRun()])
    holder[0].execute("ROLLBACK")  # held through the recorder's retry at the end
    assert [(h.name, h.status, h.data["stdout"]) for h in report.hosts] == [("a", Status.OK, "hi\n"),
                                                                           ("b", Status.OK, "hi\n")]
    assert report.store_error is not None and "locked" in report.store_error and "\n" not in report.store_error
    assert exit_code_for(report) is ExitCode.STORE
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT count(*) FROM host_results").fetchone()[0] == 0


def test_a_lock_gone_by_the_end_of_the_run_loses_nothing(tmp_path: Path) -> None:
    db = tmp_path / "history.db"
    store = Store.open(db, timeout_s=0.2)
    holder: list[sqlite3.Connection] = []

    class LockThenRelease(Processor):
        def run_started(self, run: RunInfo) -> None:
            holder.append(_holder(db))

        def host_finished(self, run: RunInfo, result: HostResult) -> None:
            if result.name == "b":  # both hosts finished while locked: release before run_finished
                holder[0].execute("ROLLBACK")

    with store:
        report = api.execute("run", local_inventory("a", "b"), "all", api.command_job("echo hi"),
                             api.RunSettings(forks=1), [LockThenRelease(), StoreRecorder(store)])
    assert report.store_error is None and exit_code_for(report) is ExitCode.OK
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT host, status FROM host_results ORDER BY position").fetchall() == [("a", "ok"),
                                                                                                ("b", "ok")]
    assert conn.execute("SELECT status, exit_code, hosts_total FROM runs").fetchall() == [("finished", 0, 2)]


def report_of(*statuses: str, **kw: object) -> RunReport:
    hosts = tuple(HostResult(f"h{i}", "192.0.2.1", Status(s)) for i, s in enumerate(statuses))
    return RunReport("test", 0.0, 0.0, hosts, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(("statuses", "kw", "fail_on", "code"), [
    (("ok",), {"store_error": "locked"}, "warning", ExitCode.STORE),  # otherwise ok: 8
    (("warn",), {"store_error": "locked"}, "warning", ExitCode.WARN),  # 4 > 8
    (("warn",), {"store_error": "locked"}, "critical", ExitCode.STORE),  # warnings pass, the store does not
    (("crit", "unreachable"), {"store_error": "locked"}, "warning", ExitCode.UNREACHABLE),
    (("ok", "interrupted"), {"interrupted": True, "interrupted_by": "SIGTERM"}, "warning", ExitCode.TERMINATED),
    (("ok", "interrupted"), {"interrupted": True, "interrupted_by": "EPIPE"}, "warning", ExitCode.BROKEN_PIPE),
    (("ok", "interrupted"), {"interrupted": True, "interrupted_by": "EIO"}, "warning", ExitCode.OUTPUT),
    (("auth_failed",), {"interrupted": True, "store_error": "x"}, "warning", ExitCode.INTERRUPTED),
])
def test_one_exit_code_function(statuses: tuple[str, ...], kw: dict, fail_on: str, code: ExitCode) -> None:
    assert exit_code_for(report_of(*statuses, **kw), fail_on=fail_on) is code


def test_fail_on_is_checked_where_the_code_is_decided() -> None:
    with pytest.raises(UsageError, match="--fail-on 'warn'"):
        exit_code_for(report_of("ok"), fail_on="warn")
    assert int(ExitCode.TERMINATED) == 143
