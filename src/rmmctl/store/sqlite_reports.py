"""The SQLite store's period reads for `rmmctl report`: runs, host results and findings within a time range.

A mixin of `SQLiteStore` (store/sqlite.py), kept apart so that module stays readable. Plain portable SQL
(the same text runs on PostgreSQL): the stored time text compares as text, so a period is a half-open
text range `[since, until)`. Times are unix seconds in, the stored text out (as every other read).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from rmmctl.store.common import db_time


class PeriodReads:
    """`runs_between`, `host_results_between`, `findings_between` over the store's `_query`."""

    def _query(self, sql: str, args: Sequence[Any]) -> list[dict[str, Any]]:  # provided by SQLiteStore
        raise NotImplementedError

    def runs_between(self, since: float, until: float, command: str | None = None) -> list[dict[str, Any]]:
        """Runs started in `[since, until)`, oldest first, optionally of one command (`play`, `fix`)."""
        sql = ("SELECT id, command, argv, playbook, username, started_at, finished_at, duration_s, status,"
               " exit_code, hosts_total, counts FROM runs WHERE started_at >= ? AND started_at < ?")
        args: list[Any] = [db_time(since), db_time(until)]
        if command:
            sql += " AND command = ?"
            args.append(command)
        return self._query(sql + " ORDER BY started_at, id", args)

    def host_results_between(self, since: float, until: float,
                             host: str | None = None) -> list[dict[str, Any]]:
        """Every host result of the runs started in `[since, until)`, oldest run first (inventory order
        within a run), with its run's `command`, `playbook` and `started_at`; `data` decoded."""
        sql = ("SELECT h.run_id, r.command, r.playbook, r.started_at, h.host, h.address, h.status, h.error_kind,"
               " h.error_message, h.duration_s, h.data FROM host_results h JOIN runs r ON r.id = h.run_id"
               " WHERE r.started_at >= ? AND r.started_at < ?")
        args: list[Any] = [db_time(since), db_time(until)]
        if host is not None:
            sql += " AND h.host = ?"
            args.append(host)
        return self._query(sql + " ORDER BY r.started_at, r.id, h.position IS NULL, h.position, h.id", args)

    def findings_between(self, since: float, until: float, host: str | None = None) -> list[dict[str, Any]]:
        """Findings history rows open at some time in `[since, until)`: first seen before `until` and not
        resolved before `since`; by host, then first seen. `evidence` decoded."""
        sql = ("SELECT id, host, check_id, finding_key, severity, title, evidence, remediation, first_seen, last_seen,"
               " resolved_at, first_run_id, last_run_id, resolved_run_id FROM findings"
               " WHERE first_seen < ? AND (resolved_at IS NULL OR resolved_at >= ?)")
        args: list[Any] = [db_time(until), db_time(since)]
        if host is not None:
            sql += " AND host = ?"
            args.append(host)
        rows = self._query(sql + " ORDER BY host, first_seen, id", args)
        return [{**r, "evidence": json.loads(r["evidence"])} for r in rows]
