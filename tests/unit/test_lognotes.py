"""What a logs result could not see, in words (rmmctl.lognotes): the captured logs fixtures in, notes out."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rmmctl.lognotes import blind, nothing_notes, source_notes

LOGS = Path(__file__).resolve().parents[1] / "fixtures" / "probes" / "logs"


def fixture(case: str) -> dict[str, Any]:
    return json.loads((LOGS / f"{case}.json").read_text(encoding="utf-8"))


def notes(logs: dict[str, Any], kept: int | None = None, filters: str = "") -> list[str]:
    found = len(logs.get("entries", []))
    return source_notes(logs) + nothing_notes(logs, found, found if kept is None else kept, filters)


def test_a_journal_read_normally_says_nothing() -> None:
    assert notes(fixture("journal-real")) == [] and not blind(fixture("journal-real"))


def test_a_refusing_journal_without_a_file_is_blind() -> None:
    logs = fixture("journal-denied")
    assert blind(logs)
    assert notes(logs) == ["the journal is not readable by root (journalctl: No journal files were opened due to "
                           "insufficient permissions.); no readable /var/log/syslog or /var/log/messages either; add "
                           "root to the systemd-journal or adm group, or log in as root"]


def test_the_fallback_file_is_named() -> None:
    logs = fixture("journal-hint-fallback")
    assert not blind(logs) and "; read /var/log/syslog instead;" in notes(logs)[0]


def test_counts_below_the_level_name_the_level_that_shows_them() -> None:
    [note] = notes(fixture("journal-below"))
    assert note.endswith("4 less severe (1 warning, 1 notice, 2 info): see them with --level info")


def test_restricted_unavailable_filtered_and_empty_files() -> None:
    own = {**fixture("journal-real"), "restricted": True, "user": "rmm"}
    assert notes(own)[0] == "rmm sees only its own journal entries; add it to the systemd-journal or adm group"
    assert notes({"unavailable": "no systemd journal and no readable /var/log/syslog or /var/log/messages"}) == [
        "no logs could be read: no systemd journal and no readable /var/log/syslog or /var/log/messages"]
    assert blind({"unavailable": "x"})
    filtered = notes(fixture("syslog-plain"), kept=0, filters="--grep nomatch")
    assert filtered == ["none of the 3 entries at err or worse since 2026-12-01T19:54:27.000Z matched --grep nomatch"]
    quiet = {**fixture("syslog-below"), "below_level": {}}
    assert notes(quiet) == ["no entries at any level in /var/log/syslog since 2026-12-01T19:54:27.000Z"]
