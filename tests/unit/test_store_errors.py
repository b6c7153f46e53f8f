"""C6 and C9, store side: a busy database is waited for (within a bound) and then reported as one line
with exit 8; every store method raises StoreError, never a sqlite3 exception; numbers from the
environment or the command line that the store cannot hold are one-line errors (exit 2/3), not
internal errors. Real SQLite files, a real second connection holding the lock, the real CLI.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

import rmmctl
from rmmctl.cli import app
from rmmctl.errors import ExitCode, StoreError
from rmmctl.models import HostResult, RunReport, Status
from rmmctl.store import HistoryStore, open_store

SRC = Path(rmmctl.__file__).parent.parent


def _rmmctl(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """rmmctl in its own process, as cron runs it."""
    return subprocess.run([sys.executable, "-m", "rmmctl", *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(SRC), **(env or {})})


def _cli(*args: str, env: dict[str, str] | None = None) -> Result:
    """rmmctl in-process (faster; the same error handling and exit codes)."""
    result = CliRunner().invoke(app, list(args), env=env)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


@pytest.fixture
def db(tmp_path: Path) -> Path:
    db = tmp_path / "h.db"
    with open_store(db) as s:
        s.finish_run(s.begin_run("status", ["status"]), RunReport("status", 0.0, 0.1, ()), 0)
    return db


@contextmanager
def exclusive(db: Path, mode: str = "EXCLUSIVE") -> Iterator[sqlite3.Connection]:
    """A second connection holding the database. With exclusive locking (taken while nobody else has the
    file open) nobody can read or write until it lets go; with NORMAL it holds the write lock (WAL
    readers go on)."""
    holder = sqlite3.connect(db, isolation_level=None)
    try:
        holder.execute(f"PRAGMA locking_mode = {mode}")
        holder.execute("BEGIN EXCLUSIVE")
        holder.execute("INSERT INTO meta (key, value) VALUES ('held', 'yes')")
        yield holder
    finally:
        if holder.in_transaction:
            holder.execute("ROLLBACK")
        holder.close()


# -- C6: a locked database ------------------------------------------------------------------------


def test_a_write_waits_for_a_shorter_lock_and_loses_nothing(db: Path) -> None:
    with open_store(db, timeout_s=30) as s, exclusive(db, "NORMAL") as holder:
        done, errors = threading.Event(), []

        def write() -> None:
            try:
                run_id = s.begin_run("status", ["status"])
                s.add_host_result(run_id, HostResult("web01", "192.0.2.1", Status.OK, data={"n": 1}))
            except Exception as exc:  # reported below
                errors.append(exc)
            done.set()

        writer = threading.Thread(target=write)
        writer.start()
        assert not done.wait(0.3)  # blocked behind the holder, not failed
        holder.execute("ROLLBACK")
        writer.join(timeout=60)
        assert errors == []
        assert [h["host"] for h in s.run(s.runs(limit=1)[0]["id"])["hosts"]] == ["web01"]  # type: ignore[index]


def _calls(s: HistoryStore) -> dict[str, object]:
    result = HostResult("web01", "192.0.2.1", Status.OK)
    return {
        "begin_run": lambda: s.begin_run("status", []),
        "add_host_result": lambda: s.add_host_result(1, result, samples={"cpu.percent": 1.0}),
        "record_findings": lambda: s.record_findings(1, "web01", ["disk.space"], []),
        "add_samples": lambda: s.add_samples(1, "web01", time.time(), {"load.1": 1.0}),
        "finish_run": lambda: s.finish_run(1, RunReport("status", 0.0, 0.1, (result,)), 0),
        "prune": lambda: s.prune(),
        "prune_samples": lambda: s.prune_samples(1),
        "auto_prune": lambda: s.auto_prune(),
        "reap_crashed": lambda: s.reap_crashed(),
        "runs": lambda: s.runs(),
        "run": lambda: s.run(1),
        "audit_log": lambda: s.audit_log(),
        "samples": lambda: s.samples("web01"),
        "metric_names": lambda: s.metric_names("web01"),
        "sample_hosts": lambda: s.sample_hosts(),
        "findings": lambda: s.findings(),
        "finding_hosts": lambda: s.finding_hosts(),
        "integrity_check": lambda: s.integrity_check(),
        "task_results": lambda: s.task_results(1),
        "alert_rows": lambda: s.alert_rows(),
        "save_alerts": lambda: s.save_alerts([ALERT]),
        "add_alert_send": lambda: s.add_alert_send({"at": time.time(), "channel": "mail", "ok": True}),
        "alert_sends": lambda: s.alert_sends(),
        "alert_history": lambda: s.alert_history(),
        "runs_between": lambda: s.runs_between(0.0, time.time()),
        "host_results_between": lambda: s.host_results_between(0.0, time.time()),
        "findings_between": lambda: s.findings_between(0.0, time.time()),
    }


ALERT = {"host": "web01", "finding_key": "disk.space:x", "rule": "r", "check_id": "disk.space", "severity": "critical",
         "title": "x", "source": "diagnose", "state": "pending", "fails": 1, "first_seen": 1.0, "last_seen": 1.0}


WRITES = ("begin_run", "add_host_result", "record_findings", "add_samples", "finish_run", "prune", "prune_samples",
          "auto_prune", "save_alerts", "add_alert_send")


def test_every_write_raises_a_one_line_store_error_within_the_timeout(db: Path) -> None:
    with open_store(db, timeout_s=0.2) as s:
        s._write("make the prune due", lambda c: c.execute("DELETE FROM meta"))  # type: ignore[attr-defined]
        calls = _calls(s)
        with exclusive(db, "NORMAL"):  # another process writing: WAL readers go on, writers wait
            for name in WRITES:
                started = time.monotonic()
                with pytest.raises(StoreError) as info:
                    calls[name]()  # type: ignore[operator]
                assert time.monotonic() - started < 1.5, name  # bounded: the timeout, then the error
                message = str(info.value)
                assert "\n" not in message and str(db) in message and "locked" in message, (name, message)
                assert "timeout=" in message  # the fix: wait longer (or find the holder)
            assert s.runs()[0]["command"] == "status"
        assert s.begin_run("status", []) == 2  # usable again once the holder is gone; the failures left nothing


def test_every_method_raises_store_error_never_a_sqlite3_exception(db: Path) -> None:
    with open_store(db, timeout_s=0.2) as s:
        calls = _calls(s)
        protocol = {n for n in dir(HistoryStore) if not n.startswith("_")} - {"close", "lock", "location",
                                                                               "retention_days"}
        assert set(calls) == protocol  # every method of the protocol is tried
        raw = sqlite3.connect(db, isolation_level=None)
        for table in ("runs", "host_results", "audit", "samples", "series", "meta", "findings", "finding_hosts",
                      "alerts", "alert_sends"):
            raw.execute(f"DROP TABLE {table}")  # a database damaged under a running rmmctl
        raw.close()
        for name, call in calls.items():
            if name == "integrity_check":
                assert call() == "ok"  # dropped tables are not corruption
                continue
            with pytest.raises(StoreError) as info:
                call()  # type: ignore[operator]
            assert "\n" not in str(info.value) and str(db) in str(info.value), name


def test_values_sqlite_cannot_hold_are_store_errors_or_simply_absent(db: Path) -> None:
    with open_store(db) as s:
        assert s.run(99999999999999999999999) is None and s.run(0) is None and s.run(-1) is None
        assert s.audit_log(run_id=2**64) == []
        with pytest.raises(StoreError, match="cannot record the result"):
            s.add_host_result(2**64, HostResult("a", "192.0.2.1", Status.OK))
        assert len(s.runs(limit=10**30)) == 1


def test_a_database_locked_at_open_is_one_line_and_exit_8(db: Path, tmp_path: Path) -> None:
    url = f"sqlite://{db}?timeout=0.3"
    (tmp_path / "inv.yaml").write_text("version: 1\nhosts:\n  box: {address: localhost, connection: local}\n")
    with exclusive(db):
        for args in (["history", "runs", "--db", url], ["ping", "-i", str(tmp_path / "inv.yaml"), "--db", url]):
            started = time.monotonic()
            done = _rmmctl(*args)
            assert done.returncode == ExitCode.STORE == 8, (args, done.stderr)
            lines = done.stderr.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("rmmctl: error: history database "), done.stderr
            assert str(db) in lines[0] and "locked" in lines[0] and "Traceback" not in done.stderr
            assert done.stdout == "" and time.monotonic() - started < 30
        via_env = _rmmctl("history", "runs", env={"RMMCTL_DB": url})  # RMMCTL_DB takes a URL too
        assert via_env.returncode == 8 and str(db) in via_env.stderr
    assert _rmmctl("history", "runs", "--db", url).returncode == 0


def test_unknown_store_urls_are_one_line_config_errors(tmp_path: Path) -> None:
    for url, says in (("postgresql://rmm:pw@db.example/rmm", "not available yet"),
                      ("mysql://db.example/rmm", "unknown scheme 'mysql'"),
                      (f"sqlite:///{tmp_path}/h.db?busy=1", "unknown option 'busy'"),
                      (f"sqlite:///{tmp_path}/h.db?timeout=nan", "timeout='nan'"),
                      ("sqlite://host/h.db", "names no host")):
        done = _cli("history", "runs", "--db", url)
        assert done.exit_code == ExitCode.CONFIG, (url, done.stderr)
        assert done.stderr.count("\n") == 1 and says in done.stderr, done.stderr
        assert "sqlite:///" in done.stderr and "pw@" not in done.stderr


# -- C9: numbers the store cannot hold ------------------------------------------------------------


@pytest.mark.parametrize("value", ["99999999999999999999", "nan", "inf", "-5", "0", "36501", "7d", "1e3", "²",
                                   " ", "12 days"])
def test_a_bad_retention_setting_is_one_line_exit_3_naming_the_variable_and_range(value: str, tmp_path: Path
                                                                                   ) -> None:
    done = _cli("history", "runs", "--db", str(tmp_path / "h.db"), env={"RMMCTL_RETENTION_DAYS": value})
    if not value.strip():
        assert done.exit_code == 0, done.stderr  # blank: the default
        return
    assert done.exit_code == ExitCode.CONFIG, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "RMMCTL_RETENTION_DAYS=" in lines[0] and "from 1 to 36500" in lines[0], lines


def test_the_largest_retention_is_accepted(tmp_path: Path) -> None:
    done = _cli("history", "runs", "--db", str(tmp_path / "h.db"), env={"RMMCTL_RETENTION_DAYS": "36500"})
    assert done.exit_code == 0, done.stderr


@pytest.mark.parametrize("run_id", ["99999999999999999999999", "9223372036854775808", "0", "-1"])
def test_history_show_of_an_impossible_run_id_is_a_one_line_usage_error(run_id: str, db: Path) -> None:
    done = _cli("history", "show", "--db", str(db), "--", run_id)
    assert done.exit_code == ExitCode.USAGE, done.stderr
    assert done.stderr.count("\n") == 1 and "run id" in done.stderr and "internal error" not in done.stderr
    audit = _cli("history", "audit", "--db", str(db), f"--run={run_id}")
    assert audit.exit_code == ExitCode.USAGE and audit.stderr.count("\n") == 1 and "--run" in audit.stderr


def test_history_show_of_a_missing_run_says_so(db: Path) -> None:
    done = _cli("history", "show", "--db", str(db), "9223372036854775807")
    assert done.exit_code == ExitCode.CONFIG and done.stderr.count("\n") == 1 and "no run" in done.stderr
    assert _cli("history", "show", "--db", str(db), "1").exit_code == 0
