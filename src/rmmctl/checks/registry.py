"""The check registry: built-in checks plus third-party ones from the `rmmctl.checks` entry point group.

A check is any object with these attributes (a class with ClassVars and a staticmethod works):

    id: str                      # "disk.space" -- group "disk" is the part before the first dot
    title: str                   # one line, for `rmmctl diagnose --list`
    sections: tuple[str, ...]    # probe sections it needs (see rmmctl.probes.linux.SECTIONS)
    thresholds: Mapping[str, float]   # defaults; inventory vars of the same names override them
    evaluate(facts, thresholds, host_vars) -> Iterable[Finding]   # pure: no I/O, no clock
    params(host_vars, host) -> Mapping[str, str | list[str]]     # optional: per-host probe parameters
    vars: Mapping[str, Any]      # optional: every other inventory var it reads -> its default (--list shows them)
    playbooks: tuple[str, ...]   # optional: shipped playbooks its findings may name (Finding.playbook, diagnose --fix)

Selection: `Registry.select(["printers", "disk.space"])` (the one registry: checks.catalog.CHECKS) takes
check ids or groups; nothing = all.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from importlib.metadata import entry_points
from typing import Any, Protocol, runtime_checkable

from rmmctl.checks.base import Finding, Thresholds
from rmmctl.errors import ConfigError

log = logging.getLogger(__name__)

GROUP = "rmmctl.checks"


@runtime_checkable
class Check(Protocol):
    """What the registry holds (see the module docstring)."""

    id: str
    title: str
    sections: tuple[str, ...]
    thresholds: Mapping[str, float]

    def evaluate(self, facts: Mapping[str, Any], thresholds: Mapping[str, float],
                 host_vars: Mapping[str, Any]) -> Iterable[Finding]: ...


class PluginError(ConfigError):
    """Two checks claim one id, or a check does not have the shape of a Check."""


class Registry:
    """Built-ins first, then entry points, loaded once, lazily; ids are unique."""

    def __init__(self, group: str, builtins: Sequence[Any]) -> None:
        self.group = group
        self._builtins = list(builtins)
        self._checks: dict[str, Check] | None = None

    def all(self) -> list[Check]:
        """Every registered check, built-ins first, in registration order."""
        if self._checks is None:
            self._checks = {}
            for check in self._builtins:
                self._add(check, "built-in")
            for ep in entry_points(group=self.group):
                self._load(ep)
        return list(self._checks.values())

    def get(self, check_id: str) -> Check:
        for check in self.all():
            if check.id == check_id:
                return check
        raise ConfigError(f"unknown check {check_id!r}; known: {', '.join(c.id for c in self.all())}")

    def select(self, names: Sequence[str] = ()) -> list[Check]:
        """Checks by id or group (the id's first dotted part); no names = every check."""
        checks = self.all()
        if not names:
            return checks
        out: list[Check] = []
        for name in names:
            found = [c for c in checks if c.id == name or c.id.split(".")[0] == name]
            if not found:
                groups = sorted({c.id.split(".")[0] for c in checks})
                raise ConfigError(f"unknown check or group {name!r}; groups: {', '.join(groups)}; "
                                  "list every check with `rmmctl diagnose --list`")
            out.extend(c for c in found if c not in out)
        return out

    def _add(self, check: Any, origin: str) -> None:
        if not isinstance(check, Check):
            raise PluginError(f"{origin}: {check!r} is not a check (needs id, title, sections, thresholds, evaluate)")
        assert self._checks is not None
        if check.id in self._checks:
            raise PluginError(f"{origin}: check id {check.id!r} is already registered")
        self._checks[check.id] = check

    def _load(self, ep: Any) -> None:
        try:
            self._add(ep.load(), f"entry point {ep.name} ({ep.value})")
        except PluginError:
            raise
        except Exception as exc:  # noqa: BLE001 - a broken plugin is reported and skipped, never fatal
            log.warning("check plugin %s (%s) failed to load, skipped: %s", ep.name, ep.value, exc)


def sections_for(checks: Iterable[Check]) -> tuple[str, ...]:
    """The probe sections these checks need, de-duplicated, in first-seen order."""
    out: list[str] = []
    for check in checks:
        out.extend(s for s in check.sections if s not in out)
    return tuple(out)


def params_for(checks: Iterable[Check], host_vars: Mapping[str, Any], host: str = "") -> dict[str, Any]:
    """The probe parameters these checks need for one host (from a check's optional `params(host_vars, host)`).

    Lists from several checks are concatenated (de-duplicated); for a string, the last check wins.
    """
    out: dict[str, Any] = {}
    for check in checks:
        fn = getattr(check, "params", None)
        for key, value in (fn(host_vars, host) if callable(fn) else {}).items():
            if isinstance(value, (list, tuple)) and isinstance(out.get(key), list):
                out[key].extend(v for v in value if v not in out[key])
            else:
                out[key] = list(value) if isinstance(value, (list, tuple)) else value
    return out


def run_checks(checks: Iterable[Check], facts: Mapping[str, Any], host_vars: Mapping[str, Any],
               host: str = "") -> list[Finding]:
    """Every finding of these checks on one host's facts, thresholds from its vars."""
    findings: list[Finding] = []
    for check in checks:
        thresholds = Thresholds(check.thresholds).resolve(host_vars, host)
        findings.extend(check.evaluate(facts, thresholds, host_vars))
    return findings
