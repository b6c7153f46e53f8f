"""Probe checks: probe sections that failed, so a missing answer is a warning, never silence. Pure."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from rmmctl.checks.base import Finding, RuleCheck, Severity


def incomplete_rule(facts: Mapping[str, Any], t: Mapping[str, float], _v: Mapping[str, Any]) -> Iterator[Finding]:
    errors = facts.get("errors") or {}
    if errors:
        yield Finding("probe.incomplete", Severity.WARNING, f"{len(errors)} probe section(s) failed",
                      tuple(errors.values()), "run `rmmctl metrics HOST -v` to see the failing section")


INCOMPLETE = RuleCheck("probe.incomplete", "probe sections that failed", (), incomplete_rule)
