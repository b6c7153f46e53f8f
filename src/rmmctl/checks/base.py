"""Findings, severities and thresholds shared by every check. Pure data, no I/O."""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from rmmctl.errors import ConfigError
from rmmctl.models import Status


class Severity(str, enum.Enum):
    """How bad a finding is; maps to the host status warn/crit."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"

    def __str__(self) -> str:
        return self.value


_SEVERITY_STATUS = {Severity.INFO: Status.OK, Severity.WARNING: Status.WARN, Severity.CRITICAL: Status.CRIT}
_ORDER = [Severity.INFO, Severity.WARNING, Severity.CRITICAL]


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem found on a host, with the evidence quoted from its facts and how to fix it."""

    check_id: str
    severity: Severity
    title: str
    evidence: tuple[str, ...] = ()
    remediation: str = ""
    playbook: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"check_id": self.check_id, "severity": self.severity.value, "title": self.title,
                "evidence": list(self.evidence), "remediation": self.remediation, "playbook": self.playbook}


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
    """

    id: str
    title: str
    sections: tuple[str, ...]
    rule: Rule
    thresholds: Mapping[str, float] = field(default_factory=dict)
    params_fn: ParamsFn | None = None
    vars: Mapping[str, Any] = field(default_factory=dict)

    def evaluate(self, facts: Mapping[str, Any], thresholds: Mapping[str, float],
                 host_vars: Mapping[str, Any]) -> Iterator[Finding]:
        """The rule's findings."""
        return self.rule(facts, thresholds, host_vars)

    def params(self, host_vars: Mapping[str, Any], host: str = "") -> Mapping[str, Any]:
        """Probe parameters this check needs for one host ({} for most)."""
        return self.params_fn(host_vars, host) if self.params_fn else {}


def section(facts: Mapping[str, Any], name: str) -> Mapping[str, Any] | None:
    """A section's facts, or None when it is missing or unavailable."""
    data = facts.get(name)
    return data if isinstance(data, Mapping) and "unavailable" not in data else None


def level(value: float | None, warn: float, crit: float) -> Severity | None:
    """CRITICAL at or above crit, WARNING at or above warn, else None (also for no value)."""
    if value is None:
        return None
    return Severity.CRITICAL if value >= crit else Severity.WARNING if value >= warn else None


def stamp(epoch: float) -> str:
    """Unix time -> `2026-11-22 04:31 UTC`."""
    return dt.datetime.fromtimestamp(float(epoch), dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


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
