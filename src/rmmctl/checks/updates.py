"""Update checks: pending security updates, pending updates, package lists not refreshed, and (Windows)
Windows Update failing. Pure.

"Now" comes from the host's own clock as the probe saw it (time.epoch), never from the controller.
On Windows (updates.manager `windows-update`) the findings name the shipped windows-updates playbook in
their fix (installs run as SYSTEM through a scheduled task: the update API refuses them in a WinRM logon).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from rmmctl.checks.base import Finding, RuleCheck, Severity, capped_evidence, section, stamp
from rmmctl.facts import unavailable_reason

WINDOWS_UPDATE = "windows-update"
WINDOWS_UPDATES = "windows-updates"
WINDOWS_INSTALL = ("install them in the maintenance window with the shipped windows-updates playbook (it installs "
                   "as SYSTEM through a scheduled task and reboots only inside the window), or on the host in "
                   "Settings > Windows Update")


def _kb(p: Mapping[str, Any]) -> str:
    """A Windows update as evidence: its title, its KB when the title does not say it, its classification."""
    kb = str(p.get("version") or "")
    return (str(p["name"]) + (f" {kb}" if kb and kb not in str(p["name"]) else "")
            + (f" ({p['repo']})" if p.get("repo") else ""))


def updates_rule(facts: Mapping[str, Any], t: Mapping[str, float], _v: Mapping[str, Any]) -> Iterator[Finding]:
    upd = section(facts, "updates")
    if upd and upd.get("security"):
        sev = Severity.CRITICAL if upd["security"] >= t["security_updates_crit"] else Severity.WARNING
        if upd.get("manager") == WINDOWS_UPDATE:
            sec = [_kb(p) for p in upd.get("packages", []) if p.get("security")]
            yield Finding("updates.security", sev, f"{upd['security']} Windows security update(s) pending",
                          capped_evidence(sec, total=upd["security"]), WINDOWS_INSTALL, WINDOWS_UPDATES)
            return
        sec = [p["name"] for p in upd.get("packages", []) if p.get("security")]
        yield Finding("updates.security", sev, f"{upd['security']} security update(s) pending",
                      capped_evidence(sec, total=upd["security"]),
                      "install them: the security-updates playbook, or your package manager",
                      "security-updates")


def pending_rule(facts: Mapping[str, Any], t: Mapping[str, float], hv: Mapping[str, Any]) -> Iterator[Finding]:
    """Any pending update is info; `updates_warn` or more is a warning. Security ones are counted apart."""
    upd = section(facts, "updates")
    if not upd or not upd.get("pending"):
        return
    pending, security = int(upd["pending"]), int(upd.get("security") or 0)
    sev = Severity.WARNING if pending >= t["updates_warn"] else Severity.INFO
    if upd.get("manager") == WINDOWS_UPDATE:
        lines = [_kb(p) + (" [security]" if p.get("security") else "") for p in upd.get("packages", [])]
        yield Finding("updates.pending", sev, f"{pending} Windows update(s) pending, {security} of them security",
                      capped_evidence(lines, total=pending), WINDOWS_INSTALL, WINDOWS_UPDATES)
        return
    evidence = tuple(f"{p['name']} {p.get('current') or '?'} -> {p['version']} ({p.get('repo') or '?'})"
                     + (" [security]" if p.get("security") else "") for p in upd.get("packages", [])[:20])
    more = pending - len(evidence)
    yield Finding("updates.pending", sev, f"{pending} update(s) pending, {security} of them security",
                  evidence + ((f"... and {more} more",) if more > 0 else ()),
                  f"install them in the maintenance window ({upd['manager']} upgrade, or the os-updates playbook)",
                  "os-updates")


def stale_lists_rule(facts: Mapping[str, Any], t: Mapping[str, float], hv: Mapping[str, Any]) -> Iterator[Finding]:
    """apt lists older than `package_lists_max_age_days` hide pending (security) updates."""
    upd, tm = section(facts, "updates"), section(facts, "time")
    if not upd or not tm or upd.get("lists_mtime") is None or upd.get("manager") == WINDOWS_UPDATE:
        return  # Windows Update's last search: updates.failing
    age_days = (float(tm["epoch"]) - float(upd["lists_mtime"])) / 86400
    if age_days > t["package_lists_max_age_days"]:
        yield Finding("updates.stale_lists", Severity.WARNING,
                      f"package lists are {age_days:.1f} days old",
                      ((f"{upd['manager']} lists last refreshed {stamp(upd['lists_mtime'])} "
                       f"(host clock {stamp(tm['epoch'])})"),),
                      "run `apt-get update` and check why it stopped (apt-daily.timer, proxy, mirror reachability)",
                      "os-updates")


# Windows Update's HRESULTs people meet most, said in words (WU_E_* names from Microsoft's list).
WU_ERRORS = {
    "8024402c": "the host cannot resolve or reach the update server (proxy or DNS)",
    "8024401c": "the connection to the update server timed out",
    "80072ee2": "the connection to the update server timed out",
    "80244022": "the update server answered 503 (a WSUS server overloaded or down)",
    "80244019": "the update server answered 404 (a wrong WSUS address in the policy)",
    "80240438": "no route to the update service (a proxy or firewall blocks it)",
    "8024002e": "Windows Update is disabled by policy",
    "80070422": "the Windows Update service (wuauserv) is disabled",
    "80070005": "access denied",
}
_HRESULT = re.compile(r"0x([0-9a-fA-F]{8})")
FAILING_FIX = ("check that the host reaches Windows Update or its WSUS server (proxy, DNS, firewall), that the "
               "wuauserv service is not disabled, and read `Get-WindowsUpdateLog`; then run the windows-updates "
               "playbook")


def failing_rule(facts: Mapping[str, Any], t: Mapping[str, float], hv: Mapping[str, Any]) -> Iterator[Finding]:
    """Search throws, no search success in `updates_search_max_days`, no install in `updates_install_max_days`.

    The search throwing is the updates section unavailable on a Windows host (os.family windows)."""
    os_ = section(facts, "os") or {}
    reason = unavailable_reason(facts.get("updates"))
    if reason is not None and os_.get("family") == "windows":
        code = _HRESULT.search(reason)
        hresult = code.group(1) if code else ""
        meaning = WU_ERRORS.get(hresult.lower())
        yield Finding("updates.failing", Severity.WARNING, "the Windows Update search fails",
                      (f"Windows Update: {reason}",) + ((f"0x{hresult.upper()}: {meaning}",) if meaning else ()),
                      FAILING_FIX)
        return
    upd, tm = section(facts, "updates"), section(facts, "time")
    if not upd or not tm or upd.get("manager") != WINDOWS_UPDATE:
        return
    now = float(tm["epoch"])
    clock = f"(host clock {stamp(now)})"
    searched = upd.get("lists_mtime")
    if searched is None or (now - float(searched)) / 86400 > t["updates_search_max_days"]:
        title = ("Windows Update has no successful search on record" if searched is None else
                 f"Windows Update has not searched successfully for {(now - float(searched)) / 86400:.0f} days")
        yield Finding("updates.failing", Severity.WARNING, title,
                      (f"last successful search {stamp(searched) if searched is not None else 'never'} {clock}",),
                      FAILING_FIX)
    installed, pending = upd.get("last_install"), int(upd.get("pending") or 0)
    if pending and installed is not None and (now - float(installed)) / 86400 > t["updates_install_max_days"]:
        age = (now - float(installed)) / 86400
        yield Finding("updates.failing", Severity.WARNING,
                      f"Windows Update has installed nothing for {age:.0f} days, {pending} update(s) pending",
                      (f"last successful installation {stamp(installed)} {clock}",
                       f"{pending} pending, {int(upd.get('security') or 0)} of them security"),
                      "installs stopped (a failing update, no maintenance window, a full disk): read "
                      "`Get-WindowsUpdateLog` and the System log's WindowsUpdateClient events, then run the "
                      "windows-updates playbook")


SECURITY = RuleCheck("updates.security", "pending security updates", ("updates",), updates_rule,
                     {"security_updates_crit": 10.0}, playbooks=("security-updates", WINDOWS_UPDATES))
PENDING = RuleCheck("updates.pending", "pending package updates", ("updates",), pending_rule, {"updates_warn": 50.0},
                    playbooks=("os-updates", WINDOWS_UPDATES))
STALE_LISTS = RuleCheck("updates.stale_lists", "package lists not refreshed", ("time", "updates"), stale_lists_rule,
                        {"package_lists_max_age_days": 7.0}, playbooks=("os-updates",))
FAILING = RuleCheck("updates.failing", "Windows Update failing (search errors, no recent search or install)",
                    ("time", "os", "updates"), failing_rule,
                    {"updates_search_max_days": 7.0, "updates_install_max_days": 45.0})
