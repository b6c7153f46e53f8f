"""Reboot checks: a reboot the package manager (Linux) or the registry (Windows) asks for. Pure."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from rmmctl.checks.base import Finding, RuleCheck, Severity, said, section

WINDOWS_SIGNALS = {
    "cbs": "Component Based Servicing\\RebootPending is set: a servicing operation (an update, a feature) "
           "finishes at the next restart",
    "windows-update": "WindowsUpdate\\Auto Update\\RebootRequired is set: installed updates wait for a restart",
    "computer-rename": "the computer name changes at the next restart (ComputerName differs from ActiveComputerName)",
    "pending-file-rename": "Session Manager\\PendingFileRenameOperations is set (antivirus and installers set it; "
                           "alone it needs no reboot)",
}
"""The signals of the Windows reboot section's `method` (`registry:cbs+windows-update`), as evidence."""
WINDOWS_FIX = ("reboot in the client's maintenance window: the shipped windows-updates playbook reboots only inside "
               "it (or windows-maintenance); by hand, when nobody works on it, `Restart-Computer -Force`")


def reboot_rule(facts: Mapping[str, Any], t: Mapping[str, float], _v: Mapping[str, Any]) -> Iterator[Finding]:
    reboot = section(facts, "reboot")
    if not reboot or not reboot.get("required"):
        return
    method = str(reboot.get("method") or "")
    if method == "registry" or method.startswith("registry:"):  # Windows: the registry's signals
        signals = [s for s in method.partition(":")[2].split("+") if s]
        yield Finding("reboot.required", Severity.WARNING, "a reboot is pending",
                      tuple(f"registry: {WINDOWS_SIGNALS.get(s, s)}" for s in signals) or ("found by the registry",),
                      WINDOWS_FIX)
        return
    yield Finding("reboot.required", Severity.WARNING, "a reboot is required",
                  tuple(reboot.get("packages") or ()) or (f"found by {said(reboot.get('method'))}",),
                  "schedule a reboot in the client's maintenance window (the reboot-if-required playbook "
                  "reboots only inside it)", "reboot-if-required")


REQUIRED = RuleCheck("reboot.required", "a reboot is pending", ("reboot",), reboot_rule, playbooks=("reboot-if-required",))
