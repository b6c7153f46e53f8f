"""The SQLite history store: runs, host results, metric samples, findings and the append-only audit log.

The one implementation of `rmmctl.store.HistoryStore` today, and the only module that imports sqlite3.
Callers never see it: they get it from `open_store("sqlite:///path")` (or a bare path) and type against the
protocol.

Schema and statements are written to port to PostgreSQL: INTEGER/TEXT/REAL columns only (booleans as
INTEGER 0/1), JSON documents as TEXT, `ON CONFLICT ... DO UPDATE` / `DO NOTHING` upserts (SQLite 3.24 is
the minimum), no `NULLS LAST`, `username` rather than the reserved `user`. Timestamps are fixed-width
ISO-8601 UTC TEXT (`2024-05-01T12:00:00.000000Z`, store.common.db_time): they sort and compare as text in
both databases. Durations are REAL seconds; sample values DOUBLE PRECISION.

**What is SQLite-only here, and what a PostgreSQL store must provide instead:**
- `lastrowid` for the new run id (RETURNING needs SQLite 3.35; RHEL 9 ships 3.34): PostgreSQL says
  `INSERT ... RETURNING id`. `rowcount` is portable.
- `INTEGER PRIMARY KEY` as the row id: PostgreSQL needs `BIGINT GENERATED ALWAYS AS IDENTITY`.
- The append-only audit: SQLite triggers with `RAISE(ABORT, ...)`; PostgreSQL: a trigger function raising
  an exception on UPDATE/DELETE (or REVOKE UPDATE, DELETE from the writing role).
- PRAGMAs: `journal_mode = WAL`, `busy_timeout`, `foreign_keys = ON` (off by default in SQLite, always on
  in PostgreSQL), `synchronous = NORMAL`, `integrity_check` (PostgreSQL: nothing to set; the check can
  be `amcheck` or simply "ok").
- Locking and busy handling: `BEGIN IMMEDIATE` takes SQLite's single write lock up front, so concurrent
  cron runs queue instead of deadlocking; busy/locked errors (SQLITE_BUSY, SQLITE_LOCKED) are retried
  with back-off up to the timeout. PostgreSQL has row locks and MVCC: plain `BEGIN`, retry on
  serialization failure (SQLSTATE 40001/40P01) and `lock_timeout`.
- Error text matching (`explain`): SQLite's messages ("database is locked", "file is not a database",
  "readonly", "disk is full") become one-line advice. PostgreSQL maps SQLSTATE codes instead.
- The schema-version probe catches "no such table"; PostgreSQL would use `to_regclass('schema_version')`.
- The partial unique index `findings_open ... WHERE resolved_at IS NULL` and `ON CONFLICT (...) WHERE
  resolved_at IS NULL` work in both, as do the `[p + ".", p + "/")` prefix ranges, but PostgreSQL needs
  `COLLATE "C"` on `series.metric` for the same byte order.
- `lock(name)` (sqlite_lock.py): an exclusive `flock(2)` on a file beside the database (`<db>.locks/<name>.lock`). The
  kernel drops it when the holding process exits or is killed (SIGKILL, OOM), so a crashed cron job never
  leaves a stale lock, with no pid-liveness guess that pid reuse or a second runner machine could fool;
  and taking it never waits for the database's write lock. The holder writes its pid, machine and start
  time into the file for the "held by" message. It works wherever SQLite itself is safe: a local
  filesystem (not NFS). PostgreSQL: `pg_try_advisory_lock(hashtext(name))` on a session of its own,
  released by the server when that session ends, which is the same contract.

Every write is one transaction. The audit table is append-only (triggers refuse UPDATE and DELETE) and
keeps its rows when `prune` removes old runs (retention: docs/history.md).
Metric samples: `series` names each (host, metric) once; `samples` holds narrow rows (run_id, series_id,
at, value) under a covering index on (series_id, at, value), so a trend is one index range scan of the
wanted metric with no JSON to decode (why, and the sizes: docs/history.md).
Findings history: `findings` holds one row per occurrence of a problem (host, check_id, finding_key),
open until a diagnose that ran its check on that host no longer finds it; a partial unique index keeps
one open row per key. `finding_hosts` remembers each host's latest diagnose run: "new", "ongoing" and
"resolved" are relative to it.
Play runs: `runs.playbook` names the playbook of a `play` run; `task_results` holds one narrow row per task
per host (written with the host row, in its transaction).
Secrets: argv is masked (rmmctl.secrets.mask_argv) and everything else passed through the run's Redactor
before it is written, at begin_run and at every later write, so a run that never finishes leaves nothing
unredacted behind.
"""

from __future__ import annotations

import json
import math
import os
import socket
import sqlite3
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from rmmctl.errors import StoreError
from rmmctl.models import HostResult, RunReport
from rmmctl.secrets import Redactor, mask_argv, mask_text, redact_obj
from rmmctl.store import DEFAULT_TIMEOUT_S
from rmmctl.store.common import (
    DAY_S,
    DEFAULT_RETENTION_DAYS,
    current_user,
    db_time,
    decode_json_columns,
    default_db_path,
    from_db_time,
    pid_alive,
    retention_days,
    valid_id,
)
from rmmctl.store.sqlite_reports import PeriodReads
from rmmctl.store.sqlite_schema import (  # noqa: F401 - MIGRATIONS re-exported (rmmctl.store.sqlite.MIGRATIONS)
    MIGRATIONS,
    _DROP_EMPTY_SERIES,
    _HOST_COLUMNS,
    _INSERT_HOST_IF_NEW,
    _INSERT_TASK,
    _OLD_RUNS,
    _UPSERT_FINDING,
    _UPSERT_FINDING_HOST,
    _UPSERT_HOST,
    _UPSERT_META,
    _UPSERT_SAMPLE,
)

from rmmctl.store.sqlite_alerts import AlertStoreMixin  # noqa: E402 - the alert methods (docs/alerts.md)
from rmmctl.store.sqlite_lock import LockMixin  # noqa: E402 - lock(name) between processes (docs/cron.md)

__all__ = ["MIGRATIONS", "SQLiteStore", "Store"]

T = TypeVar("T")
MIN_SQLITE = (3, 24, 0)
_BUSY_CODES = (5, 6)  # SQLITE_BUSY, SQLITE_LOCKED (primary codes; extended ones carry them in the low byte)


class SQLiteStore(PeriodReads, AlertStoreMixin, LockMixin):
    """The history database in one SQLite file. Open with `open_store()` (or `SQLiteStore.open(path)`);
    use as a context manager or call close()."""

    def __init__(self, conn: sqlite3.Connection, path: Path, redactor: Redactor,
                 timeout_s: float, clock: Callable[[], float], retention_days: int = DEFAULT_RETENTION_DAYS
                 ) -> None:
        self._conn = conn
        self.retention_days = retention_days
        self.path = path
        self._redact = redactor
        self._timeout_s = timeout_s
        self._clock = clock
        self._user = current_user()
        self._runner = socket.gethostname()
        self._mutex = threading.RLock()

    @classmethod
    def open(cls, path: Path | None = None, *, redactor: Redactor | None = None,
             timeout_s: float = DEFAULT_TIMEOUT_S, clock: Callable[[], float] = time.time,
             retention: int | None = None) -> SQLiteStore:
        """Open (creating dirs 0700, file 0600 and schema) the db; marks this machine's dead runs crashed.

        `retention` days (default $RMMCTL_RETENTION_DAYS, else 90) is what `prune()` and the daily
        automatic prune keep.
        """
        path = Path(path) if path is not None else default_db_path()
        days = retention_days(retention)
        if sqlite3.sqlite_version_info < MIN_SQLITE:
            raise StoreError(f"history database {path} needs SQLite >= 3.24, this Python has "
                             f"{sqlite3.sqlite_version}; use a newer Python build")
        prepare_file(path)
        try:
            conn = sqlite3.connect(str(path), timeout=timeout_s, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise StoreError(explain(path, exc, timeout_s)) from None
        store = cls(conn, path, redactor or Redactor(), timeout_s, clock, days)
        try:
            store._setup()
        except BaseException:
            conn.close()
            raise
        return store

    @property
    def location(self) -> str:
        return str(self.path)

    def __enter__(self) -> SQLiteStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection (idempotent)."""
        try:
            self._conn.close()
        except sqlite3.Error as exc:
            raise StoreError(explain(self.path, exc, self._timeout_s, "close the database")) from None

    # -- writes -----------------------------------------------------------------------------------

    def begin_run(self, command: str, argv: Sequence[str], *, playbook: str | None = None) -> int:
        """Record a run that starts now (status running) and return its id. argv is stored masked and
        redacted (secret-looking option values, and every secret the Redactor knows), never as given.
        `playbook`: for a `play` run, the playbook file's absolute path."""
        args = json.dumps(mask_argv(argv, self._redact), ensure_ascii=False)
        started = db_time(self._clock())

        def insert(c: sqlite3.Connection) -> int:
            extra = ("", "", ()) if playbook is None else (", playbook", ", ?", (playbook,))  # set for play runs only
            cur = c.execute(
                f"INSERT INTO runs (command, argv, username, runner_host, pid, started_at, status{extra[0]})"
                f" VALUES (?, ?, ?, ?, ?, ?, 'running'{extra[1]})",
                (self._redact(command), args, self._user, self._runner, os.getpid(), started, *extra[2]),
            )
            return int(cur.lastrowid)  # type: ignore[arg-type]

        run_id = self._write("record the start of a run", insert)
        self.auto_prune()
        return run_id

    def add_host_result(self, run_id: int, result: HostResult, samples: Mapping[str, float] | None = None,
                        findings: tuple[Sequence[str], Sequence[Mapping[str, Any]]] | None = None,
                        tasks: Sequence[Mapping[str, Any]] | None = None) -> None:
        """Upsert one host's result, append its audit entries, store its metric samples (default
        `result.samples`, taken now), reconcile its findings history (`findings` = (checks that ran,
        findings each with a `key`), see `record_findings`) and replace its task rows (`tasks`: a play's
        `data.tasks` entries: index, name, module, status, changed, message, duration_s), all in one
        transaction."""
        row = self._host_row(run_id, None, result)
        metrics = result.samples if samples is None else samples
        task_rows = [self._task_row(run_id, result.name, i, t) for i, t in enumerate(tasks or ())]

        def write(c: sqlite3.Connection) -> None:
            c.execute(_UPSERT_HOST, row)
            self._append_audit(c, run_id, result)
            self._put_samples(c, run_id, result.name, self._clock(), metrics)
            if findings is not None:
                self._reconcile(c, run_id, result.name, *findings)
            if tasks is not None:
                c.execute("DELETE FROM task_results WHERE run_id = ? AND host = ?", (run_id, result.name))
                c.executemany(_INSERT_TASK, task_rows)

        self._write(f"record the result of {result.name}", write)

    def record_findings(self, run_id: int, host: str, checks: Sequence[str],
                        findings: Sequence[Mapping[str, Any]]) -> None:
        """One host's findings of one run, in one transaction: open ones are new or refreshed (last_seen);
        open findings of `checks` (the checks that ran) not found again are resolved. Other checks'
        findings stay as they are. Each finding: check_id, key, severity, title, evidence, remediation."""
        self._write(f"record the findings of {host}", lambda c: self._reconcile(c, run_id, host, checks, findings))

    def add_samples(self, run_id: int, host: str, at: float, metrics: Mapping[str, float]) -> int:
        """Store one host's metrics taken at `at` (unix time) in one transaction; return how many.

        Non-finite values are skipped; a metric already stored for this run and host is overwritten.
        """
        return self._write(f"record the metrics of {host}", lambda c: self._put_samples(c, run_id, host, at, metrics))

    def finish_run(self, run_id: int, report: RunReport, exit_code: int) -> None:
        """Close a run: its summary, plus any host not yet added (with its audit) and inventory order."""
        status = "interrupted" if report.interrupted else "finished"
        counts = json.dumps(report.counts(), sort_keys=True)
        # argv again: secrets resolved while the run went (a password typed as an argument) are known now
        args = json.dumps(mask_argv(report.argv, self._redact), ensure_ascii=False) if report.argv else None
        rows = [self._host_row(run_id, position, result) for position, result in enumerate(report.hosts)]

        def write(c: sqlite3.Connection) -> None:
            cur = c.execute(
                "UPDATE runs SET finished_at = ?, duration_s = ?, status = ?, exit_code = ?, hosts_total = ?,"
                " counts = ?, argv = COALESCE(?, argv) WHERE id = ?",
                (db_time(self._clock()), report.duration_s, status, exit_code, len(report.hosts), counts,
                 args, run_id),
            )
            if cur.rowcount != 1:
                raise StoreError(f"{self.path}: history has no run {run_id}; was it pruned while running?")
            for position, (row, result) in enumerate(zip(rows, report.hosts)):
                if c.execute(_INSERT_HOST_IF_NEW, row).rowcount:
                    self._append_audit(c, run_id, result)
                    self._put_samples(c, run_id, result.name, self._clock(), result.samples)
                else:
                    c.execute("UPDATE host_results SET position = ? WHERE run_id = ? AND host = ?",
                              (position, run_id, result.name))

        self._write(f"record the end of run {run_id}", write)

    def prune(self, older_than_days: int | None = None) -> int:
        """Delete runs started more than N days ago (default: the retention setting) with their host
        results and samples; never audit rows. Return how many runs went."""
        cutoff = self._cutoff(self.retention_days if older_than_days is None else older_than_days)
        return self._write("prune old runs", lambda c: self._prune_runs(c, cutoff))

    def prune_samples(self, older_than_days: int) -> int:
        """Delete the metric samples of runs started more than N days ago (runs stay); return how many."""
        cutoff = self._cutoff(older_than_days)

        def delete(c: sqlite3.Connection) -> int:
            gone = int(c.execute(f"DELETE FROM samples WHERE run_id IN ({_OLD_RUNS})", (cutoff,)).rowcount)
            c.execute(_DROP_EMPTY_SERIES)
            return gone

        return self._write("prune old metric samples", delete)

    def auto_prune(self) -> bool:
        """Prune by the retention setting if this database was not pruned in the last day; True if it ran.

        Costs one primary-key read when not due; concurrent runs agree under the write lock.
        """
        now = self._clock()
        if not self._read("read the last prune time", lambda c: _prune_due(c, now)):
            return False

        def prune(c: sqlite3.Connection) -> bool:
            if not _prune_due(c, now):
                return False
            c.execute(_UPSERT_META, ("last_prune", db_time(now)))
            self._prune_runs(c, db_time(now - self.retention_days * DAY_S))
            return True

        return self._write("prune old history", prune)

    def reap_crashed(self) -> int:
        """Mark runs of this machine still 'running' whose process is gone as 'crashed'; return how many."""
        rows = self._read("look for crashed runs", lambda c: c.execute(
            "SELECT id, pid FROM runs WHERE status = 'running' AND runner_host = ?", (self._runner,)).fetchall())
        dead = [run_id for run_id, pid in rows if not pid_alive(pid)]
        if dead:
            self._write("mark crashed runs", lambda c: c.executemany(
                "UPDATE runs SET status = 'crashed' WHERE id = ? AND status = 'running'",
                [(run_id,) for run_id in dead]))
        return len(dead)

    # -- reads ------------------------------------------------------------------------------------

    def runs(self, limit: int = 20, command: str | None = None, playbook: str | None = None) -> list[dict[str, Any]]:
        """The newest runs first, optionally only one command's, or only the `play` runs of one playbook
        (its absolute path, as begin_run was given it)."""
        conds, args = [], []
        if command:
            conds.append("command = ?")
            args.append(command)
        if playbook:
            conds.append("playbook = ?")
            args.append(playbook)
        where = f"WHERE {' AND '.join(conds)}" if conds else ""
        return self._query(f"SELECT * FROM runs {where} ORDER BY id DESC LIMIT ?", (*args, _limit(limit)))

    def task_results(self, run_id: int, host: str | None = None,
                     status: str | None = None) -> list[dict[str, Any]]:
        """A play run's task rows by host (inventory order) then task index, optionally of one host or
        one status (`failed`); `changed` as a bool."""
        if not valid_id(run_id):
            return []
        sql = ("SELECT t.host, t.task_index, t.handler, t.name, t.module, t.status, t.changed, t.message,"
               " t.duration_s FROM task_results t LEFT JOIN host_results h ON h.run_id = t.run_id AND h.host = t.host"
               " WHERE t.run_id = ?")
        args: list[Any] = [run_id]
        if host is not None:
            sql += " AND t.host = ?"
            args.append(host)
        if status is not None:
            sql += " AND t.status = ?"
            args.append(status)
        rows = self._query(sql + " ORDER BY h.position IS NULL, h.position, t.host, t.position", args)
        return [{"host": r.pop("host"), "index": r.pop("task_index"), **r, "changed": bool(r["changed"]),
                 "handler": bool(r["handler"])} for r in rows]

    def run(self, run_id: int) -> dict[str, Any] | None:
        """One run with its hosts (key "hosts", inventory order), or None if unknown (any id out of range too)."""
        if not valid_id(run_id):
            return None
        found = self._query("SELECT * FROM runs WHERE id = ?", (run_id,))
        if not found:
            return None
        hosts = self._query(
            "SELECT host, address, status, error_kind, error_message, duration_s, data FROM host_results"
            " WHERE run_id = ? ORDER BY position IS NULL, position, id", (run_id,))
        return {**found[0], "hosts": hosts}

    def audit_log(
        self, limit: int = 50, host: str | None = None, run_id: int | None = None
    ) -> list[dict[str, Any]]:
        """Audit entries, newest first, optionally for one host and/or one run."""
        if run_id is not None and not valid_id(run_id):
            return []
        conds: list[str] = []
        args: list[Any] = []
        if host is not None:
            conds.append("host = ?")
            args.append(host)
        if run_id is not None:
            conds.append("run_id = ?")
            args.append(run_id)
        where = f"WHERE {' AND '.join(conds)}" if conds else ""
        return self._query(f"SELECT * FROM audit {where} ORDER BY id DESC LIMIT ?", (*args, _limit(limit)))

    def samples(self, host: str, metric_prefix: str | None = None, since: float | None = None,
                limit: int = 1000) -> list[tuple[float, str, float]]:
        """`(at, metric, value)` of one host by metric, then time: the newest `limit` per metric since `since`.

        `metric_prefix` selects a metric by exact name or dotted prefix (`disk./` -> `disk./.used_pct`, ...).
        """
        out: list[tuple[float, str, float]] = []
        start = "" if since is None else db_time(since)
        for series_id, name in self._series(host, metric_prefix):
            rows = self._rows("SELECT at, value FROM samples WHERE series_id = ? AND at >= ?"
                              " ORDER BY at DESC LIMIT ?", (series_id, start, _limit(limit)))
            out.extend((from_db_time(at), name, float(value)) for at, value in reversed(rows))
        return out

    def metric_names(self, host: str, metric_prefix: str | None = None) -> list[str]:
        """The metrics stored for a host, sorted; only those `metric_prefix` selects when given."""
        return [name for _, name in self._series(host, metric_prefix)]

    def sample_hosts(self) -> list[str]:
        """Hosts with at least one metric sample, sorted."""
        return [row[0] for row in self._rows("SELECT DISTINCT host FROM series ORDER BY host", ())]

    def findings(self, host: str | None = None, include_past: bool = False) -> list[dict[str, Any]]:
        """Findings as of each host's latest diagnose, by host then check: `state` is `new` (first seen in
        that run), `ongoing` (open since an earlier run) or `resolved` (gone in that run); with
        `include_past`, also `past` (resolved before it)."""
        where = "" if include_past else " AND (f.resolved_at IS NULL OR f.resolved_run_id = h.last_run_id)"
        args: list[Any] = []
        if host is not None:
            where += " AND f.host = ?"
            args.append(host)
        rows = self._query(
            "SELECT f.*, h.last_run_id AS host_run_id, h.checked_at FROM findings f"
            f" JOIN finding_hosts h ON h.host = f.host WHERE 1 = 1{where}"
            " ORDER BY f.host, f.check_id, f.first_seen, f.id", args)
        return [_finding_row(r) for r in rows]

    def finding_hosts(self) -> list[str]:
        """Hosts with a findings history, sorted."""
        return [row[0] for row in self._rows("SELECT host FROM finding_hosts ORDER BY host", ())]

    def integrity_check(self) -> str:
        """SQLite's own consistency check: "ok", or the problems it found."""
        rows = self._read("check the database", lambda c: c.execute("PRAGMA integrity_check").fetchall())
        return "\n".join(str(r[0]) for r in rows)

    # -- internals --------------------------------------------------------------------------------

    def _setup(self) -> None:
        def pragmas(c: sqlite3.Connection) -> None:
            c.execute(f"PRAGMA busy_timeout = {int(self._timeout_s * 1000)}")
            c.execute("PRAGMA foreign_keys = ON")
            c.execute("PRAGMA journal_mode = WAL")  # needs a moment of exclusive access: retried when busy
            c.execute("PRAGMA synchronous = NORMAL")

        self._retry("open the database", lambda: pragmas(self._conn))
        self._migrate()
        self.reap_crashed()

    def _migrate(self) -> None:
        if self._version() == len(MIGRATIONS):
            return

        def migrate(c: sqlite3.Connection) -> None:
            c.execute("CREATE TABLE IF NOT EXISTS schema_version"
                      " (version INTEGER NOT NULL, applied_at TEXT NOT NULL)")
            current = _version(c)
            if current > len(MIGRATIONS):
                raise StoreError(f"{self.path} was written by a newer rmmctl (schema {current} > "
                                 f"{len(MIGRATIONS)}); upgrade rmmctl or point --db/RMMCTL_DB elsewhere")
            for version in range(current + 1, len(MIGRATIONS) + 1):
                for statement in MIGRATIONS[version - 1]:
                    c.execute(statement)
                c.execute("INSERT INTO schema_version (version, applied_at) VALUES (?, ?)",
                          (version, db_time(self._clock())))

        self._write("create the schema", migrate)

    def _version(self) -> int:
        return self._read("read the schema version", _version)

    def _host_row(self, run_id: int, position: int | None, r: HostResult) -> tuple[Any, ...]:
        kind, message = (r.error.kind, self._redact(r.error.message)) if r.error else (None, None)
        data = json.dumps(redact_obj(r.data, self._redact), sort_keys=True, ensure_ascii=False, default=str)
        return (run_id, position, r.name, r.address, r.status.value, kind, message, r.duration_s, data)

    def _task_row(self, run_id: int, host: str, position: int, task: Mapping[str, Any]) -> tuple[Any, ...]:
        return (run_id, host, position, int(task.get("index", 0)), 1 if task.get("handler") else 0,
                self._redact(str(task.get("name", ""))),
                str(task.get("module", "")), "ignored" if task.get("ignored") else str(task.get("status", "")),
                1 if task.get("changed") else 0,
                self._redact(str(task.get("message") or "")), float(task.get("duration_s") or 0.0))

    def _append_audit(self, c: sqlite3.Connection, run_id: int, result: HostResult) -> None:
        c.executemany(
            "INSERT INTO audit (run_id, at, username, host, action, detail, exit_code, duration_s)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [(run_id, db_time(e.at), self._user, e.host, e.action, mask_text(self._redact(e.detail)), e.exit_code,
              e.duration_s) for e in result.audit],
        )

    def _put_samples(self, c: sqlite3.Connection, run_id: int, host: str, at: float,
                     metrics: Mapping[str, float]) -> int:
        values = {self._redact(name): float(value) for name, value in metrics.items()
                  if isinstance(value, (int, float)) and math.isfinite(value)}
        if not values:
            return 0
        ids = self._series_ids(c, host, values)
        stamp = db_time(at)
        c.executemany(_UPSERT_SAMPLE, [(run_id, ids[name], stamp, v) for name, v in sorted(values.items())])
        return len(values)

    def _reconcile(self, c: sqlite3.Connection, run_id: int, host: str, checks: Sequence[str],
                   findings: Sequence[Mapping[str, Any]]) -> None:
        now = db_time(self._clock())
        c.executemany(_UPSERT_FINDING, [
            (host, f["check_id"], self._redact(f["key"]), f["severity"], self._redact(f["title"]),
             json.dumps([self._redact(e) for e in f.get("evidence", ())], ensure_ascii=False),
             self._redact(f.get("remediation") or ""), now, now, run_id, run_id) for f in findings])
        if checks:  # resolve the open findings of these checks not found now (by key: an earlier reconcile
            # of the same run, `diagnose --fix`'s before, is resolved by its after)
            marks = ", ".join("?" for _ in checks)
            keys = [self._redact(f["key"]) for f in findings]
            found = f" AND finding_key NOT IN ({', '.join('?' for _ in keys)})" if keys else ""
            c.execute("UPDATE findings SET resolved_at = ?, resolved_run_id = ? WHERE host = ? AND resolved_at IS NULL"
                      f" AND check_id IN ({marks}){found}", (now, run_id, host, *checks, *keys))
        c.execute(_UPSERT_FINDING_HOST, (host, run_id, now))

    def _series_ids(self, c: sqlite3.Connection, host: str, names: Iterable[str]) -> dict[str, int]:
        """metric -> series id for one host, creating the series not seen before."""
        select = "SELECT metric, id FROM series WHERE host = ?"
        ids: dict[str, int] = dict(c.execute(select, (host,)).fetchall())
        new = [(host, name) for name in names if name not in ids]
        if new:
            c.executemany("INSERT INTO series (host, metric) VALUES (?, ?) ON CONFLICT (host, metric) DO NOTHING", new)
            ids = dict(c.execute(select, (host,)).fetchall())
        return ids

    def _series(self, host: str, metric_prefix: str | None) -> list[tuple[int, str]]:
        sql, args = "SELECT id, metric FROM series WHERE host = ?", [host]
        if metric_prefix:
            sql += " AND (metric = ? OR (metric >= ? AND metric < ?))"
            args += [metric_prefix, metric_prefix + ".", metric_prefix + "/"]
        return [(int(i), str(m)) for i, m in self._rows(sql + " ORDER BY metric", args)]

    def _prune_runs(self, c: sqlite3.Connection, cutoff: str) -> int:
        c.execute(f"DELETE FROM samples WHERE run_id IN ({_OLD_RUNS})", (cutoff,))
        c.execute(f"DELETE FROM task_results WHERE run_id IN ({_OLD_RUNS})", (cutoff,))
        c.execute(f"DELETE FROM host_results WHERE run_id IN ({_OLD_RUNS})", (cutoff,))
        gone = int(c.execute("DELETE FROM runs WHERE started_at < ?", (cutoff,)).rowcount)
        c.execute(_DROP_EMPTY_SERIES)
        c.execute("DELETE FROM findings WHERE resolved_at IS NOT NULL AND resolved_at < ?", (cutoff,))
        return gone

    def _cutoff(self, older_than_days: int) -> str:
        if not 0 <= older_than_days <= 36500:
            raise ValueError("older_than_days must be from 0 to 36500")
        return db_time(self._clock() - older_than_days * DAY_S)

    def _rows(self, sql: str, args: Sequence[Any]) -> list[tuple[Any, ...]]:
        return self._read("read the history", lambda c: c.execute(sql, tuple(args)).fetchall())

    def _query(self, sql: str, args: Sequence[Any]) -> list[dict[str, Any]]:
        def query(c: sqlite3.Connection) -> list[dict[str, Any]]:
            cur = c.execute(sql, tuple(args))
            names = [d[0] for d in cur.description]
            return [decode_json_columns(dict(zip(names, row))) for row in cur.fetchall()]

        return self._read("read the history", query)

    def _read(self, what: str, fn: Callable[[sqlite3.Connection], T]) -> T:
        """One read (autocommit), retried while the database is busy."""
        return self._retry(what, lambda: fn(self._conn))

    def _write(self, what: str, fn: Callable[[sqlite3.Connection], T]) -> T:
        """One write transaction, taking the write lock up front (BEGIN IMMEDIATE) so concurrent runs
        queue instead of failing half-way; rolled back and retried as a whole while the database is busy."""
        def transaction() -> T:
            c = self._conn
            c.execute("BEGIN IMMEDIATE")
            try:
                out = fn(c)
                c.execute("COMMIT")
            except BaseException:
                if c.in_transaction:
                    c.execute("ROLLBACK")
                raise
            return out

        return self._retry(what, transaction)

    def _retry(self, what: str, action: Callable[[], T]) -> T:
        """Run `action`; while SQLite says busy or locked, retry with back-off until the timeout is spent
        (SQLite's busy handler waits for most lock holders, but reports some at once: a WAL switch, recovery,
        a connection in exclusive locking mode). Then, and for any other database error, a one-line
        StoreError naming the file and the fix."""
        deadline, pause, shortened = time.monotonic() + self._timeout_s, 0.005, False
        with self._mutex:  # one connection, so one statement sequence at a time across threads
            try:
                while True:
                    try:
                        return action()
                    except sqlite3.Error as exc:
                        left = deadline - time.monotonic()
                        if not _busy(exc) or left <= 0:
                            raise StoreError(explain(self.path, exc, self._timeout_s, what)) from None
                        time.sleep(min(pause, left))
                        pause = min(pause * 2, 0.25)
                        shortened = self._set_busy_timeout(deadline - time.monotonic())
                    except OverflowError as exc:  # a value sqlite3 cannot bind (an int past 64 bits)
                        raise StoreError(f"history database {self.path}: cannot {what}: {exc}") from None
            finally:
                if shortened:
                    self._set_busy_timeout(self._timeout_s)

    def _set_busy_timeout(self, seconds: float) -> bool:
        try:
            self._conn.execute(f"PRAGMA busy_timeout = {max(0, int(seconds * 1000))}")
        except sqlite3.Error:
            pass  # the next attempt reports what is wrong
        return True


Store = SQLiteStore  # the name code written before the protocol used


def _version(c: sqlite3.Connection) -> int:
    try:
        row = c.execute("SELECT MAX(version) FROM schema_version").fetchone()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):  # SQLite's wording: a new database
            return 0
        raise
    return int(row[0] or 0)


def _busy(exc: sqlite3.Error) -> bool:
    """SQLITE_BUSY / SQLITE_LOCKED (by code where Python gives it, else by SQLite's wording)."""
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int):
        return code & 0xFF in _BUSY_CODES
    msg = str(exc)
    return "database is locked" in msg or "database table is locked" in msg or "busy" in msg


def _limit(n: int) -> int:
    """A row limit SQLite can bind: larger ones mean "all"."""
    return max(0, min(int(n), 2**63 - 1))


def prepare_file(path: Path) -> None:
    """Create the parent directory (0700) and an empty db file (0600) if missing."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not path.exists():
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    except OSError as exc:
        raise StoreError(f"cannot create the history database {path}: {exc.strerror or exc}; "
                         "point --db/RMMCTL_DB at a writable path") from None


def explain(path: Path, exc: Exception, timeout_s: float, what: str = "open") -> str:
    """One line for the user from SQLite's error text: which file, what went wrong, what to do."""
    msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if isinstance(exc, sqlite3.Error) and _busy(exc):
        url = ("sqlite://" if path.is_absolute() else "sqlite:") + urllib.parse.quote(str(path))
        return (f"history database {path} stayed locked by another process for over {timeout_s:g} s "
                f"({what}); retry later, find the holder with `fuser {path}`, or raise the wait with "
                f"--db '{url}?timeout=60'")
    if "not a database" in msg or "malformed" in msg:
        return (f"history database {path} is corrupt or not an rmmctl database ({msg}); move it aside "
                "to start a new one, or point --db/RMMCTL_DB elsewhere")
    if "readonly" in msg:
        return f"history database {path} is read-only; fix its permissions or point --db/RMMCTL_DB elsewhere"
    if "disk is full" in msg or "disk I/O" in msg:
        return f"history database {path}: {msg}; free space on its filesystem or use --db/RMMCTL_DB"
    if "unable to open" in msg:
        return f"cannot open history database {path} ({msg}); check the path is a writable file or use --db"
    return f"history database {path}: cannot {what}: {msg}; point --db/RMMCTL_DB elsewhere if it persists"


def _finding_row(row: dict[str, Any]) -> dict[str, Any]:
    """A findings row with its evidence decoded and its state as of the host's latest diagnose."""
    run = row.pop("host_run_id")
    if row["resolved_at"] is not None:
        state = "resolved" if row["resolved_run_id"] == run else "past"
    else:
        state = "new" if row["first_run_id"] == run else "ongoing"
    return {**row, "evidence": json.loads(row["evidence"]), "state": state}


def _prune_due(c: sqlite3.Connection, now: float) -> bool:
    """No prune recorded, or the last one is a day away from now (either way: a clock set back too)."""
    row = c.execute("SELECT value FROM meta WHERE key = 'last_prune'").fetchone()
    return row is None or abs(now - from_db_time(row[0])) >= DAY_S
