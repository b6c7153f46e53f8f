"""Pure parsers for the Linux probe's backup (inventory paths) and av (ClamAV databases) sections."""

from __future__ import annotations

import re

from rmmctl.facts import AvDatabase, AvFacts, BackupFacts, BackupPathFacts
from rmmctl.probes import ParseError
from rmmctl.probes.linux.bundle import parse_kv, split_parts
from rmmctl.probes.linux.system import lines_of

_KINDS = ("file", "dir", "other", "missing")
# A .cvd/.cld header: "ClamAV-VDB:14 Nov 2026 04-23 +0000:27000:2065812"
_HEADER = re.compile(r"^ClamAV-VDB:([^:]*):(\d+)")


def parse_backup(body: str) -> BackupFacts:
    """`now=` then, per path, `path=`, `kind=` and `stat=MTIME SIZE` (file) or `newest=`/`files=` (dir)."""
    now: int | None = None
    paths: list[BackupPathFacts] = []
    for line in lines_of(body):
        key, sep, value = line.partition("=")
        if not sep:
            continue
        if key == "now":
            now = _int(value, "now")
        elif key == "path":
            paths.append({"path": value, "kind": "missing", "mtime": None, "size": None, "newest": None,
                          "files": None})
        elif paths:
            _apply(paths[-1], key, value)
    if now is None:
        raise ParseError("backup: no `now=` line in the probe output")
    return {"now": now, "paths": paths}


def _apply(entry: BackupPathFacts, key: str, value: str) -> None:
    if key == "kind":
        if value not in _KINDS:
            raise ParseError(f"backup: unknown kind {value!r} for {entry['path']}")
        entry["kind"] = value
    elif key == "stat":
        mtime, size = value.split()[:2]
        entry["mtime"], entry["size"] = _int(mtime, "stat"), _int(size, "stat")
    elif key == "newest":
        mtime, size, name = (value.split(" ", 2) + ["", ""])[:3]
        entry["mtime"], entry["size"], entry["newest"] = _int(mtime, "newest"), _int(size, "newest"), name or None
    elif key == "files":
        entry["files"] = _int(value, "files")


def _int(text: str, what: str) -> int:
    text = text.strip()
    if not text.lstrip("-").isdigit():
        raise ParseError(f"backup/av: {what} is not a number: {text[:40]!r}")
    return int(text)


def parse_av(body: str) -> AvFacts:
    """`now=`, `tools=`, `db_dir=`, `db=MTIME SIZE NAME` and `header=NAME HEADER` lines, a `log_tail` part."""
    head, parts = split_parts(body)
    kv = parse_kv(head)
    if "now" not in kv:
        raise ParseError("av: no `now=` line in the probe output")
    databases: list[AvDatabase] = []
    headers: dict[str, tuple[str | None, int | None]] = {}
    for line in head:
        key, _, value = line.partition("=")
        if key == "db":
            mtime, size, name = (value.split(" ", 2) + ["", ""])[:3]
            databases.append({"name": name, "mtime": _int(mtime, "db"), "size": _int(size, "db"),
                              "version": None, "built": None})
        elif key == "header":
            name, _, text = value.partition(" ")
            match = _HEADER.match(text)
            if match:
                headers[name] = (match.group(1).strip() or None, int(match.group(2)))
    for db in databases:
        db["built"], db["version"] = headers.get(db["name"], (None, None))
    tail = parts.get("log_tail")
    return {
        "engine": "clamav",
        "now": _int(kv["now"], "now"),
        "tools": kv.get("tools", "").split(),
        "db_dir": kv.get("db_dir", ""),
        "databases": databases,
        "log": kv.get("log") or None,
        "log_tail": [line for line in lines_of(tail.text) if line.strip()] if tail else [],
        "defender": None,
    }
