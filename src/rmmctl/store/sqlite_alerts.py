"""The alert state methods of the SQLite store (a mixin of SQLiteStore; schema in sqlite_schema.py).

Rows go in and out as plain dicts with unix times (floats) and `pending`/`evidence` decoded; the
store keeps ISO text. `rmmctl.alerts` decides, this only keeps.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from rmmctl.store.common import db_time, from_db_time

_TIMES = ("first_seen", "last_seen", "opened_at", "first_sent_at", "last_sent_at", "resolved_at", "resolve_sent_at")
_COLUMNS = ("host", "finding_key", "rule", "check_id", "severity", "title", "evidence", "source", "state", "fails",
            *_TIMES, "pending", "last_error")
_INSERT = f"INSERT INTO alerts ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' for _ in _COLUMNS)})"
_UPDATE = f"UPDATE alerts SET {', '.join(c + ' = ?' for c in _COLUMNS)} WHERE id = ?"
_SEND_COLUMNS = ("at", "channel", "ok", "test", "new", "realert", "resolved", "error")


def _to_db(row: Mapping[str, Any]) -> tuple[Any, ...]:
    out = []
    for c in _COLUMNS:
        v = row.get(c)
        if c in _TIMES:
            v = db_time(v) if v is not None else None
        elif c == "pending":
            v = json.dumps(dict(v or {}), sort_keys=True)
        elif c == "evidence":
            v = json.dumps(list(v or []))
        elif c == "fails":
            v = int(v or 0)
        out.append(v)
    return tuple(out)


def _from_db(names: Sequence[str], values: Sequence[Any]) -> dict[str, Any]:
    row = dict(zip(names, values))
    for c in _TIMES:
        if row.get(c) is not None:
            row[c] = from_db_time(row[c])
    for c in ("pending", "evidence"):
        if isinstance(row.get(c), str):
            row[c] = json.loads(row[c])
    return row


class AlertStoreMixin:
    """alert_rows / save_alerts / add_alert_send / alert_sends / alert_history for SQLiteStore."""

    def alert_rows(self, states: Sequence[str] = ("pending", "open", "resolved")) -> list[dict[str, Any]]:
        """The live alert rows (not closed), oldest first."""
        marks = ", ".join("?" for _ in states)
        return self._alert_query(f"SELECT * FROM alerts WHERE state IN ({marks}) ORDER BY id", tuple(states))

    def save_alerts(self, rows: Sequence[Mapping[str, Any]], drop: Sequence[int] = ()) -> None:
        """Write alert rows in one transaction: a row with an `id` is updated, one without is inserted;
        the ids in `drop` are deleted (problems that went away before they ever alerted)."""
        def write(c: Any) -> None:
            for row in rows:
                if row.get("id") is None:
                    c.execute(_INSERT, _to_db(row))
                else:
                    c.execute(_UPDATE, (*_to_db(row), row["id"]))
            for alert_id in drop:
                c.execute("DELETE FROM alerts WHERE id = ? AND state = 'pending'", (alert_id,))

        self._write("record the alerts", write)  # type: ignore[attr-defined]

    def add_alert_send(self, send: Mapping[str, Any]) -> None:
        """One delivery attempt to one channel: at, channel, ok, test, counts new/realert/resolved, error."""
        values = [send.get(c) for c in _SEND_COLUMNS]
        values[0] = db_time(float(values[0]))
        values[2] = int(bool(values[2]))
        values[3] = int(bool(values[3]))
        values[4:7] = [int(v or 0) for v in values[4:7]]
        sql = f"INSERT INTO alert_sends ({', '.join(_SEND_COLUMNS)}) VALUES ({', '.join('?' for _ in _SEND_COLUMNS)})"
        self._write("record the alert send", lambda c: c.execute(sql, tuple(values)))  # type: ignore[attr-defined]

    def alert_sends(self, limit: int = 50) -> list[dict[str, Any]]:
        """The latest delivery attempts, newest first."""
        rows = self._alert_query("SELECT * FROM alert_sends ORDER BY id DESC LIMIT ?", (int(limit),))
        for row in rows:
            row["at"] = from_db_time(row["at"]) if isinstance(row["at"], str) else row["at"]
            row["ok"], row["test"] = bool(row["ok"]), bool(row["test"])
        return rows

    def alert_history(self, limit: int = 50, host: str | None = None) -> list[dict[str, Any]]:
        """Every alert row, open or closed, the most recent first."""
        where, args = ("WHERE host = ?", (host,)) if host else ("", ())
        return self._alert_query(f"SELECT * FROM alerts {where} ORDER BY id DESC LIMIT ?", (*args, int(limit)))

    def _alert_query(self, sql: str, args: tuple[Any, ...]) -> list[dict[str, Any]]:
        def query(c: Any) -> list[dict[str, Any]]:
            cur = c.execute(sql, args)
            names = [d[0] for d in cur.description]
            return [_from_db(names, row) for row in cur.fetchall()]

        return self._read("read the alerts", query)  # type: ignore[attr-defined]
