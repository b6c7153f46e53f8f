"""What the history store needs besides SQL: its path, time text, retention setting and error wording.

Kept apart from store.py so that module holds the schema and every statement and little else.
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rmmctl.errors import ConfigError, StoreError

DAY_S = 86400.0
DEFAULT_RETENTION_DAYS = 90
RETENTION_ENV = "RMMCTL_RETENTION_DAYS"
JSON_COLUMNS = ("argv", "counts", "data")


def default_db_path() -> Path:
    """$RMMCTL_DB, else $XDG_STATE_HOME/rmmctl/rmmctl.db (XDG_STATE_HOME defaults to ~/.local/state)."""
    if os.environ.get("RMMCTL_DB"):
        return Path(os.environ["RMMCTL_DB"]).expanduser()
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state).expanduser() / "rmmctl" / "rmmctl.db"


def iso_utc(ts: float) -> str:
    """Unix time -> fixed-width ISO-8601 UTC text with microseconds and Z."""
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def unix_time(iso: str) -> float:
    """The inverse of iso_utc: fixed-width ISO-8601 UTC text -> unix time."""
    return dt.datetime.fromisoformat(iso[:-1] + "+00:00").timestamp()


def retention_days(days: int | None = None) -> int:
    """The retention setting: `days` if given, else $RMMCTL_RETENTION_DAYS, else 90; whole days >= 1."""
    if days is not None:
        if days < 1:
            raise ValueError("retention must be at least 1 day")
        return days
    raw = os.environ.get(RETENTION_ENV, "").strip()
    if not raw:
        return DEFAULT_RETENTION_DAYS
    if not raw.isdigit() or int(raw) < 1:
        raise ConfigError(f"{RETENTION_ENV}={raw!r}: expected whole days >= 1 (default "
                          f"{DEFAULT_RETENTION_DAYS}); fix or unset it")
    return int(raw)


def retry_locked(action: Callable[[], object], timeout_s: float, error: type[Exception]) -> None:
    """Run `action`, retrying with back-off while it raises `error` saying "locked", up to timeout_s.

    Switching to WAL needs a moment of exclusive access, and SQLite reports a concurrent opener as busy
    at once, without its busy handler.
    """
    end, pause = time.monotonic() + timeout_s, 0.005
    while True:
        try:
            action()
            return
        except error as exc:
            if "locked" not in str(exc) or time.monotonic() + pause > end:
                raise
            time.sleep(pause)
            pause = min(pause * 2, 0.2)


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
    return True


def current_user() -> str:
    """The login name recorded with runs and audit entries."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return str(os.getuid()) if hasattr(os, "getuid") else "unknown"
