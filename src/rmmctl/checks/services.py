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
        names = ", ".join(u["name"] for u in failed)
        yield Finding("services.failed", sev, f"{len(failed)} failed service(s): {names}",
                      tuple(f"service {u['name']} {u['state']}: {u.get('description', '')}".strip() for u in failed),
                      "look at the service's log, fix the cause, then restart it"
                      + (" (`journalctl -u UNIT`, `systemctl restart UNIT`)" if svc and svc.get("manager") == "systemd"
                         else ""))


FAILED = RuleCheck("services.failed", "failed services", ("services",), services_rule,
                   {"failed_units_crit": 3.0})
