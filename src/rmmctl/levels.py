"""Syslog severities: the one list of level names and the one alias table, used everywhere.

The journal (PRIORITY), syslog files (`facility.level`), `rmmctl logs --level`, the probe's `-p N` and
the logs schema all speak these names. Windows event levels will map onto them too.
"""

from __future__ import annotations

LEVELS: tuple[str, ...] = ("emerg", "alert", "crit", "err", "warning", "notice", "info", "debug")
"""Syslog severities by number (0 = emerg ... 7 = debug), the names journalctl and syslog use."""

ALIASES: dict[str, str] = {"panic": "emerg", "emergency": "emerg", "critical": "crit", "error": "err",
                           "warn": "warning"}
"""Other spellings people and tools use (rsyslog's `panic`/`error`/`warn`, `critical`) -> the name."""

DEFAULT_LEVEL = "info"
"""The level of an entry whose priority is missing or not a syslog number."""


def canonical(name: str) -> str:
    """A level name or alias, any case -> its name in LEVELS; anything else is a ValueError naming them."""
    key = ALIASES.get(name.strip().lower(), name.strip().lower())
    if key not in LEVELS:
        raise ValueError(f"unknown log level {name!r}; expected one of {', '.join(LEVELS)}")
    return key


def level_number(name: str) -> int:
    """A level name or alias -> its syslog number (emerg 0 ... debug 7)."""
    return LEVELS.index(canonical(name))


def level_name(priority: int | str | None) -> str:
    """A syslog priority (0-7, or a digit string) -> its name; anything else -> DEFAULT_LEVEL."""
    try:
        number = int(priority)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return DEFAULT_LEVEL
    return LEVELS[number] if 0 <= number < len(LEVELS) else DEFAULT_LEVEL


def names_regex() -> str:
    """Every name and alias as a regex alternation (longest first), for parsers of `facility.level`."""
    return "|".join(sorted({*LEVELS, *ALIASES}, key=len, reverse=True))
