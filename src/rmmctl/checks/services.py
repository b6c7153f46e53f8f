"""Service checks: failed services (systemd units on Linux). Pure."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from rmmctl.checks.base import Finding, RuleCheck, Severity, section


def services_rule(facts: Mapping[str, Any], t: Mapping[str, float], _v: Mapping[str, Any]) -> Iterator[Finding]:
    svc = section(facts, "services")
    failed = (svc or {}).get("failed") or []
    if failed:
        sev = Severity.CRITICAL if len(failed) >= t["failed_units_crit"] else Severity.WARNING
        names = ", ".join(u["unit"] for u in failed)
        yield Finding("services.failed", sev, f"{len(failed)} failed unit(s): {names}",
                      tuple(f"{u['unit']} {u.get('load', '')} {u.get('active', '')} {u.get('sub', '')} "
                            f"{u.get('description', '')}".strip() for u in failed),
                      "look at `journalctl -u UNIT`, fix the cause, then `systemctl restart UNIT`")


FAILED = RuleCheck("services.failed", "failed systemd units", ("services",), services_rule,
                   {"failed_units_crit": 3.0})
