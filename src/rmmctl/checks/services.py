"""Service checks: failed services (systemd units on Linux, automatic services on Windows). Pure."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from rmmctl.checks.base import Finding, RuleCheck, Severity, section

_WIN32_EXIT = {
    1053: "it did not answer the start request in time",
    1058: "it is disabled",
    1067: "its process ended unexpectedly",
    1068: "a service it depends on did not start",
    1069: "its logon failed (the service account's password or rights)",
    1077: "it has not been started since boot",
}
"""Win32 exit codes a stopped service commonly carries (1066 means: see its service-specific code)."""


def scm_reason(scm: Mapping[str, Any]) -> str:
    """Why the SCM says a stopped automatic service stopped, from its exit codes, for evidence."""
    code, own = scm.get("exit_code"), scm.get("service_exit_code")
    if code == 1066 or (own and not code):
        return f"exit code {code}: the service's own error {own}"
    if code:
        return f"exit code {code}" + (f": {_WIN32_EXIT[code]}" if code in _WIN32_EXIT else "")
    start = "delayed automatic" if scm.get("delayed") else "automatic"
    return f"exit code 0: stopped although its start is {start}" + (" (trigger)" if scm.get("trigger") else "")


def _windows_fix(failed: list[Mapping[str, Any]]) -> str:
    one = failed[0]["name"] if len(failed) == 1 else "NAME"
    codes = {(u.get("scm") or {}).get("exit_code") for u in failed}
    fix = (f"read why it stopped in the System log (`Get-WinEvent -FilterHashtable @{{LogName='System'; "
           f"ProviderName='Service Control Manager'}} -MaxEvents 20`; a service-specific exit code is the "
           f"vendor's own error), fix the cause, then start it: `Start-Service {one}` "
           f"(its settings: `sc.exe qc {one}`)")
    if 1069 in codes:
        fix += "; a logon failure (1069) needs the service account's password reset in the service's Log On tab"
    if 1068 in codes:
        fix += "; for a dependency failure (1068) start the service it depends on first (`sc.exe qc` lists them)"
    return fix


def services_rule(facts: Mapping[str, Any], t: Mapping[str, float], _v: Mapping[str, Any]) -> Iterator[Finding]:
    """systemd's failed units; on Windows, automatic services stopped with an error or for no reason.

    On Windows a delayed or trigger-start service stopped cleanly is expected: the probe leaves it out."""
    svc = section(facts, "services")
    failed = (svc or {}).get("failed") or []
    if not failed:
        return
    sev = Severity.CRITICAL if len(failed) >= t["failed_units_crit"] else Severity.WARNING
    names = ", ".join(u["name"] for u in failed)
    evidence = tuple(
        f"service {u['name']} {u['state']}: {u.get('description', '')}".strip()
        + (f" ({scm_reason(u['scm'])})" if isinstance(u.get("scm"), Mapping) else "")
        for u in failed)
    manager = (svc or {}).get("manager")
    if manager == "scm":
        fix = _windows_fix(failed)
    else:
        fix = ("look at the service's log, fix the cause, then restart it"
               + (" (`journalctl -u UNIT`, `systemctl restart UNIT`)" if manager == "systemd" else ""))
    yield Finding("services.failed", sev, f"{len(failed)} failed service(s): {names}", evidence, fix)


FAILED = RuleCheck("services.failed", "failed services", ("services",), services_rule,
                   {"failed_units_crit": 3.0})
