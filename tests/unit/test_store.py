"""The SQLite history store: schema, incremental writes, reads, retention, redaction, concurrency."""

from __future__ import annotations

import os
import re
import sqlite3
import stat
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import rmmctl
from rmmctl.errors import ConfigError, StoreError
from rmmctl.models import AuditEntry, HostError, HostResult, RunReport, Status
from rmmctl.secrets import Redactor
from rmmctl.store import RETENTION_ENV, HistoryStore, db_time, default_db_path, from_db_time, open_store
from rmmctl.store.sqlite import MIGRATIONS, SQLiteStore

SRC = Path(rmmctl.__file__).parent
DAY = 86400.0


def _host(name: str, status: Status = Status.OK, *, audit: int = 1, **kw: object) -> HostResult:
    entries = tuple(AuditEntry(name, "exec", f"uptime #{i}", 0, 0.01, 1_700_000_000.0 + i)
                    for i in range(audit))
    return HostResult(name, f"192.0.2.{len(name)}", status, audit=entries, **kw)  # type: ignore[arg-type]


def _report(*hosts: HostResult, interrupted: bool = False) -> RunReport:
    return RunReport("status", 1_700_000_000.0, 1.5, tuple(hosts), interrupted=interrupted)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "state" / "rmmctl.db"


@pytest.fixture
def store(db: Path) -> Iterator[HistoryStore]:
    with open_store(db) as s:
        yield s


def _raw(db: Path) -> sqlite3.Connection:
    return sqlite3.connect(db, isolation_level=None)


# -- paths and opening --------------------------------------------------------------------------


def test_default_path_prefers_rmmctl_db_then_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("RMMCTL_DB", str(tmp_path / "a.db"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    assert default_db_path() == tmp_path / "a.db"
    monkeypatch.delenv("RMMCTL_DB")
    assert default_db_path() == tmp_path / "xdg" / "rmmctl" / "rmmctl.db"
    monkeypatch.delenv("XDG_STATE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_db_path() == tmp_path / "home" / ".local" / "state" / "rmmctl" / "rmmctl.db"


def test_open_creates_private_dir_file_schema_and_wal(db: Path) -> None:
    with open_store(db):
        pass
    assert stat.S_IMODE(db.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    conn = _raw(db)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("SELECT MAX(version) FROM schema_version").fetchone()[0] == len(MIGRATIONS)
    with open_store(db):  # a second open migrates nothing
        pass
    assert conn.execute("SELECT COUNT(*) FROM schema_version").fetchone()[0] == len(MIGRATIONS)


def test_open_uses_rmmctl_db_when_no_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("RMMCTL_DB", str(tmp_path / "env" / "h.db"))
    with open_store() as s:
        assert s.path == tmp_path / "env" / "h.db"
    assert (tmp_path / "env" / "h.db").is_file()


def test_a_version_1_database_is_upgraded_in_place(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("rmmctl.store.sqlite.MIGRATIONS", MIGRATIONS[:1])  # what rmmctl wrote before samples
    monkeypatch.setattr(SQLiteStore, "auto_prune", lambda self: False)  # the old code had no meta table
    with open_store(db) as old:
        run_id = old.begin_run("status", ["status"])
        old.add_host_result(run_id, _host("a", data={"x": 1}))
    tables = {r[0] for r in _raw(db).execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "samples" not in tables and "runs" in tables
    monkeypatch.undo()
    with open_store(db) as new:
        assert [r[0] for r in _raw(db).execute("SELECT version FROM schema_version ORDER BY version")] == list(range(1, len(MIGRATIONS) + 1))
        assert new.run(run_id)["hosts"][0]["data"] == {"x": 1}  # type: ignore[index]
        assert len(new.audit_log()) == 1
        assert new.add_samples(run_id, "a", 1_700_000_000.0, {"cpu.percent": 5.0}) == 1
        assert new.samples("a") == [(1_700_000_000.0, "cpu.percent", 5.0)]


# -- incremental writes and reads ---------------------------------------------------------------


def test_run_lifecycle_records_hosts_in_inventory_order_with_audit(store: HistoryStore) -> None:
    run_id = store.begin_run("status", ["status", "acme"])
    assert store.run(run_id)["status"] == "running"  # type: ignore[index]
    late = _host("zeta", data={"uptime_s": 12, "disks": [{"mount": "/", "pct": 91.5}]}, audit=2)
    store.add_host_result(run_id, late)
    down = _host("alpha", Status.UNREACHABLE, audit=0, error=HostError("connect", "connection refused"))
    store.finish_run(run_id, _report(down, late), 6)
    run = store.run(run_id)
    assert run is not None
    assert (run["command"], run["argv"], run["status"], run["exit_code"]) == ("status", ["status", "acme"],
                                                                               "finished", 6)
    assert run["hosts_total"] == 2 and run["counts"] == {"ok": 1, "unreachable": 1}
    assert run["duration_s"] == 1.5 and run["finished_at"].endswith("Z") and run["pid"] == os.getpid()
    assert [h["host"] for h in run["hosts"]] == ["alpha", "zeta"]
    assert run["hosts"][0]["error_kind"] == "connect"
    assert run["hosts"][0]["error_message"] == "connection refused"
    assert run["hosts"][1]["data"] == {"uptime_s": 12, "disks": [{"mount": "/", "pct": 91.5}]}
    audit = store.audit_log(run_id=run_id)
    assert [(a["host"], a["detail"]) for a in audit] == [("zeta", "uptime #1"), ("zeta", "uptime #0")]
    assert audit[0]["at"] == "2023-11-14T22:13:21.000000Z"


def test_finish_run_adds_missing_hosts_with_audit_once(store: HistoryStore) -> None:
    run_id = store.begin_run("run", ["run", "all", "--", "id"])
    a, b = _host("a"), _host("b")
    store.add_host_result(run_id, a)
    store.finish_run(run_id, _report(a, b), 0)
    assert sorted(x["host"] for x in store.audit_log(run_id=run_id)) == ["a", "b"]
    assert [h["host"] for h in store.run(run_id)["hosts"]] == ["a", "b"]  # type: ignore[index]


def test_add_host_result_twice_updates_the_row(store: HistoryStore) -> None:
    run_id = store.begin_run("ping", [])
    store.add_host_result(run_id, _host("a", Status.TIMEOUT, audit=0, error=HostError("timeout", "slow")))
    store.add_host_result(run_id, _host("a", Status.OK, audit=0))
    hosts = store.run(run_id)["hosts"]  # type: ignore[index]
    assert [(h["host"], h["status"], h["error_kind"]) for h in hosts] == [("a", "ok", None)]


def test_interrupted_run_and_unknown_run_ids(store: HistoryStore) -> None:
    run_id = store.begin_run("run", [])
    store.finish_run(run_id, _report(_host("a", Status.INTERRUPTED), interrupted=True), 130)
    assert store.run(run_id)["status"] == "interrupted"  # type: ignore[index]
    assert store.run(9999) is None
    with pytest.raises(StoreError, match="no run 9999"):
        store.finish_run(9999, _report(), 0)
    with pytest.raises(StoreError, match="FOREIGN KEY"):
        store.add_host_result(9999, _host("a"))


def test_runs_newest_first_filter_and_limit(store: HistoryStore) -> None:
    ids = [store.begin_run(cmd, []) for cmd in ("ping", "status", "ping", "run")]
    assert [r["id"] for r in store.runs()] == ids[::-1]
    assert [r["id"] for r in store.runs(command="ping")] == [ids[2], ids[0]]
    assert [r["id"] for r in store.runs(limit=2)] == [ids[3], ids[2]]


def test_audit_log_filters(store: HistoryStore) -> None:
    r1, r2 = store.begin_run("run", []), store.begin_run("run", [])
    store.add_host_result(r1, _host("a", audit=3))
    store.add_host_result(r2, _host("a", audit=1))
    store.add_host_result(r2, _host("b", audit=2))
    assert len(store.audit_log()) == 6
    assert len(store.audit_log(limit=4)) == 4
    assert {a["host"] for a in store.audit_log(host="b")} == {"b"}
    assert len(store.audit_log(host="a", run_id=r2)) == 1
    assert store.audit_log(host="nobody") == []


def test_every_text_written_is_redacted(db: Path) -> None:
    secret = "hunter2-s3cret"
    redactor = Redactor()
    redactor.add(secret)
    with open_store(db, redactor=redactor) as s:
        run_id = s.begin_run("run", ["run", "all", "--", f"mysql -p{secret}"])
        result = HostResult(
            "a", "192.0.2.1", Status.FAILED, error=HostError("auth", f"bad password {secret}"),
            data={"stdout": f"pw={secret}", "nested": [{secret: (f"x{secret}",)}]},
            audit=(AuditEntry("a", "exec", f"echo {secret} | sudo -S id", 1, 0.1, time.time()),),
        )
        s.add_host_result(run_id, result)
        s.finish_run(run_id, _report(result), 5)
        stored = s.run(run_id)["hosts"][0]["data"]  # type: ignore[index]
        assert stored["nested"] == [{"********": ["x********"]}]
    dump = "\n".join(_raw(db).iterdump())
    assert "hunter2" not in dump
    assert dump.count("********") >= 5


# -- metric samples -----------------------------------------------------------------------------

T0 = 1_700_000_000.0


def test_samples_round_trip_select_and_limit(db: Path) -> None:
    now = [T0]
    with open_store(db, clock=lambda: now[0]) as s:
        for i in range(5):
            now[0] = T0 + i * 3600.123456
            run_id = s.begin_run("status", [])
            s.add_host_result(run_id, _host("web", audit=0), samples={
                "disk./.used_pct": 50.0 + i, "disk./.used_kb": 1e9 + i, "disk./var.used_pct": 10.0,
                "cpu.percent": float(i), "load.1": float("nan"), "load.5": float("inf")})
            s.add_host_result(run_id, _host("db", audit=0), samples={"cpu.percent": 99.0})
        assert s.metric_names("web") == ["cpu.percent", "disk./.used_kb", "disk./.used_pct", "disk./var.used_pct"]
        assert s.metric_names("web", "disk./") == ["disk./.used_kb", "disk./.used_pct"]
        assert s.metric_names("web", "disk") == ["disk./.used_kb", "disk./.used_pct", "disk./var.used_pct"]
        assert s.metric_names("web", "cpu.percent") == ["cpu.percent"]
        assert s.metric_names("web", "cpu.perc") == [] and s.metric_names("nobody") == []
        assert s.sample_hosts() == ["db", "web"]
        pct = s.samples("web", "disk./.used_pct")
        assert [v for _, _, v in pct] == [50.0, 51.0, 52.0, 53.0, 54.0]
        assert [at for at, _, _ in pct] == [T0 + i * 3600.123456 for i in range(5)]  # microseconds kept
        assert s.samples("web", "disk./.used_kb")[-1][2] == 1e9 + 4  # double precision
        both = s.samples("web", "disk./", limit=2)  # the newest 2 per metric, oldest first
        assert [(m, v) for _, m, v in both] == [("disk./.used_kb", 1e9 + 3), ("disk./.used_kb", 1e9 + 4),
                                                ("disk./.used_pct", 53.0), ("disk./.used_pct", 54.0)]
        since = s.samples("web", "cpu.percent", since=T0 + 2.5 * 3600)
        assert [v for _, _, v in since] == [3.0, 4.0]
        assert len(s.samples("web")) == 20


def test_add_samples_overwrites_within_a_run_and_result_samples_are_the_default(store: HistoryStore) -> None:
    run_id = store.begin_run("metrics", [])
    assert store.add_samples(run_id, "a", T0, {"load.1": 1.0, "load.5": True}) == 2
    assert store.add_samples(run_id, "a", T0 + 60, {"load.1": 2.0}) == 1
    assert store.samples("a", "load") == [(T0 + 60, "load.1", 2.0), (T0, "load.5", 1.0)]
    store.add_host_result(run_id, HostResult("b", "192.0.2.2", Status.OK, samples={"memory.used_pct": 40.0}))
    assert [v for _, _, v in store.samples("b")] == [40.0]
    store.add_host_result(run_id, HostResult("b", "192.0.2.2", Status.OK, samples={"memory.used_pct": 41.0}),
                          samples={})
    assert [v for _, _, v in store.samples("b")] == [40.0]  # an explicit empty mapping writes nothing
    with pytest.raises(StoreError, match="FOREIGN KEY"):
        store.add_samples(9999, "a", T0, {"load.1": 1.0})


def test_finish_run_stores_samples_of_hosts_it_adds(store: HistoryStore) -> None:
    run_id = store.begin_run("status", [])
    early = HostResult("a", "192.0.2.1", Status.OK, samples={"cpu.percent": 1.0})
    store.add_host_result(run_id, early)
    late = HostResult("b", "192.0.2.2", Status.OK, samples={"cpu.percent": 2.0})
    store.finish_run(run_id, _report(early, late), 0)
    assert [v for _, _, v in store.samples("a")] == [1.0]  # not written twice
    assert [v for _, _, v in store.samples("b")] == [2.0]


def test_host_result_audit_and_samples_commit_together(store: HistoryStore, db: Path) -> None:
    run_id = store.begin_run("status", [])
    _raw(db).execute("CREATE TRIGGER samples_fail BEFORE INSERT ON samples BEGIN SELECT RAISE(ABORT, 'boom'); END")
    with pytest.raises(StoreError, match="boom"):
        store.add_host_result(run_id, _host("a", audit=2), samples={"cpu.percent": 1.0})
    assert store.run(run_id)["hosts"] == [] and store.audit_log() == []  # type: ignore[index]


def test_sample_names_are_redacted(db: Path) -> None:
    redactor = Redactor()
    redactor.add("s3cr3t-mount")
    with open_store(db, redactor=redactor) as s:
        s.add_samples(s.begin_run("status", []), "a", T0, {"disk./mnt/s3cr3t-mount.used_pct": 1.0})
        assert s.metric_names("a") == ["disk./mnt/********.used_pct"]
    assert "s3cr3t" not in "\n".join(_raw(db).iterdump())


def test_iso_text_round_trips() -> None:
    assert db_time(T0 + 0.25) == "2023-11-14T22:13:20.250000Z"
    assert from_db_time(db_time(T0 + 0.25)) == T0 + 0.25


# -- retention and the append-only audit --------------------------------------------------------


def test_prune_removes_old_runs_but_never_audit(db: Path) -> None:
    now = [time.time() - 40 * DAY]
    with open_store(db, clock=lambda: now[0]) as s:
        old = s.begin_run("status", [])
        s.add_host_result(old, _host("a", audit=2))
        now[0] += 39 * DAY
        new = s.begin_run("status", [])
        s.add_host_result(new, _host("b", audit=1))
        now[0] += DAY
        assert s.prune(30) == 1
        assert s.run(old) is None and s.run(new) is not None
        assert len(s.audit_log()) == 3
        assert {a["run_id"] for a in s.audit_log()} == {old, new}
        assert s.prune(30) == 0
        with pytest.raises(ValueError):
            s.prune(-1)
    assert _raw(db).execute("SELECT COUNT(*) FROM host_results").fetchone()[0] == 1


def _count(db: Path, table: str) -> int:
    return int(_raw(db).execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


def test_prune_takes_samples_with_their_runs_and_prune_samples_keeps_runs(db: Path) -> None:
    now = [T0]
    with open_store(db, clock=lambda: now[0], retention=30) as s:
        old = s.begin_run("status", [])
        s.add_host_result(old, _host("a"), samples={"cpu.percent": 1.0, "load.1": 0.5})
        now[0] += 20 * DAY
        mid = s.begin_run("status", [])
        s.add_host_result(mid, _host("a"), samples={"cpu.percent": 2.0})
        now[0] += 15 * DAY
        new = s.begin_run("status", [])
        s.add_host_result(new, _host("a"), samples={"cpu.percent": 3.0})
        assert s.run(old) is None  # 35 days old: the automatic prune of run `new` took it, samples too
        assert _count(db, "samples") == 2
        assert s.prune_samples(10) == 1  # mid's (15 days old)
        assert s.run(mid) is not None
        assert [v for _, _, v in s.samples("a")] == [3.0]
        assert s.prune() == 0  # the retention setting, 30 days: nothing more
        assert s.prune(10) == 1 and s.run(mid) is None and s.run(new) is not None
    assert _count(db, "audit") == 3


def test_retention_setting_env_argument_and_errors(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with open_store(db) as s:
        assert s.retention_days == 90
    monkeypatch.setenv(RETENTION_ENV, "7")
    with open_store(db) as s:
        assert s.retention_days == 7
    with open_store(db, retention=400) as s:
        assert s.retention_days == 400
    for bad in ("0", "-3", "7d", "x"):
        monkeypatch.setenv(RETENTION_ENV, bad)
        with pytest.raises(ConfigError, match=f"{RETENTION_ENV}=.*whole days") as info:
            open_store(db)
        assert "\n" not in str(info.value)
    with pytest.raises(ValueError):
        open_store(db, retention=0)


def test_automatic_prune_runs_at_most_once_a_day(db: Path) -> None:
    now = [T0]
    with open_store(db, clock=lambda: now[0], retention=10) as s:
        first = s.begin_run("status", [])  # the first run of a database records the first prune
        s.add_samples(first, "a", now[0], {"cpu.percent": 1.0})
        assert s.auto_prune() is False
        now[0] += 11 * DAY
        second = s.begin_run("status", [])  # due: `first` is 11 days old
        assert s.run(first) is None and s.samples("a") == []
        assert s.sample_hosts() == [] and _count(db, "series") == 0  # emptied series go too
        now[0] += 9.5 * DAY
        assert s.auto_prune() is True  # over a day since the last prune
        assert s.run(second) is not None  # 9.5 days old: kept
        now[0] += 0.9 * DAY
        assert s.auto_prune() is False  # second is 10.4 days old now, but the last prune was 0.9 days ago
        assert s.run(second) is not None
        assert s.prune() == 1  # an explicit prune is never throttled
    row = _raw(db).execute("SELECT value FROM meta WHERE key = 'last_prune'").fetchone()
    assert row == (db_time(T0 + 20.5 * DAY),)


def test_database_refuses_audit_update_and_delete(store: HistoryStore, db: Path) -> None:
    store.add_host_result(store.begin_run("run", []), _host("a"))
    conn = _raw(db)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("UPDATE audit SET detail = 'x'")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("DELETE FROM audit")
    assert conn.execute("SELECT COUNT(*) FROM audit").fetchone()[0] == 1


def test_no_source_updates_or_deletes_audit_rows() -> None:
    forbidden = re.compile(r"\b(UPDATE\s+(OR\s+\w+\s+)?audit|DELETE\s+FROM\s+audit|REPLACE\s+INTO\s+audit"
                           r"|INSERT\s+OR\s+REPLACE\s+INTO\s+audit|DROP\s+TABLE\s+(IF\s+EXISTS\s+)?audit)\b",
                           re.IGNORECASE)
    offenders = [str(p) for p in SRC.rglob("*.py") if forbidden.search(p.read_text())]
    assert offenders == []


def test_only_the_store_speaks_sql() -> None:
    importers = [p.relative_to(SRC).as_posix() for p in SRC.rglob("*.py")
                 if re.search(r"^\s*(import sqlite3|from sqlite3 )", p.read_text(), re.MULTILINE)]
    assert importers == ["store/sqlite.py"]


# -- failures the user can act on ---------------------------------------------------------------


def _one_line_error(path: Path, **kw: object) -> str:
    with pytest.raises(StoreError) as info, open_store(path, **kw) as s:  # type: ignore[arg-type]
        s.begin_run("x", [])
    message = str(info.value)
    assert "\n" not in message and str(path) in message and "--db" in message
    return message


def test_unwritable_location_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x")
    assert "cannot create" in _one_line_error(tmp_path / "afile" / "sub" / "h.db")
    assert "cannot open" in _one_line_error(tmp_path)  # a directory, not a file


def test_corrupt_file_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "h.db"
    bad.write_bytes(b"this is not sqlite " * 300)
    assert "corrupt" in _one_line_error(bad)


def test_newer_schema_is_refused(db: Path) -> None:
    with open_store(db):
        pass
    _raw(db).execute("INSERT INTO schema_version (version, applied_at) VALUES (99, 'x')")
    assert "newer rmmctl" in _one_line_error(db)


def test_lock_held_past_timeout_is_one_line(db: Path) -> None:
    with open_store(db, timeout_s=0.2) as s:
        holder = _raw(db)
        holder.execute("BEGIN IMMEDIATE")
        started = time.monotonic()
        with pytest.raises(StoreError, match="locked") as info:
            s.begin_run("status", [])
        assert 0.15 < time.monotonic() - started < 2
        assert "\n" not in str(info.value) and str(db) in str(info.value)
        holder.execute("ROLLBACK")
        assert s.begin_run("status", []) == 1  # the failed write left nothing behind


# -- processes: crashes and concurrent writers --------------------------------------------------


def _python(code: str, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(SRC.parent)}
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), *args], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_dead_process_run_is_marked_crashed(db: Path) -> None:
    proc = _python("""
        import os, sys
        from pathlib import Path
        from rmmctl.store import HistoryStore, open_store
        s = open_store(Path(sys.argv[1]))
        print(s.begin_run("status", []), flush=True)
        os._exit(0)
    """, str(db))
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    with open_store(db) as s:
        mine = s.begin_run("status", [])
        assert s.run(int(out))["status"] == "crashed"  # type: ignore[index]
        assert s.reap_crashed() == 0
        assert s.run(mine)["status"] == "running"  # type: ignore[index]


WRITER = """
    import sys, time
    from pathlib import Path
    from rmmctl.models import AuditEntry, HostResult, RunReport, Status
    from rmmctl.store import HistoryStore, open_store
    db, worker = Path(sys.argv[1]), sys.argv[2]
    with open_store(db) as s:
        for n in range(50):
            run_id = s.begin_run("stress", ["stress", worker, str(n)])
            hosts = []
            for h in range(5):
                name = f"w{worker}-r{n}-h{h}"
                audit = (AuditEntry(name, "exec", "true", 0, 0.001, time.time()),)
                hosts.append(HostResult(name, "127.0.0.1", Status.OK, data={"n": n}, audit=audit))
                metrics = {f"disk./d{d}.used_pct": n + d / 10 for d in range(6)}
                s.add_host_result(run_id, hosts[-1], samples=metrics)
            # every worker also writes the same host and metric names: contention on the same index keys
            s.add_samples(run_id, "shared", time.time(), {"cpu.percent": int(worker) * 1000 + n, "load.1": n})
            s.finish_run(run_id, RunReport("stress", time.time(), 0.1, tuple(hosts)), 0)
"""


def test_concurrent_writers_lose_nothing(db: Path) -> None:
    procs = [_python(WRITER, str(db), str(w)) for w in range(4)]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    with open_store(db) as s:
        runs = s.runs(limit=1000)
        assert len(runs) == 200 and {r["status"] for r in runs} == {"finished"}
        assert sorted(r["argv"][1] for r in runs) == sorted(str(w) for w in range(4) for _ in range(50))
        assert all(len(s.run(r["id"])["hosts"]) == 5 for r in runs)  # type: ignore[index]
        assert len(s.audit_log(limit=10_000)) == 1000
        assert len({a["host"] for a in s.audit_log(limit=10_000)}) == 1000
        assert s.integrity_check() == "ok"
        assert len(s.samples("w3-r49-h4", "disk")) == 6
        shared = s.samples("shared", "cpu.percent", limit=10_000)
        assert sorted(v for _, _, v in shared) == sorted(float(w * 1000 + n) for w in range(4) for n in range(50))
        assert len(s.samples("shared", "load.1", limit=10_000)) == 200
    assert _count(db, "host_results") == 1000
    assert _count(db, "samples") == 1000 * 6 + 200 * 2
