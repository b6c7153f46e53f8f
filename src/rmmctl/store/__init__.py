"""The history store: the `HistoryStore` protocol every caller depends on, and `open_store(url)`.

    store = open_store("sqlite:///var/lib/rmmctl/h.db")   # or a bare path, or None: $RMMCTL_DB / XDG default
    with store, store.lock("cron:status"):
        run_id = store.begin_run("status", argv)
        ...

Implementations: store/sqlite.py (SQLite, the default; what it keeps SQLite-only is listed in its
docstring and in docs/history.md). `postgresql://` is reserved for the shared store that comes later; it
must implement this protocol and nothing else changes. Every method raises `StoreError` (a one-line
message naming the database and the fix), never a driver exception.
"""

from __future__ import annotations

import os
import re
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from rmmctl.errors import ConfigError, RmmctlError, StoreError
from rmmctl.models import HostResult, RunReport
from rmmctl.secrets import Redactor
from rmmctl.store.common import (
    DEFAULT_RETENTION_DAYS,
    MAX_ID,
    MAX_RETENTION_DAYS,
    RETENTION_ENV,
    db_time,
    default_db_path,
    from_db_time,
    retention_days,
)

__all__ = ["DEFAULT_RETENTION_DAYS", "DEFAULT_TIMEOUT_S", "MAX_ID", "MAX_RETENTION_DAYS", "RETENTION_ENV", "HistoryStore",
           "LockHeld", "LockInfo", "StoreError", "StoreURL", "db_time", "default_db_path", "from_db_time",
           "open_store", "parse_store_url", "retention_days"]

DEFAULT_TIMEOUT_S = 10.0
SCHEMES = ("sqlite",)  # implemented
LATER = ("postgresql", "postgres")  # reserved: a shared store, later (docs/history.md)


@dataclass(frozen=True, slots=True)
class LockInfo:
    """Who holds a named lock: pid and machine of the process, since when (unix time)."""

    name: str
    pid: int | None
    host: str | None
    since: float | None

    def describe(self) -> str:
        who = f"pid {self.pid} on {self.host}" if self.pid else "another process"
        return who + (f" since {db_time(self.since)[:19]}Z" if self.since else "")


class LockHeld(RmmctlError):
    """`lock(name)` found the lock held by another process (and it stayed held for the wait given)."""

    def __init__(self, holder: LockInfo, waited_s: float = 0.0) -> None:
        self.holder = holder
        waited = f" (waited {waited_s:g} s)" if waited_s else ""
        super().__init__(f"lock {holder.name!r} is held by {holder.describe()}{waited}")


@runtime_checkable
class HistoryStore(Protocol):
    """What callers may use of a history store. Opened by `open_store`; a context manager that closes it."""

    retention_days: int

    @property
    def location(self) -> str:
        """The database as the user names it in messages: the file path, or the URL without its password."""

    def __enter__(self) -> HistoryStore: ...
    def __exit__(self, *exc: object) -> None: ...
    def close(self) -> None: ...

    # writes: each is one transaction, retried while the database is busy, StoreError after the timeout
    def begin_run(self, command: str, argv: Sequence[str], *, playbook: str | None = None) -> int: ...
    def add_host_result(self, run_id: int, result: HostResult, samples: Mapping[str, float] | None = None,
                        findings: tuple[Sequence[str], Sequence[Mapping[str, Any]]] | None = None,
                        tasks: Sequence[Mapping[str, Any]] | None = None) -> None: ...
    def record_findings(self, run_id: int, host: str, checks: Sequence[str],
                        findings: Sequence[Mapping[str, Any]]) -> None: ...
    def add_samples(self, run_id: int, host: str, at: float, metrics: Mapping[str, float]) -> int: ...
    def finish_run(self, run_id: int, report: RunReport, exit_code: int) -> None: ...
    def prune(self, older_than_days: int | None = None) -> int: ...
    def prune_samples(self, older_than_days: int) -> int: ...
    def auto_prune(self) -> bool: ...
    def reap_crashed(self) -> int: ...

    # reads
    def runs(self, limit: int = 20, command: str | None = None,
             playbook: str | None = None) -> list[dict[str, Any]]: ...
    def task_results(self, run_id: int, host: str | None = None,
                     status: str | None = None) -> list[dict[str, Any]]: ...
    def run(self, run_id: int) -> dict[str, Any] | None: ...
    def audit_log(self, limit: int = 50, host: str | None = None,
                  run_id: int | None = None) -> list[dict[str, Any]]: ...
    def samples(self, host: str, metric_prefix: str | None = None, since: float | None = None,
                limit: int = 1000) -> list[tuple[float, str, float]]: ...
    def metric_names(self, host: str, metric_prefix: str | None = None) -> list[str]: ...
    def sample_hosts(self) -> list[str]: ...
    def findings(self, host: str | None = None, include_past: bool = False) -> list[dict[str, Any]]: ...
    def finding_hosts(self) -> list[str]: ...
    # period reads (`rmmctl report`): since/until are unix times, the range is [since, until)
    def runs_between(self, since: float, until: float, command: str | None = None) -> list[dict[str, Any]]: ...
    def host_results_between(self, since: float, until: float,
                             host: str | None = None) -> list[dict[str, Any]]: ...
    def findings_between(self, since: float, until: float, host: str | None = None) -> list[dict[str, Any]]: ...
    def integrity_check(self) -> str: ...

    # alerts (docs/alerts.md): rows keyed by (host, finding_key, rule), plain dicts with unix times
    def alert_rows(self, states: Sequence[str] = ("pending", "open", "resolved")) -> list[dict[str, Any]]: ...
    def save_alerts(self, rows: Sequence[Mapping[str, Any]], drop: Sequence[int] = ()) -> None: ...
    def add_alert_send(self, send: Mapping[str, Any]) -> None: ...
    def alert_sends(self, limit: int = 50) -> list[dict[str, Any]]: ...
    def alert_history(self, limit: int = 50, host: str | None = None) -> list[dict[str, Any]]: ...

    # coordination between processes (cron locking)
    def lock(self, name: str, *, wait: float = 0.0) -> AbstractContextManager[LockInfo]:
        """Hold the named lock for the `with` block: taken at once or within `wait` seconds, else LockHeld
        naming the holder. Released on exit, and by the system when the holding process dies."""


@dataclass(frozen=True, slots=True)
class StoreURL:
    """A parsed store location: the scheme, the file path (SQLite) and the options (`?timeout=5`)."""

    scheme: str
    path: Path | None
    options: Mapping[str, str]
    text: str


_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_OPTIONS = {"timeout": "seconds to wait for a busy database, default 10"}


def parse_store_url(url: str | os.PathLike[str] | None) -> StoreURL:
    """`sqlite:///abs/path`, `sqlite:relative/path`, a bare path, or None/"" for the default
    ($RMMCTL_DB, else $XDG_STATE_HOME/rmmctl/rmmctl.db). Anything else: a one-line ConfigError."""
    if url is None or str(url) == "":
        env = os.environ.get("RMMCTL_DB")
        if env and (_URL.match(env) or env.startswith("sqlite:")):
            return parse_store_url(env)
        return StoreURL("sqlite", default_db_path(), {}, str(default_db_path()))
    if isinstance(url, os.PathLike):
        return StoreURL("sqlite", Path(url), {}, str(url))
    text = str(url)
    match = _URL.match(text)
    if not match and not text.startswith("sqlite:"):
        return StoreURL("sqlite", Path(text).expanduser(), {}, text)  # a bare path, as ever
    scheme = (match.group(1) if match else "sqlite").lower()
    supported = "sqlite:///PATH or a file path"
    if scheme in LATER:
        raise ConfigError(f"history database {_safe(text)}: {scheme}:// is not available yet; use {supported}")
    if scheme not in SCHEMES:
        raise ConfigError(f"history database {_safe(text)}: unknown scheme {scheme!r}; supported: {supported}")
    parts = urllib.parse.urlsplit(text)
    if parts.netloc:
        raise ConfigError(f"history database {text}: a sqlite URL names no host (got {parts.netloc!r}); "
                          "write sqlite:///absolute/path or sqlite:relative/path")
    path = urllib.parse.unquote(parts.path)
    if path.startswith("//"):  # sqlite:////abs/path (SQLAlchemy's absolute form)
        path = "/" + path.lstrip("/")
    if not path:
        raise ConfigError(f"history database {text}: no file path; write sqlite:///absolute/path")
    options = dict(urllib.parse.parse_qsl(parts.query, keep_blank_values=True))
    unknown = sorted(set(options) - set(_OPTIONS))
    if unknown:
        known = ", ".join(f"{k}= ({v})" for k, v in _OPTIONS.items())
        raise ConfigError(f"history database {text}: unknown option {unknown[0]!r}; known: {known}")
    return StoreURL("sqlite", Path(path).expanduser(), options, text)


def _safe(text: str) -> str:
    """A URL without its password, for messages."""
    return re.sub(r"(://[^/:@]*:)[^@/]*@", r"\1********@", text)


def _timeout(url: StoreURL, given: float | None) -> float:
    if given is not None:
        return given
    raw = url.options.get("timeout")
    if raw is None:
        return DEFAULT_TIMEOUT_S
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not 0 <= value <= 3600:  # also refuses nan and inf
        raise ConfigError(f"history database {url.text}: timeout={raw!r}: expected seconds from 0 to 3600")
    return value


def open_store(url: str | os.PathLike[str] | None = None, *, redactor: Redactor | None = None,
               timeout_s: float | None = None, clock: Callable[[], float] | None = None,
               retention: int | None = None) -> HistoryStore:
    """Open the history store named by `url` (see parse_store_url): schema created or upgraded, this
    machine's dead runs marked crashed. ConfigError for a bad URL or retention setting, StoreError when the
    database cannot be opened (locked past the timeout, unwritable, corrupt)."""
    parsed = parse_store_url(url)
    from rmmctl.store.sqlite import SQLiteStore

    assert parsed.path is not None
    extra: dict[str, Any] = {"clock": clock} if clock is not None else {}
    return SQLiteStore.open(parsed.path, redactor=redactor, timeout_s=_timeout(parsed, timeout_s),
                            retention=retention, **extra)


def __getattr__(name: str) -> Any:
    """`rmmctl.store.Store` and `MIGRATIONS`: the SQLite implementation, for code written before the protocol."""
    if name in ("Store", "SQLiteStore", "MIGRATIONS"):
        from rmmctl.store import sqlite

        return getattr(sqlite, "SQLiteStore" if name == "Store" else name)
    raise AttributeError(f"module 'rmmctl.store' has no attribute {name!r}")

