"""The history store: runs, host results, metric samples and the append-only audit log, in SQLite.

All SQL of rmmctl lives in this module, written to port to PostgreSQL behind the same interface:
INTEGER/TEXT/REAL columns only (booleans as INTEGER 0/1), JSON documents as TEXT, `ON CONFLICT ... DO
UPDATE` / `DO NOTHING` upserts, no `NULLS LAST`. `user` is reserved in PostgreSQL, so the column is
`username`. New ids and affected rows come from DB-API `lastrowid` / `rowcount` rather than `RETURNING`,
which needs SQLite 3.35 (RHEL 9 ships 3.34); the PostgreSQL store will say `RETURNING id` instead.
SQLite 3.24 (upserts) is the minimum.
Timestamps are ISO-8601 UTC TEXT of one fixed width (`2024-05-01T12:00:00.000000Z`): they sort and
compare as text in both databases and read well in `sqlite3`. Durations are REAL seconds.
Every write is one `BEGIN IMMEDIATE` transaction: concurrent cron runs queue on the busy timeout
instead of failing half-way. The audit table is append-only (triggers refuse UPDATE and DELETE) and
keeps its rows when `prune` removes old runs (retention: docs/history.md).
Metric samples: `series` names each (host, metric) once; `samples` holds narrow rows (run_id, series_id,
at, value) under a covering index on (series_id, at, value), so a trend is one index range scan of the
wanted metric with no JSON to decode (why, and the sizes: docs/history.md). Prefixes are matched as the
text range [p + ".", p + "/"), so PostgreSQL needs `COLLATE "C"` on `series.metric`.
Findings history: `findings` holds one row per occurrence of a problem (host, check_id, finding_key),
open until a diagnose that ran its check on that host no longer finds it; a partial unique index keeps
one open row per key, and `ON CONFLICT (...) WHERE resolved_at IS NULL` (SQLite and PostgreSQL alike)
refreshes it. `finding_hosts` remembers each host's latest diagnose run: "new", "ongoing" and
"resolved" are relative to it.
"""

from __future__ import annotations

import json
import math
import os
import socket
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rmmctl.errors import StoreError
from rmmctl.models import HostResult, RunReport
from rmmctl.secrets import Redactor, redact_obj
from rmmctl.store_support import (
    DAY_S,
    DEFAULT_RETENTION_DAYS,
    RETENTION_ENV,
    current_user,
    decode_json_columns,
    default_db_path,
    explain,
    iso_utc,
    pid_alive,
    prepare_file,
    retention_days,
    retry_locked,
    unix_time,
)

__all__ = ["DEFAULT_RETENTION_DAYS", "MIGRATIONS", "RETENTION_ENV", "Store", "default_db_path", "iso_utc",
           "retention_days", "unix_time"]

DEFAULT_TIMEOUT_S = 10.0
MIN_SQLITE = (3, 24, 0)
_APPEND_ONLY = "BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END"

# Ordered migrations: MIGRATIONS[i] takes the schema from version i to version i + 1. Append only.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE runs (
            id INTEGER PRIMARY KEY,
            command TEXT NOT NULL,
            argv TEXT NOT NULL,
            username TEXT NOT NULL,
            runner_host TEXT NOT NULL,
            pid INTEGER NOT NULL,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            duration_s REAL,
            status TEXT NOT NULL CHECK (status IN ('running', 'finished', 'interrupted', 'crashed')),
            exit_code INTEGER,
            hosts_total INTEGER,
            counts TEXT NOT NULL DEFAULT '{}'
        )""",
        "CREATE INDEX runs_started_at ON runs (started_at)",
        "CREATE INDEX runs_status ON runs (status, runner_host)",
        """CREATE TABLE host_results (
            id INTEGER PRIMARY KEY,
            run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
            position INTEGER,
            host TEXT NOT NULL,
            address TEXT NOT NULL,
            status TEXT NOT NULL,
            error_kind TEXT,
            error_message TEXT,
            duration_s REAL NOT NULL,
            data TEXT NOT NULL,
            UNIQUE (run_id, host)
        )""",
        """CREATE TABLE audit (
            id INTEGER PRIMARY KEY,
            run_id INTEGER,
            at TEXT NOT NULL,
            username TEXT NOT NULL,
            host TEXT NOT NULL,
            action TEXT NOT NULL,
            detail TEXT NOT NULL,
            exit_code INTEGER,
            duration_s REAL NOT NULL
        )""",
        "CREATE INDEX audit_host ON audit (host, id)",
        "CREATE INDEX audit_run ON audit (run_id, id)",
        f"CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit {_APPEND_ONLY}",
        f"CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit {_APPEND_ONLY}",
    ),
    (
        """CREATE TABLE series (
            id INTEGER PRIMARY KEY,
            host TEXT NOT NULL,
            metric TEXT NOT NULL,
            UNIQUE (host, metric)
        )""",
        """CREATE TABLE samples (
            run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
            series_id INTEGER NOT NULL REFERENCES series (id),
            at TEXT NOT NULL,
            value DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (run_id, series_id)
        )""",
        "CREATE INDEX samples_trend ON samples (series_id, at, value)",
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    ),
    (
        # One row per occurrence of a problem: open while resolved_at IS NULL (at most one open row per
        # host, check and key), closed when a run that ran its check on that host no longer finds it.
        """CREATE TABLE findings (
            id INTEGER PRIMARY KEY,
            host TEXT NOT NULL,
            check_id TEXT NOT NULL,
            finding_key TEXT NOT NULL,
            severity TEXT NOT NULL,
            title TEXT NOT NULL,
            evidence TEXT NOT NULL,
            remediation TEXT NOT NULL,
            first_seen TEXT NOT NULL,
            last_seen TEXT NOT NULL,
            resolved_at TEXT,
            first_run_id INTEGER NOT NULL,
            last_run_id INTEGER NOT NULL,
            resolved_run_id INTEGER
        )""",
        "CREATE UNIQUE INDEX findings_open ON findings (host, check_id, finding_key) WHERE resolved_at IS NULL",
        "CREATE INDEX findings_host ON findings (host, resolved_run_id)",
        "CREATE TABLE finding_hosts (host TEXT PRIMARY KEY, last_run_id INTEGER NOT NULL, checked_at TEXT NOT NULL)",
    ),
)


class Store:
    """The history database. Open with `Store.open()`; use as a context manager or call close()."""

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

    @classmethod
    def open(cls, path: Path | None = None, *, redactor: Redactor | None = None,
             timeout_s: float = DEFAULT_TIMEOUT_S, clock: Callable[[], float] = time.time,
             retention: int | None = None) -> Store:
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
            conn = sqlite3.connect(str(path), timeout=timeout_s, isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreError(explain(path, exc, timeout_s)) from None
        store = cls(conn, path, redactor or Redactor(), timeout_s, clock, days)
        try:
            store._setup()
        except BaseException:
            conn.close()
            raise
        return store

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection (idempotent)."""
        self._conn.close()

    # -- writes -----------------------------------------------------------------------------------

    def begin_run(self, command: str, argv: Sequence[str]) -> int:
        """Record a run that starts now (status running) and return its id."""
        args = json.dumps([self._redact(a) for a in argv], ensure_ascii=False)
        with self._write("record the start of a run") as c:
            cur = c.execute(
                "INSERT INTO runs (command, argv, username, runner_host, pid, started_at, status)"
                " VALUES (?, ?, ?, ?, ?, ?, 'running')",
                (self._redact(command), args, self._user, self._runner, os.getpid(), iso_utc(self._clock())),
            )
        self.auto_prune()
        return int(cur.lastrowid)  # type: ignore[arg-type]

    def add_host_result(self, run_id: int, result: HostResult, samples: Mapping[str, float] | None = None,
                        findings: tuple[Sequence[str], Sequence[Mapping[str, Any]]] | None = None) -> None:
        """Upsert one host's result, append its audit entries, store its metric samples (default
        `result.samples`, taken now) and reconcile its findings history (`findings` = (checks that ran,
        findings each with a `key`), see `record_findings`), all in one transaction."""
        with self._write(f"record the result of {result.name}") as c:
            c.execute(_UPSERT_HOST, self._host_row(run_id, None, result))
            self._append_audit(c, run_id, result)
            self._put_samples(c, run_id, result.name, self._clock(),
                              result.samples if samples is None else samples)
            if findings is not None:
                self._reconcile(c, run_id, result.name, *findings)

    def record_findings(self, run_id: int, host: str, checks: Sequence[str],
                        findings: Sequence[Mapping[str, Any]]) -> None:
        """One host's findings of one run, in one transaction: open ones are new or refreshed (last_seen);
        open findings of `checks` (the checks that ran) not found again are resolved. Other checks'
        findings stay as they are. Each finding: check_id, key, severity, title, evidence, remediation."""
        with self._write(f"record the findings of {host}") as c:
            self._reconcile(c, run_id, host, checks, findings)

    def add_samples(self, run_id: int, host: str, at: float, metrics: Mapping[str, float]) -> int:
        """Store one host's metrics taken at `at` (unix time) in one transaction; return how many.

        Non-finite values are skipped; a metric already stored for this run and host is overwritten.
        """
        with self._write(f"record the metrics of {host}") as c:
            return self._put_samples(c, run_id, host, at, metrics)

    def finish_run(self, run_id: int, report: RunReport, exit_code: int) -> None:
        """Close a run: its summary, plus any host not yet added (with its audit) and inventory order."""
        status = "interrupted" if report.interrupted else "finished"
        counts = json.dumps(report.counts(), sort_keys=True)
        with self._write(f"record the end of run {run_id}") as c:
            # argv again: secrets resolved while the run went (a password typed as an argument) are known now
            args = json.dumps([self._redact(a) for a in report.argv], ensure_ascii=False) if report.argv else None
            cur = c.execute(
                "UPDATE runs SET finished_at = ?, duration_s = ?, status = ?, exit_code = ?, hosts_total = ?,"
                " counts = ?, argv = COALESCE(?, argv) WHERE id = ?",
                (iso_utc(self._clock()), report.duration_s, status, exit_code, len(report.hosts), counts,
                 args, run_id),
            )
            if cur.rowcount != 1:
                raise StoreError(f"{self.path}: history has no run {run_id}; was it pruned while running?")
            for position, result in enumerate(report.hosts):
                if c.execute(_INSERT_HOST_IF_NEW, self._host_row(run_id, position, result)).rowcount:
                    self._append_audit(c, run_id, result)
                    self._put_samples(c, run_id, result.name, self._clock(), result.samples)
                else:
                    c.execute("UPDATE host_results SET position = ? WHERE run_id = ? AND host = ?",
                              (position, run_id, result.name))

    def prune(self, older_than_days: int | None = None) -> int:
        """Delete runs started more than N days ago (default: the retention setting) with their host
        results and samples; never audit rows. Return how many runs went."""
        cutoff = self._cutoff(self.retention_days if older_than_days is None else older_than_days)
        with self._write("prune old runs") as c:
            return self._prune_runs(c, cutoff)

    def prune_samples(self, older_than_days: int) -> int:
        """Delete the metric samples of runs started more than N days ago (runs stay); return how many."""
        cutoff = self._cutoff(older_than_days)
        with self._write("prune old metric samples") as c:
            gone = int(c.execute(f"DELETE FROM samples WHERE run_id IN ({_OLD_RUNS})", (cutoff,)).rowcount)
            c.execute(_DROP_EMPTY_SERIES)
        return gone

    def auto_prune(self) -> bool:
        """Prune by the retention setting if this database was not pruned in the last day; True if it ran.

        Costs one primary-key read when not due; concurrent runs agree under the write lock.
        """
        now = self._clock()
        with self._guard("read the last prune time"):
            if not _prune_due(self._conn, now):
                return False
        with self._write("prune old history") as c:
            if not _prune_due(c, now):
                return False
            c.execute(_UPSERT_META, ("last_prune", iso_utc(now)))
            self._prune_runs(c, iso_utc(now - self.retention_days * DAY_S))
        return True

    def reap_crashed(self) -> int:
        """Mark runs of this machine still 'running' whose process is gone as 'crashed'; return how many."""
        with self._guard("look for crashed runs"):
            rows = self._conn.execute(
                "SELECT id, pid FROM runs WHERE status = 'running' AND runner_host = ?", (self._runner,)
            ).fetchall()
        dead = [run_id for run_id, pid in rows if not pid_alive(pid)]
        if dead:
            with self._write("mark crashed runs") as c:
                c.executemany("UPDATE runs SET status = 'crashed' WHERE id = ? AND status = 'running'",
                              [(run_id,) for run_id in dead])
        return len(dead)

    # -- reads ------------------------------------------------------------------------------------

    def runs(self, limit: int = 20, command: str | None = None) -> list[dict[str, Any]]:
        """The newest runs first, optionally only one command's."""
        where, args = ("WHERE command = ?", [command]) if command else ("", [])
        return self._query(f"SELECT * FROM runs {where} ORDER BY id DESC LIMIT ?", (*args, limit))

    def run(self, run_id: int) -> dict[str, Any] | None:
        """One run with its hosts (key "hosts", inventory order), or None if unknown."""
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
        conds: list[str] = []
        args: list[Any] = []
        if host is not None:
            conds.append("host = ?")
            args.append(host)
        if run_id is not None:
            conds.append("run_id = ?")
            args.append(run_id)
        where = f"WHERE {' AND '.join(conds)}" if conds else ""
        return self._query(f"SELECT * FROM audit {where} ORDER BY id DESC LIMIT ?", (*args, limit))

    def samples(self, host: str, metric_prefix: str | None = None, since: float | None = None,
                limit: int = 1000) -> list[tuple[float, str, float]]:
        """`(at, metric, value)` of one host by metric, then time: the newest `limit` per metric since `since`.

        `metric_prefix` selects a metric by exact name or dotted prefix (`disk./` -> `disk./.used_pct`, ...).
        """
        out: list[tuple[float, str, float]] = []
        start = "" if since is None else iso_utc(since)
        for series_id, name in self._series(host, metric_prefix):
            rows = self._rows("SELECT at, value FROM samples WHERE series_id = ? AND at >= ?"
                              " ORDER BY at DESC LIMIT ?", (series_id, start, limit))
            out.extend((unix_time(at), name, float(value)) for at, value in reversed(rows))
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
        with self._guard("check the database"):
            rows = self._conn.execute("PRAGMA integrity_check").fetchall()
        return "\n".join(str(r[0]) for r in rows)

    # -- internals --------------------------------------------------------------------------------

    def _setup(self) -> None:
        with self._guard("open the database"):
            self._conn.execute(f"PRAGMA busy_timeout = {int(self._timeout_s * 1000)}")
            self._conn.execute("PRAGMA foreign_keys = ON")
            retry_locked(lambda: self._conn.execute("PRAGMA journal_mode = WAL"), self._timeout_s,
                         sqlite3.OperationalError)
            self._conn.execute("PRAGMA synchronous = NORMAL")
        self._migrate()
        self.reap_crashed()

    def _migrate(self) -> None:
        if self._version() == len(MIGRATIONS):
            return
        with self._write("create the schema") as c:
            c.execute("CREATE TABLE IF NOT EXISTS schema_version"
                      " (version INTEGER NOT NULL, applied_at TEXT NOT NULL)")
            current = self._version()
            if current > len(MIGRATIONS):
                raise StoreError(f"{self.path} was written by a newer rmmctl (schema {current} > "
                                 f"{len(MIGRATIONS)}); upgrade rmmctl or point --db/RMMCTL_DB elsewhere")
            for version in range(current + 1, len(MIGRATIONS) + 1):
                for statement in MIGRATIONS[version - 1]:
                    c.execute(statement)
                c.execute("INSERT INTO schema_version (version, applied_at) VALUES (?, ?)",
                          (version, iso_utc(self._clock())))

    def _version(self) -> int:
        with self._guard("read the schema version"):
            try:
                row = self._conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
            except sqlite3.OperationalError as exc:
                if "no such table" in str(exc):
                    return 0
                raise
        return int(row[0] or 0)

    def _host_row(self, run_id: int, position: int | None, r: HostResult) -> tuple[Any, ...]:
        kind, message = (r.error.kind, self._redact(r.error.message)) if r.error else (None, None)
        data = json.dumps(redact_obj(r.data, self._redact), sort_keys=True, ensure_ascii=False, default=str)
        return (run_id, position, r.name, r.address, r.status.value, kind, message, r.duration_s, data)

    def _append_audit(self, c: sqlite3.Connection, run_id: int, result: HostResult) -> None:
        c.executemany(
            "INSERT INTO audit (run_id, at, username, host, action, detail, exit_code, duration_s)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [(run_id, iso_utc(e.at), self._user, e.host, e.action, self._redact(e.detail), e.exit_code,
              e.duration_s) for e in result.audit],
        )

    def _put_samples(self, c: sqlite3.Connection, run_id: int, host: str, at: float,
                     metrics: Mapping[str, float]) -> int:
        values = {self._redact(name): float(value) for name, value in metrics.items()
                  if isinstance(value, (int, float)) and math.isfinite(value)}
        if not values:
            return 0
        ids = self._series_ids(c, host, values)
        stamp = iso_utc(at)
        c.executemany(_UPSERT_SAMPLE, [(run_id, ids[name], stamp, v) for name, v in sorted(values.items())])
        return len(values)

    def _reconcile(self, c: sqlite3.Connection, run_id: int, host: str, checks: Sequence[str],
                   findings: Sequence[Mapping[str, Any]]) -> None:
        now = iso_utc(self._clock())
        c.executemany(_UPSERT_FINDING, [
            (host, f["check_id"], self._redact(f["key"]), f["severity"], self._redact(f["title"]),
             json.dumps([self._redact(e) for e in f.get("evidence", ())], ensure_ascii=False),
             self._redact(f.get("remediation") or ""), now, now, run_id, run_id) for f in findings])
        if checks:
            marks = ", ".join("?" for _ in checks)
            c.execute("UPDATE findings SET resolved_at = ?, resolved_run_id = ? WHERE host = ? AND resolved_at IS NULL"
                      f" AND last_run_id <> ? AND check_id IN ({marks})", (now, run_id, host, run_id, *checks))
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
        c.execute(f"DELETE FROM host_results WHERE run_id IN ({_OLD_RUNS})", (cutoff,))
        gone = int(c.execute("DELETE FROM runs WHERE started_at < ?", (cutoff,)).rowcount)
        c.execute(_DROP_EMPTY_SERIES)
        c.execute("DELETE FROM findings WHERE resolved_at IS NOT NULL AND resolved_at < ?", (cutoff,))
        return gone

    def _cutoff(self, older_than_days: int) -> str:
        if older_than_days < 0:
            raise ValueError("older_than_days must be >= 0")
        return iso_utc(self._clock() - older_than_days * DAY_S)

    def _rows(self, sql: str, args: Sequence[Any]) -> list[tuple[Any, ...]]:
        with self._guard("read the history"):
            return self._conn.execute(sql, tuple(args)).fetchall()

    def _query(self, sql: str, args: Sequence[Any]) -> list[dict[str, Any]]:
        with self._guard("read the history"):
            cur = self._conn.execute(sql, tuple(args))
            names = [d[0] for d in cur.description]
            return [decode_json_columns(dict(zip(names, row))) for row in cur.fetchall()]

    @contextmanager
    def _write(self, what: str) -> Iterator[sqlite3.Connection]:
        """One write transaction, taking the write lock up front (BEGIN IMMEDIATE)."""
        with self._guard(what):
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    @contextmanager
    def _guard(self, what: str) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            raise StoreError(explain(self.path, exc, self._timeout_s, what)) from None


_HOST_COLUMNS = "(run_id, position, host, address, status, error_kind, error_message, duration_s, data)"
_UPSERT_HOST = (
    f"INSERT INTO host_results {_HOST_COLUMNS} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (run_id, host) DO UPDATE SET address = excluded.address, status = excluded.status,"
    " error_kind = excluded.error_kind, error_message = excluded.error_message,"
    " duration_s = excluded.duration_s, data = excluded.data"
)
_INSERT_HOST_IF_NEW = (
    f"INSERT INTO host_results {_HOST_COLUMNS} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (run_id, host) DO NOTHING"
)
_UPSERT_SAMPLE = (
    "INSERT INTO samples (run_id, series_id, at, value) VALUES (?, ?, ?, ?)"
    " ON CONFLICT (run_id, series_id) DO UPDATE SET at = excluded.at, value = excluded.value"
)
_UPSERT_META = "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value"
_UPSERT_FINDING = (
    "INSERT INTO findings (host, check_id, finding_key, severity, title, evidence, remediation, first_seen,"
    " last_seen, first_run_id, last_run_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (host, check_id, finding_key) WHERE resolved_at IS NULL DO UPDATE SET"
    " severity = excluded.severity, title = excluded.title, evidence = excluded.evidence,"
    " remediation = excluded.remediation, last_seen = excluded.last_seen, last_run_id = excluded.last_run_id"
)
_UPSERT_FINDING_HOST = (
    "INSERT INTO finding_hosts (host, last_run_id, checked_at) VALUES (?, ?, ?)"
    " ON CONFLICT (host) DO UPDATE SET last_run_id = excluded.last_run_id, checked_at = excluded.checked_at"
)
_OLD_RUNS = "SELECT id FROM runs WHERE started_at < ?"
_DROP_EMPTY_SERIES = "DELETE FROM series WHERE NOT EXISTS (SELECT 1 FROM samples WHERE series_id = series.id)"


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
    return row is None or abs(now - unix_time(row[0])) >= DAY_S
