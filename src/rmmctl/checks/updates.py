"""Update checks: pending security updates, pending updates and package lists not refreshed. Pure.

"Now" comes from the host's own clock as the probe saw it (time.epoch), never from the controller.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from rmmctl.checks.base import Finding, RuleCheck, Severity, capped_evidence, section, stamp


def updates_rule(facts: Mapping[str, Any], t: Mapping[str, float], _v: Mapping[str, Any]) -> Iterator[Finding]:
    upd = section(facts, "updates")
    if upd and upd.get("security"):
        sev = Severity.CRITICAL if upd["security"] >= t["security_updates_crit"] else Severity.WARNING
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
    if not upd or not tm or upd.get("lists_mtime") is None:
        return
    age_days = (float(tm["epoch"]) - float(upd["lists_mtime"])) / 86400
    if age_days > t["package_lists_max_age_days"]:
        yield Finding("updates.stale_lists", Severity.WARNING,
                      f"package lists are {age_days:.1f} days old",
                      ((f"{upd['manager']} lists last refreshed {stamp(upd['lists_mtime'])} "
                       f"(host clock {stamp(tm['epoch'])})"),),
                      "run `apt-get update` and check why it stopped (apt-daily.timer, proxy, mirror reachability)",
                      "os-updates")


SECURITY = RuleCheck("updates.security", "pending security updates", ("updates",), updates_rule,
                     {"security_updates_crit": 10.0}, playbooks=("security-updates",))
PENDING = RuleCheck("updates.pending", "pending package updates", ("updates",), pending_rule, {"updates_warn": 50.0},
                    playbooks=("os-updates",))
STALE_LISTS = RuleCheck("updates.stale_lists", "package lists not refreshed", ("time", "updates"), stale_lists_rule,
                        {"package_lists_max_age_days": 7.0}, playbooks=("os-updates",))
