"""Backup checks: each path of inventory var backup_paths exists, is fresh and big enough. Pure.

"Now" is the host's own clock as the probe saw it (the backup section's `now`), never the controller's.
A path is a POSIX path (`/srv/backups`) or, for Windows hosts, a drive or UNC path (`D:\\Backups`,
`\\\\nas01\\backup`); a Windows path's findings speak of its backup job in Windows terms and name no playbook
(backup-verify is a POSIX playbook).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from rmmctl.checks.base import Finding, RuleCheck, Severity, bad_var, section, stamp
from rmmctl.errors import ConfigError

_WINDOWS_PATH = re.compile(r"^(?:[A-Za-z]:[\\/]|\\\\[^\\/]+[\\/])")
"""A drive path (`D:\\Backups`) or a UNC path (`\\\\nas01\\backup`)."""


def windows_path(path: str) -> bool:
    return bool(_WINDOWS_PATH.match(path))


@dataclass(frozen=True)
class BackupTarget:
    """One entry of inventory var backup_paths, with its own or the default limits."""

    path: str
    max_age_hours: float
    min_bytes: float


def backup_targets(value: Any, defaults: Mapping[str, float], host: str = "") -> list[BackupTarget]:
    """Inventory var backup_paths: a list of absolute paths or of {path, max_age_hours, min_bytes}."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise ConfigError(bad_var(host, "backup_paths", "must be a list", value))
    return [_target(item, i, defaults, host) for i, item in enumerate(value)]


def _target(item: Any, i: int, defaults: Mapping[str, float], host: str) -> BackupTarget:
    key = f"backup_paths[{i}]"
    if isinstance(item, str):
        item = {"path": item}
    if not isinstance(item, Mapping) or set(item) - {"path", "max_age_hours", "min_bytes"}:
        raise ConfigError(bad_var(host, key, "must be a path or {path, max_age_hours, min_bytes}", item))
    path = item.get("path")
    if not isinstance(path, str) or not (path.startswith("/") or windows_path(path)) or "\n" in path:
        raise ConfigError(bad_var(host, f"{key}.path", "must be an absolute path (/srv/backups, D:\\Backups or "
                                  "\\\\server\\share)", path))
    limits = {}
    for name, var in (("max_age_hours", "backup_max_age_hours"), ("min_bytes", "backup_min_bytes")):
        got = item.get(name, defaults.get(var, 0.0))
        if isinstance(got, bool) or not isinstance(got, (int, float)):
            raise ConfigError(bad_var(host, f"{key}.{name}", "must be a number", got))
        limits[name] = float(got)
    return BackupTarget(path, limits["max_age_hours"], limits["min_bytes"])


def backup_params(hv: Mapping[str, Any], host: str = "") -> dict[str, Any]:
    """BACKUP_PATHS for the probe: the paths of inventory var backup_paths."""
    targets = backup_targets(hv.get("backup_paths"), {"backup_max_age_hours": 0, "backup_min_bytes": 0}, host)
    return {"BACKUP_PATHS": [tg.path for tg in targets]} if targets else {}


def backup_rule(facts: Mapping[str, Any], t: Mapping[str, float], hv: Mapping[str, Any]) -> Iterator[Finding]:
    """Each backup path: exists, newest file younger than max_age_hours and at least min_bytes."""
    data = section(facts, "backup")
    targets = backup_targets(hv.get("backup_paths"), t)
    if data is None or not targets:
        return
    seen = {p["path"]: p for p in data.get("paths", [])}
    for tg in targets:
        entry = seen.get(tg.path)
        if entry is None:
            yield Finding("backup.freshness", Severity.WARNING, f"backup {tg.path} was not probed",
                          (f"the probe's backup section has no entry for {tg.path}",),
                          "run it through `rmmctl diagnose`, which sends the backup paths to the probe")
        else:
            yield from _backup_findings(tg, entry, int(data["now"]))


# (the POSIX fix, the Windows fix) of each problem
_NOT_RUN = ("check the backup job (its schedule, its log, the target mount) and run it now",
            "check the backup job (its scheduled task or the backup software's console and log, the target drive or "
            "share and the account it writes with) and run it now")
_STALE = ("the backup job has not run or not finished: check its schedule and its log",
          "the backup job has not run or not finished: check its scheduled task (`Get-ScheduledTaskInfo`) or the "
          "backup software's job history, and the Application log for its errors")
_SMALL = ("the backup wrote an empty or truncated file: read the backup job's log and run it again",
          "the backup wrote an empty or truncated file: read the backup software's job log (and the Application "
          "log) and run it again")


def _backup_findings(tg: Any, entry: Mapping[str, Any], now: int) -> Iterator[Finding]:
    for sev, title, evidence, fixes in _problems(tg, entry, now):
        if windows_path(tg.path):
            yield Finding("backup.freshness", sev, title, evidence, fixes[1])
        else:
            yield Finding("backup.freshness", sev, title, evidence, fixes[0], "backup-verify")


def _problems(tg: Any, entry: Mapping[str, Any], now: int) -> Iterator[tuple[Severity, str, tuple[str, ...],
                                                                             tuple[str, str]]]:
    crit = Severity.CRITICAL
    if entry["kind"] in ("missing", "other"):
        what = "does not exist" if entry["kind"] == "missing" else "is neither a file nor a directory"
        yield crit, f"backup {tg.path} {what}", (f"{tg.path}: {entry['kind']}",), _NOT_RUN
        return
    if entry.get("mtime") is None:
        yield (crit, f"backup directory {tg.path} holds no files",
               (f"{tg.path}: directory with {entry.get('files') or 0} files",), _NOT_RUN)
        return
    name = entry.get("newest") or tg.path
    age_h = (now - int(entry["mtime"])) / 3600
    evidence = ((f"{name}: {entry['size']} bytes, modified {stamp(entry['mtime'])} ({age_h:.1f} h before "
                f"the host's {stamp(now)})"),)
    if age_h > tg.max_age_hours:
        sev = crit if age_h > 3 * tg.max_age_hours else Severity.WARNING
        yield sev, f"backup {tg.path} is {age_h:.0f} h old (max {tg.max_age_hours:g} h)", evidence, _STALE
    if int(entry["size"]) < tg.min_bytes:
        yield crit, f"backup {tg.path} is only {entry['size']} bytes (min {tg.min_bytes:g})", evidence, _SMALL


FRESHNESS = RuleCheck("backup.freshness", "backups missing, stale or too small", ("backup",), backup_rule,
                      {"backup_max_age_hours": 26.0, "backup_min_bytes": 1.0}, backup_params,
                      vars={"backup_paths": []}, playbooks=("backup-verify",))
