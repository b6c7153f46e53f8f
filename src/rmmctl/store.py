"""The history store: runs, host results and the append-only audit log, in SQLite.

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
keeps its rows when `prune` removes old runs.
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
import os
import socket
import sqlite3
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from rmmctl.errors import StoreError
from rmmctl.models import HostResult, RunReport
from rmmctl.secrets import Redactor

DEFAULT_TIMEOUT_S = 10.0
MIN_SQLITE = (3, 24, 0)
_JSON_COLUMNS = ("argv", "counts", "data")
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
)


def default_db_path() -> Path:
    """$RMMCTL_DB, else $XDG_STATE_HOME/rmmctl/rmmctl.db (XDG_STATE_HOME defaults to ~/.local/state)."""
    if os.environ.get("RMMCTL_DB"):
        return Path(os.environ["RMMCTL_DB"]).expanduser()
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state).expanduser() / "rmmctl" / "rmmctl.db"


def iso_utc(ts: float) -> str:
    """Unix time -> fixed-width ISO-8601 UTC text with microseconds and Z."""
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Store:
    """The history database. Open with `Store.open()`; use as a context manager or call close()."""

    def __init__(self, conn: sqlite3.Connection, path: Path, redactor: Redactor,
                 timeout_s: float, clock: Callable[[], float]) -> None:
        self._conn = conn
        self.path = path
        self._redact = redactor
        self._timeout_s = timeout_s
        self._clock = clock
        self._user = _current_user()
        self._runner = socket.gethostname()

    @classmethod
    def open(cls, path: Path | None = None, *, redactor: Redactor | None = None,
             timeout_s: float = DEFAULT_TIMEOUT_S, clock: Callable[[], float] = time.time) -> Store:
        """Open (creating dirs 0700, file 0600 and schema) the db; marks this machine's dead runs crashed."""
        path = Path(path) if path is not None else default_db_path()
        if sqlite3.sqlite_version_info < MIN_SQLITE:
            raise StoreError(f"history database {path} needs SQLite >= 3.24, this Python has "
                             f"{sqlite3.sqlite_version}; use a newer Python build")
        _prepare_file(path)
        try:
            conn = sqlite3.connect(str(path), timeout=timeout_s, isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreError(_explain(path, exc, timeout_s)) from None
        store = cls(conn, path, redactor or Redactor(), timeout_s, clock)
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
        return int(cur.lastrowid)  # type: ignore[arg-type]

    def add_host_result(self, run_id: int, result: HostResult) -> None:
        """Upsert one host's result and append its audit entries, in one transaction."""
        with self._write(f"record the result of {result.name}") as c:
            c.execute(_UPSERT_HOST, self._host_row(run_id, None, result))
            self._append_audit(c, run_id, result)

    def finish_run(self, run_id: int, report: RunReport, exit_code: int) -> None:
        """Close a run: its summary, plus any host not yet added (with its audit) and inventory order."""
        status = "interrupted" if report.interrupted else "finished"
        counts = json.dumps(report.counts(), sort_keys=True)
        with self._write(f"record the end of run {run_id}") as c:
            cur = c.execute(
                "UPDATE runs SET finished_at = ?, duration_s = ?, status = ?, exit_code = ?, hosts_total = ?,"
                " counts = ? WHERE id = ?",
                (iso_utc(self._clock()), report.duration_s, status, exit_code, len(report.hosts), counts,
                 run_id),
            )
            if cur.rowcount != 1:
                raise StoreError(f"{self.path}: history has no run {run_id}; was it pruned while running?")
            for position, result in enumerate(report.hosts):
                if c.execute(_INSERT_HOST_IF_NEW, self._host_row(run_id, position, result)).rowcount:
                    self._append_audit(c, run_id, result)
                else:
                    c.execute("UPDATE host_results SET position = ? WHERE run_id = ? AND host = ?",
                              (position, run_id, result.name))

    def prune(self, older_than_days: int) -> int:
        """Delete runs (and their host results) started more than N days ago; never audit rows."""
        if older_than_days < 0:
            raise ValueError("older_than_days must be >= 0")
        cutoff = iso_utc(self._clock() - older_than_days * 86400)
        with self._write("prune old runs") as c:
            c.execute("DELETE FROM host_results WHERE run_id IN (SELECT id FROM runs WHERE started_at < ?)",
                      (cutoff,))
            return int(c.execute("DELETE FROM runs WHERE started_at < ?", (cutoff,)).rowcount)

    def reap_crashed(self) -> int:
        """Mark runs of this machine still 'running' whose process is gone as 'crashed'; return how many."""
        with self._guard("look for crashed runs"):
            rows = self._conn.execute(
                "SELECT id, pid FROM runs WHERE status = 'running' AND runner_host = ?", (self._runner,)
            ).fetchall()
        dead = [run_id for run_id, pid in rows if not _alive(pid)]
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
            self._retry_busy(lambda: self._conn.execute("PRAGMA journal_mode = WAL"))
            self._conn.execute("PRAGMA synchronous = NORMAL")
        self._migrate()
        self.reap_crashed()

    def _retry_busy(self, action: Callable[[], object]) -> None:
        """Switching to WAL needs a moment of exclusive access, and SQLite reports a concurrent opener as
        busy at once, without its busy handler: retry with back-off until the timeout."""
        end, pause = time.monotonic() + self._timeout_s, 0.005
        while True:
            try:
                action()
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() + pause > end:
                    raise
                time.sleep(pause)
                pause = min(pause * 2, 0.2)

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
        data = json.dumps(_redact_obj(r.data, self._redact), sort_keys=True, ensure_ascii=False, default=str)
        return (run_id, position, r.name, r.address, r.status.value, kind, message, r.duration_s, data)

    def _append_audit(self, c: sqlite3.Connection, run_id: int, result: HostResult) -> None:
        c.executemany(
            "INSERT INTO audit (run_id, at, username, host, action, detail, exit_code, duration_s)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [(run_id, iso_utc(e.at), self._user, e.host, e.action, self._redact(e.detail), e.exit_code,
              e.duration_s) for e in result.audit],
        )

    def _query(self, sql: str, args: Sequence[Any]) -> list[dict[str, Any]]:
        with self._guard("read the history"):
            cur = self._conn.execute(sql, tuple(args))
            names = [d[0] for d in cur.description]
            return [_decode(dict(zip(names, row))) for row in cur.fetchall()]

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
            raise StoreError(_explain(self.path, exc, self._timeout_s, what)) from None


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


def _prepare_file(path: Path) -> None:
    """Create the parent directory (0700) and an empty db file (0600) if missing."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not path.exists():
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    except OSError as exc:
        raise StoreError(f"cannot create the history database {path}: {exc.strerror or exc}; "
                         "point --db/RMMCTL_DB at a writable path") from None


def _explain(path: Path, exc: sqlite3.Error, timeout_s: float, what: str = "open") -> str:
    """One line for the user: which file, what went wrong, what to do."""
    msg = str(exc)
    if "locked" in msg or "busy" in msg:
        return (f"history database {path} stayed locked by another process for over {timeout_s:g} s "
                f"({what}); retry, or find the holder with `fuser {path}`")
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


def _decode(row: dict[str, Any]) -> dict[str, Any]:
    for key in _JSON_COLUMNS:
        if isinstance(row.get(key), str):
            row[key] = json.loads(row[key])
    return row


def _redact_obj(obj: Any, redact: Redactor) -> Any:
    """Every string in a JSON-like structure (keys too) passed through the redactor."""
    if isinstance(obj, str):
        return redact(obj)
    if isinstance(obj, dict) or hasattr(obj, "items"):
        return {redact(str(k)): _redact_obj(v, redact) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_redact_obj(v, redact) for v in obj]
    return obj


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _current_user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return str(os.getuid()) if hasattr(os, "getuid") else "unknown"
