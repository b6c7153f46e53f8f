"""Error bursts in the journal or syslog, matched by named rules (rules are data). Pure.

Each rule's regex is both a Python regex and a POSIX ERE (plain text and `|` only): the checks send
the selected rules' patterns to the probe (P_LOG_MATCH), which keeps only matching lines at info level
or worse (kernel segfault lines are info), so one exec fetches exactly the evidence.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from rmmctl.checks.base import Finding, RuleCheck, Severity, section
from rmmctl.errors import ConfigError
from rmmctl.facts import unavailable_reason
from rmmctl.lognotes import EVENTLOG, blind, source_notes

EVIDENCE_LINES = 10
WINDOW_HOURS = 24


@dataclass(frozen=True)
class NamedRule:
    """A log rule: id `logs.NAME`, a regex (case-insensitive), the fix, and count thresholds (warn, crit)."""

    id: str
    title: str
    regex: str
    remediation: str
    warn: float = 1.0
    crit: float = 5.0

    @property
    def var(self) -> str:
        """The inventory var prefix of its thresholds: logs_NAME -> logs_NAME_warn / logs_NAME_crit."""
        return self.id.replace(".", "_")


LOG_RULES: tuple[NamedRule, ...] = (
    NamedRule("logs.oom_kill", "processes killed by the OOM killer", "Out of memory: Killed process|oom-kill",
              "the host ran out of memory: find what grew (`rmmctl metrics HOST`), cap it (systemd MemoryMax, "
              "JVM -Xmx) or add RAM/swap", 1.0, 5.0),
    NamedRule("logs.segfault", "programs crashing with segfaults", "segfault at",
              "a program crashes repeatedly: update it, check its core dumps (`coredumpctl list`), and test "
              "the RAM if many unrelated programs crash", 1.0, 10.0),
    NamedRule("logs.disk_io", "disk I/O errors", "I/O error|blk_update_request|EXT4-fs error|Buffer I/O error",
              "the disk or its cable/controller is failing: check `smartctl -a DEVICE`, back up now, replace "
              "the disk; fsck the filesystem", 1.0, 3.0),
)
"""The built-in named log rules."""


def log_window_params(hv: Mapping[str, Any], rule: NamedRule, host: str = "") -> dict[str, Any]:
    """LOG_MATCH (this rule's regex) and LOG_WINDOW_S (var logs_window_hours, default 24) for the probe."""
    hours = hv.get("logs_window_hours", WINDOW_HOURS)
    if isinstance(hours, bool) or not isinstance(hours, (int, float)) or hours <= 0:
        raise ConfigError(f"{host + ': ' if host else ''}vars.logs_window_hours must be a positive number of "
                          f"hours, got {hours!r}")
    return {"LOG_MATCH": [rule.regex], "LOG_WINDOW_S": str(int(hours * 3600))}


def rule_findings(rule: NamedRule, facts: Mapping[str, Any], t: Mapping[str, float]) -> Iterator[Finding]:
    """One finding when the rule matches at least its warn count of log entries."""
    logs = section(facts, "logs")
    if not logs:
        return
    pattern = re.compile(rule.regex, re.IGNORECASE)
    hits = [e for e in logs.get("entries", []) if pattern.search(str(e.get("message") or ""))]
    count = len(hits)
    if count < t[f"{rule.var}_warn"]:
        return
    sev = Severity.CRITICAL if count >= t[f"{rule.var}_crit"] else Severity.WARNING
    evidence = [f"{e.get('time') or '?'} {e.get('source')}: {e.get('message')}" for e in hits[-EVIDENCE_LINES:]]
    if count > EVIDENCE_LINES:
        evidence.insert(0, f"({count - EVIDENCE_LINES} earlier matching lines not shown)")
    where = logs.get("file") or logs.get("source")
    yield Finding(rule.id, sev, f"{rule.title}: {count} in {where} since {logs.get('since')}",
                  tuple(evidence), rule.remediation)


def _check(rule: NamedRule) -> RuleCheck:
    return RuleCheck(rule.id, rule.title, ("logs",), lambda f, t, hv: rule_findings(rule, f, t),
                       {f"{rule.var}_warn": rule.warn, f"{rule.var}_crit": rule.crit},
                       lambda hv, host: log_window_params(hv, rule, host), vars={"logs_window_hours": WINDOW_HOURS})


def unreadable_rule(facts: Mapping[str, Any], t: Mapping[str, float], hv: Mapping[str, Any]) -> Iterator[Finding]:
    """Logs the checks could not read, or read from a fallback file: never silence. Warning when the journal refuses
    the login user and no syslog file is readable; info for a fallback, an empty journal or no log source."""
    logs = facts.get("logs")
    notes = source_notes(logs) if isinstance(logs, Mapping) and "error" not in logs else []
    if not notes or not isinstance(logs, Mapping):
        return
    unavailable = unavailable_reason(logs) is not None
    windows = logs.get("source") == EVENTLOG
    if unavailable:
        title = "no log source could be read"
    elif windows:
        who = logs.get("user") or "the login user"
        title = (f"{who} may not read the event log asked for" if not logs.get("file")
                 else f"{who} may not read every event log asked for; read {logs['file']}")
    elif logs.get("journal") == "unreadable":
        who = logs.get("user") or "the login user"
        title = f"the journal is not readable by {who}" + (f"; read {logs['file']} instead" if logs.get("fallback") else "")
    elif logs.get("journal") == "empty":
        title = "the journal has no entries in the window" + (f"; read {logs['file']} instead" if logs.get("fallback")
                                                               else "")
    else:
        title = f"{logs.get('user') or 'the login user'} sees only its own journal entries"
    sev = Severity.WARNING if blind(logs) and not unavailable else Severity.INFO
    fix = ("add the login user to the Event Log Readers group (`Add-LocalGroupMember -Group 'Event Log Readers' "
           "-Member USER`) or connect as an administrator" if windows else
           "let the login user read the journal (systemd-journal or adm group) or log in as root")
    yield Finding("logs.unreadable", sev, title, tuple(notes),
                  f"{fix}; until then the logs.* checks judge only what they could read")


def window_params(hv: Mapping[str, Any], host: str = "") -> dict[str, Any]:
    """LOG_WINDOW_S only: the window of logs.unreadable (no patterns of its own)."""
    return {k: v for k, v in log_window_params(hv, LOG_RULES[0], host).items() if k != "LOG_MATCH"}


UNREADABLE = RuleCheck("logs.unreadable", "logs the checks could not read (journal access, no log source)", ("logs",),
                       unreadable_rule, params_fn=window_params, vars={"logs_window_hours": WINDOW_HOURS})
"""Runs whenever the logs section is probed (rmmctl.diagnose.plan), so a blind logs check is never silent."""

LOG_CHECKS: tuple[RuleCheck, ...] = (*(_check(rule) for rule in LOG_RULES), UNREADABLE)
"""One check per named rule, then logs.unreadable."""
