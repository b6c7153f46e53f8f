"""A4: the store seam. `open_store(url)` for every accepted form, the SQLite store satisfies the
`HistoryStore` protocol, callers depend on the protocol only, and SQLite-only code stays in store/sqlite.py (and its schema,
store/sqlite_schema.py).
"""

from __future__ import annotations

import ast
import re
import sqlite3
from pathlib import Path

import pytest

import rmmctl
from rmmctl.errors import ConfigError
from rmmctl.store import HistoryStore, open_store, parse_store_url
from rmmctl.store.sqlite import SQLiteStore

SRC = Path(rmmctl.__file__).parent


def test_every_accepted_form_opens_the_same_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "my dir" / "h.db"
    monkeypatch.chdir(tmp_path)
    forms = [str(db), db, f"sqlite://{db}",  # a bare path, a Path, sqlite:///absolute/path
             "sqlite:" + str(db.relative_to(tmp_path)),  # sqlite:relative/path
             f"sqlite://{tmp_path}/my%20dir/h.db",  # percent-encoded
             f"sqlite:////{str(db).lstrip('/')}",  # SQLAlchemy's four slashes
             f"sqlite://{db}?timeout=2.5"]
    for form in forms:
        with open_store(form) as s:
            assert isinstance(s, HistoryStore)
            assert Path(s.location).resolve() == db.resolve(), form
            s.begin_run("status", [str(form)])
    with open_store(db) as s:
        assert len(s.runs(limit=100)) == len(forms)


def test_the_default_is_rmmctl_db_as_a_path_or_a_url_then_xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RMMCTL_DB", str(tmp_path / "env.db"))
    assert parse_store_url(None).path == tmp_path / "env.db"
    monkeypatch.setenv("RMMCTL_DB", f"sqlite://{tmp_path}/url.db?timeout=1")
    assert parse_store_url(None).path == tmp_path / "url.db" and parse_store_url("").options == {"timeout": "1"}
    monkeypatch.delenv("RMMCTL_DB")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    with open_store() as s:
        assert s.location == str(tmp_path / "xdg" / "rmmctl" / "rmmctl.db")


@pytest.mark.parametrize(("url", "says"), [
    ("postgresql://rmm:secret@db.example/rmm", "postgresql:// is not available yet"),
    ("postgres://db.example/rmm", "not available yet"),
    ("mysql://db.example/rmm", "unknown scheme 'mysql'; supported: sqlite:///PATH or a file path"),
    ("sqlite://host/h.db", "names no host"),
    ("sqlite:", "no file path"),
    ("sqlite:///x.db?journal=off", "unknown option 'journal'"),
    ("sqlite:///x.db?timeout=-1", "expected seconds from 0 to 3600"),
    ("sqlite:///x.db?timeout=inf", "expected seconds from 0 to 3600"),
])
def test_bad_urls_are_one_line_config_errors(url: str, says: str) -> None:
    with pytest.raises(ConfigError) as info:
        open_store(url)
    assert says in str(info.value) and "\n" not in str(info.value)
    assert "secret" not in str(info.value)  # a URL's password is never echoed


def test_the_sqlite_store_implements_every_protocol_method_with_the_same_signature() -> None:
    import inspect

    for name, member in vars(HistoryStore).items():
        if name.startswith("_") and name not in ("__enter__", "__exit__"):
            continue
        if callable(member):
            impl = getattr(SQLiteStore, name)
            want = [p.name for p in inspect.signature(member).parameters.values()]
            assert [p.name for p in inspect.signature(impl).parameters.values()] == want, name


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return names


def test_callers_depend_on_the_protocol_only() -> None:
    offenders = []
    for path in SRC.rglob("*.py"):
        if path.parent.name == "store" and path.parent.parent == SRC:
            continue
        used = _imports(path)
        if any(n.startswith("rmmctl.store.sqlite") or n in ("rmmctl.store.Store", "rmmctl.store.SQLiteStore")
               for n in used):
            offenders.append(path.relative_to(SRC).as_posix())
    assert offenders == []


SQLITE_ONLY = re.compile(r"\bPRAGMA\b|lastrowid|CREATE TRIGGER|RAISE\(ABORT|BEGIN IMMEDIATE|database is locked"
                         r"|sqlite_errorcode|journal_mode|busy_timeout")


def test_sqlite_only_code_lives_in_store_sqlite() -> None:
    found = sorted(p.relative_to(SRC).as_posix() for p in SRC.rglob("*.py") if SQLITE_ONLY.search(p.read_text()))
    assert found == ["store/sqlite.py", "store/sqlite_schema.py"]


def test_the_url_a_locked_message_suggests_opens_the_same_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                               ) -> None:
    from rmmctl.store.sqlite import explain

    monkeypatch.chdir(tmp_path)
    locked = sqlite3.OperationalError("database is locked")
    for path in (tmp_path / "a dir?" / "h%.db", Path("rel") / "h.db"):
        message = explain(path, locked, 10)
        suggested = message.split("--db '")[1].split("'")[0]
        assert parse_store_url(suggested).path == path and parse_store_url(suggested).options == {"timeout": "60"}
