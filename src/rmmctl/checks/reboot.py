"""Reboot checks: a reboot the package manager asked for. Pure."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from rmmctl.checks.base import Finding, RuleCheck, Severity, said, section


def reboot_rule(facts: Mapping[str, Any], t: Mapping[str, float], _v: Mapping[str, Any]) -> Iterator[Finding]:
    reboot = section(facts, "reboot")
    if reboot and reboot.get("required"):
        yield Finding("reboot.required", Severity.WARNING, "a reboot is required",
                      tuple(reboot.get("packages") or ()) or (f"found by {said(reboot.get('method'))}",),
                      "schedule a reboot in the client's maintenance window (the reboot-if-required playbook "
                      "reboots only inside it)", "reboot-if-required")


REQUIRED = RuleCheck("reboot.required", "a reboot is pending", ("reboot",), reboot_rule, playbooks=("reboot-if-required",))
