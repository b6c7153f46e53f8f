"""The SQLite history database's schema (MIGRATIONS, append only) and the SQLite statements the store
runs (UPSERTs with ON CONFLICT, partial-index targets): with rmmctl.store.sqlite, the only place SQLite
dialect lives (tests/unit/test_store_url.py). A PostgreSQL store brings its own (docs/history.md).
"""

from __future__ import annotations

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
    (
        # Playbook runs: the playbook a `play` run ran (its absolute path: `-l @last-failed` finds the
        # last run of it), and one narrow row per task per host (`history show` reads the failed ones).
        "ALTER TABLE runs ADD COLUMN playbook TEXT",
        "CREATE INDEX runs_playbook ON runs (playbook, id)",
        """CREATE TABLE task_results (
            run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
            host TEXT NOT NULL,
            position INTEGER NOT NULL,
            task_index INTEGER NOT NULL,
            handler INTEGER NOT NULL,
            name TEXT NOT NULL,
            module TEXT NOT NULL,
            status TEXT NOT NULL,
            changed INTEGER NOT NULL,
            message TEXT NOT NULL,
            duration_s REAL NOT NULL,
            PRIMARY KEY (run_id, host, position)
        )""",
    ),
    (
        # Alerts (docs/alerts.md): one row per problem per rule while it lives (host, finding key, rule),
        # with its consecutive failures, when it opened, was sent, resolved, and what is still to send
        # (`pending`: channel -> "new" | "realert" | "resolved"). Closed rows are the alert history.
        # Self-contained (IF NOT EXISTS): branches adding migrations are renumbered at merge.
        """CREATE TABLE IF NOT EXISTS alerts (
            id INTEGER PRIMARY KEY,
            host TEXT NOT NULL,
            finding_key TEXT NOT NULL,
            rule TEXT NOT NULL,
            check_id TEXT NOT NULL,
            severity TEXT NOT NULL,
            title TEXT NOT NULL,
            evidence TEXT NOT NULL DEFAULT '[]',
            source TEXT NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('pending', 'open', 'resolved', 'closed')),
            fails INTEGER NOT NULL,
            first_seen TEXT NOT NULL,
            last_seen TEXT NOT NULL,
            opened_at TEXT,
            first_sent_at TEXT,
            last_sent_at TEXT,
            resolved_at TEXT,
            resolve_sent_at TEXT,
            pending TEXT NOT NULL DEFAULT '{}',
            last_error TEXT
        )""",
        "CREATE UNIQUE INDEX IF NOT EXISTS alerts_live ON alerts (host, finding_key, rule) WHERE state != 'closed'",
        "CREATE INDEX IF NOT EXISTS alerts_state ON alerts (state, id)",
        """CREATE TABLE IF NOT EXISTS alert_sends (
            id INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            channel TEXT NOT NULL,
            ok INTEGER NOT NULL,
            test INTEGER NOT NULL DEFAULT 0,
            new INTEGER NOT NULL DEFAULT 0,
            realert INTEGER NOT NULL DEFAULT 0,
            resolved INTEGER NOT NULL DEFAULT 0,
            error TEXT
        )""",
    ),
)


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
_INSERT_TASK = (
    "INSERT INTO task_results (run_id, host, position, task_index, handler, name, module, status, changed, message,"
    " duration_s) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_OLD_RUNS = "SELECT id FROM runs WHERE started_at < ?"
_DROP_EMPTY_SERIES = "DELETE FROM series WHERE NOT EXISTS (SELECT 1 FROM samples WHERE series_id = series.id)"
