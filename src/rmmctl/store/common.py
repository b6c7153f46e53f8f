"""What every history store shares, whatever its database: the default location, the stored time text,
the retention setting, JSON columns, run ids and who is running. No SQL here (that is in the
implementations: store/sqlite.py)."""

from __future__ import annotations

import datetime as dt
import getpass
import json
import os
import re
from pathlib import Path
from typing import Any

from rmmctl.errors import ConfigError

DAY_S = 86400.0
DEFAULT_RETENTION_DAYS = 90
MAX_RETENTION_DAYS = 36500  # 100 years: far past any need, and the cutoff date stays representable
RETENTION_ENV = "RMMCTL_RETENTION_DAYS"
JSON_COLUMNS = ("argv", "counts", "data")
MAX_ID = 2**63 - 1  # run ids are signed 64-bit integers in SQLite and PostgreSQL (BIGINT) alike


def default_db_path() -> Path:
    """$RMMCTL_DB, else $XDG_STATE_HOME/rmmctl/rmmctl.db (XDG_STATE_HOME defaults to ~/.local/state)."""
    if os.environ.get("RMMCTL_DB"):
        return Path(os.environ["RMMCTL_DB"]).expanduser()
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state).expanduser() / "rmmctl" / "rmmctl.db"


def db_time(ts: float) -> str:
    """Unix time -> the stored form: fixed-width ISO-8601 UTC with microseconds and Z. It sorts as text in
    every database. (Output is formats.iso_utc, milliseconds; this is storage only.)"""
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def from_db_time(text: str) -> float:
    """The inverse of db_time: the stored text -> unix time."""
    return dt.datetime.fromisoformat(text[:-1] + "+00:00").timestamp()


def retention_days(days: int | None = None) -> int:
    """The retention setting: `days` if given, else $RMMCTL_RETENTION_DAYS, else 90; whole days from 1 to
    MAX_RETENTION_DAYS. A bad environment value is a one-line ConfigError naming the variable and range."""
    if days is not None:
        if not 1 <= days <= MAX_RETENTION_DAYS:
            raise ValueError(f"retention must be from 1 to {MAX_RETENTION_DAYS} days, not {days}")
        return days
    raw = os.environ.get(RETENTION_ENV, "").strip()
    if not raw:
        return DEFAULT_RETENTION_DAYS
    # ASCII digits only: str.isdigit() also accepts '²', which int() then refuses
    if not re.fullmatch(r"[0-9]{1,12}", raw) or not 1 <= int(raw) <= MAX_RETENTION_DAYS:
        shown = raw if len(raw) <= 40 else raw[:40] + "..."
        raise ConfigError(f"{RETENTION_ENV}={shown!r}: expected whole days from 1 to {MAX_RETENTION_DAYS} "
                          f"(default {DEFAULT_RETENTION_DAYS}); fix or unset it")
    return int(raw)


def valid_id(run_id: int) -> bool:
    """True when `run_id` can be a stored id at all (1 .. 2**63-1); larger ones are simply not there."""
    return isinstance(run_id, int) and 1 <= run_id <= MAX_ID


def decode_json_columns(row: dict[str, Any]) -> dict[str, Any]:
    """Parse the JSON text columns (argv, counts, data) of a row read back."""
    for key in JSON_COLUMNS:
        if isinstance(row.get(key), str):
            row[key] = json.loads(row[key])
    return row


def pid_alive(pid: int) -> bool:
    """True while a process with this id exists (on this machine)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except (OverflowError, ValueError):
        return False
    return True


def current_user() -> str:
    """The login name recorded with runs and audit entries."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return str(os.getuid()) if hasattr(os, "getuid") else "unknown"
