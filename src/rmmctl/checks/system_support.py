"""Shared pieces of the system checks: the SystemCheck shape, fact access, dates, inventory var parsing. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rmmctl.checks.base import RuleCheck as SystemCheck  # noqa: F401 - re-exported: the one check shape
from rmmctl.checks.base import section  # noqa: F401 - re-exported
from rmmctl.errors import ConfigError
from rmmctl.formats import iso_utc


@dataclass(frozen=True)
class BackupTarget:
    """One entry of inventory var backup_paths, with its own or the default limits."""

    path: str
    max_age_hours: float
    min_bytes: float


def stamp(epoch: float) -> str:
    """Unix time in evidence: rmmctl's one timestamp format, `2026-11-22T04:31:00.000Z` (formats.iso_utc)."""
    return iso_utc(float(epoch))


def as_list(value: Any, key: str, host: str = "") -> list[str]:
    """An inventory var that must be a list of strings (None: empty)."""
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(_bad(host, key, "must be a list of strings", value))
    return value


def backup_targets(value: Any, defaults: Mapping[str, float], host: str = "") -> list[BackupTarget]:
    """Inventory var backup_paths: a list of absolute paths or of {path, max_age_hours, min_bytes}."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise ConfigError(_bad(host, "backup_paths", "must be a list", value))
    return [_target(item, i, defaults, host) for i, item in enumerate(value)]


def _target(item: Any, i: int, defaults: Mapping[str, float], host: str) -> BackupTarget:
    key = f"backup_paths[{i}]"
    if isinstance(item, str):
        item = {"path": item}
    if not isinstance(item, Mapping) or set(item) - {"path", "max_age_hours", "min_bytes"}:
        raise ConfigError(_bad(host, key, "must be a path or {path, max_age_hours, min_bytes}", item))
    path = item.get("path")
    if not isinstance(path, str) or not path.startswith("/") or "\n" in path:
        raise ConfigError(_bad(host, f"{key}.path", "must be an absolute path", path))
    limits = {}
    for name, var in (("max_age_hours", "backup_max_age_hours"), ("min_bytes", "backup_min_bytes")):
        got = item.get(name, defaults.get(var, 0.0))
        if isinstance(got, bool) or not isinstance(got, (int, float)):
            raise ConfigError(_bad(host, f"{key}.{name}", "must be a number", got))
        limits[name] = float(got)
    return BackupTarget(path, limits["max_age_hours"], limits["min_bytes"])


def _bad(host: str, key: str, what: str, value: Any) -> str:
    return f"{host + ': ' if host else ''}vars.{key} {what}, got {value!r}"
