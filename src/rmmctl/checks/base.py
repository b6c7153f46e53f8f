"""Findings, severities and thresholds shared by every check. Pure data, no I/O."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from rmmctl.errors import ConfigError
from rmmctl.facts import section  # noqa: F401 - THE availability rule, re-exported for the check modules
from rmmctl.formats import iso_utc
from rmmctl.models import Finding, Severity, Status  # Finding and Severity live with the typed results

PLAYBOOK_NAMES = ("disk-cleanup", "os-updates", "security-updates", "reboot-if-required", "printer-repair",
                  "av-update", "backup-verify", "trim", "windows-updates", "windows-spooler-repair",
                  "windows-printer-driver", "windows-maintenance")
"""The shipped playbooks a finding may name as `Finding.playbook` (src/rmmctl/data/playbooks/NAME.yaml)."""

_SEVERITY_STATUS = {Severity.INFO: Status.OK, Severity.WARNING: Status.WARN, Severity.CRITICAL: Status.CRIT}
_ORDER = [Severity.INFO, Severity.WARNING, Severity.CRITICAL]


def worst_status(findings: Iterable[Finding]) -> Status:
    """The host status implied by its findings: ok, warn or crit."""
    worst = max((f.severity for f in findings), key=_ORDER.index, default=Severity.INFO)
    return _SEVERITY_STATUS[worst]


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Default thresholds, overridden per client/site/group/host through inventory vars of the same name."""

    defaults: Mapping[str, float] = field(default_factory=dict)

    def resolve(self, host_vars: Mapping[str, Any], host: str = "") -> dict[str, float]:
        """Merge a host's vars over the defaults; a non-numeric override is a config error naming the key."""
        out = dict(self.defaults)
        for key in self.defaults:
            if key in host_vars:
                value = host_vars[key]
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    raise ConfigError(f"{host}: vars.{key} must be a number, got {value!r}")
                if not math.isfinite(value):  # .nan never compares, .inf never fires: the check would go silent
                    raise ConfigError(f"{host}: vars.{key} must be a finite number, got {value!r}")
                out[key] = float(value)
        return out


Rule = Callable[[Mapping[str, Any], Mapping[str, float], Mapping[str, Any]], Iterator[Finding]]
ParamsFn = Callable[[Mapping[str, Any], str], Mapping[str, Any]]


@dataclass(frozen=True)
class RuleCheck:
    """A check made of one rule over (facts, thresholds, host vars), with optional per-host probe parameters.

    This is the registry's Check shape; every built-in check is one of these. `thresholds` are the
    numeric inventory vars it reads (resolved for the rule); `vars` every other inventory var the rule
    or params_fn reads, with the default the code uses when it is unset (None: unset means off).
    `playbooks` names every shipped playbook (src/rmmctl/data/playbooks/NAME.yaml) its findings may carry
    as `Finding.playbook` (what `diagnose --fix` runs); tests/unit/test_finding_playbooks.py keeps it true.
    """

    id: str
    title: str
    sections: tuple[str, ...]
    rule: Rule
    thresholds: Mapping[str, float] = field(default_factory=dict)
    params_fn: ParamsFn | None = None
    vars: Mapping[str, Any] = field(default_factory=dict)
    playbooks: tuple[str, ...] = ()

    def evaluate(self, facts: Mapping[str, Any], thresholds: Mapping[str, float],
                 host_vars: Mapping[str, Any]) -> Iterator[Finding]:
        """The rule's findings."""
        return self.rule(facts, thresholds, host_vars)

    def params(self, host_vars: Mapping[str, Any], host: str = "") -> Mapping[str, Any]:
        """Probe parameters this check needs for one host ({} for most)."""
        return self.params_fn(host_vars, host) if self.params_fn else {}


def said(value: Any, none: str = "unknown") -> str:
    """A fact as evidence text for people: yes/no for booleans, `none` for a missing value, never "None"."""
    if value is None or value == "":
        return none
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def capped_evidence(lines: Iterable[str], total: int | None = None, limit: int = 20) -> tuple[str, ...]:
    """At most `limit` evidence lines, then "... and N more" when there were more (of `total`, if given)."""
    items = list(lines)
    shown = tuple(items[:limit])
    hidden = (len(items) if total is None else max(total, len(items))) - len(shown)
    return shown + ((f"... and {hidden} more",) if hidden > 0 else ())


def level(value: float | None, warn: float, crit: float) -> Severity | None:
    """CRITICAL at or above crit, WARNING at or above warn, else None (also for no value)."""
    if value is None:
        return None
    return Severity.CRITICAL if value >= crit else Severity.WARNING if value >= warn else None


def stamp(epoch: float) -> str:
    """Unix time in evidence: rmmctl's one timestamp format, `2026-11-22T04:31:00.000Z` (formats.iso_utc)."""
    return iso_utc(float(epoch))


def as_list(value: Any, key: str, host: str = "") -> list[str]:
    """An inventory var that must be a list of strings (None: empty)."""
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(bad_var(host, key, "must be a list of strings", value))
    return value


def bad_var(host: str, key: str, what: str, value: Any) -> str:
    """The one-line config error for an inventory var: `web01: vars.KEY WHAT, got VALUE`."""
    return f"{host + ': ' if host else ''}vars.{key} {what}, got {value!r}"
