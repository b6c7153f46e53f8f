"""`rmmctl diagnose`: the chosen checks, the probe sections they need in one round trip per host, findings.

Pure helpers beside the task: exit codes under `--fail-on`, the Nagios line, and the stable key
that findings history uses to recognise the same problem from one run to the next.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rmmctl.checks.base import Thresholds, worst_status
from rmmctl.checks.registry import Check, Registry, params_for, run_checks, sections_for
from rmmctl.errors import ExitCode, UsageError, exit_code_for
from rmmctl.executor import HostContext, Task, TaskOutcome
from rmmctl.models import HostResult, RunReport, Status

FAIL_ON = ("warning", "critical")
ALWAYS = "probe.incomplete"
GUARDS = {"logs": "logs.unreadable"}
"""Section -> the check that says when its data could not be seen; it runs whenever the section is probed."""
SEVERITY_ORDER = ("critical", "warning", "info")
NAGIOS_STATES = ("OK", "WARNING", "CRITICAL", "UNKNOWN")
_NUMBER = re.compile(r"(?<![\w./-])[-+]?\d+(?:\.\d+)?(?![\w/])")


@dataclass(frozen=True, slots=True)
class Plan:
    """The checks chosen for a run and the probe sections they need (de-duplicated, in check order)."""

    checks: tuple[Check, ...]
    sections: tuple[str, ...]

    @property
    def ids(self) -> list[str]:
        """The chosen check ids, in registry order."""
        return [c.id for c in self.checks]


def plan(names: Sequence[str] = (), registry: Registry | None = None) -> Plan:
    """Checks by id or group (nothing = every check) and exactly the sections they need.

    `probe.incomplete` (no sections) always runs, so a section that failed is a warning, never silence;
    `logs.unreadable` runs with any logs check, so logs that could not be read are said, not silent.
    """
    if registry is None:
        from rmmctl.checks.catalog import CHECKS

        registry = CHECKS
    chosen = {c.id for c in registry.select(names)} | ({ALWAYS} & {c.id for c in registry.all()})
    wanted = {s for c in registry.all() if c.id in chosen for s in c.sections}
    chosen |= {GUARDS[s] for s in wanted if s in GUARDS} & {c.id for c in registry.all()}
    checks = tuple(c for c in registry.all() if c.id in chosen)
    return Plan(checks, sections_for(checks))


def diagnose_task(chosen: Plan) -> Task:
    """The per-host task: thresholds first (a bad var fails the host), then one probe, then the checks."""

    def task(ctx: HostContext) -> TaskOutcome:
        from rmmctl.health import collect_facts

        for check in chosen.checks:  # a bad threshold var is this host's config error, before any exec
            Thresholds(check.thresholds).resolve(ctx.host.vars, ctx.host.name)
        params = params_for(chosen.checks, ctx.host.vars, ctx.host.name)  # e.g. backup paths; bad vars fail here
        facts = collect_facts(ctx, chosen.sections, params=params).to_jsonable()
        findings = judge(chosen.checks, facts, ctx.host.vars, ctx.host.name)
        return TaskOutcome(worst_status(findings), {
            "findings": sort_findings([f.to_dict() for f in findings]),
            "checks": ran(chosen.checks, facts),
            "errors": facts["errors"],
        })

    return task


def ran(checks: Sequence[Check], facts: Mapping[str, Any]) -> list[str]:
    """Ids of the checks that could judge: none of their sections failed (probe.incomplete names those)."""
    failed = set(facts.get("errors") or {})
    return [c.id for c in checks if not failed & set(c.sections)]


def judge(checks: Sequence[Check], facts: Mapping[str, Any], host_vars: Mapping[str, Any], host: str) -> list[Any]:
    """Findings of the checks whose sections answered (see `ran`)."""
    ok = set(ran(checks, facts))
    return run_checks([c for c in checks if c.id in ok], facts, host_vars, host)


def sort_findings(findings: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Critical first, then warning, then info; stable within a severity."""
    return sorted((dict(f) for f in findings), key=lambda f: SEVERITY_ORDER.index(f["severity"]))


def finding_key(finding: Mapping[str, Any]) -> str:
    """A stable identity for history: check id + title with measured numbers blanked (`#`).

    "filesystem /srv/data is 97.5% full" and "... 99.0% full" are the same problem; numbers inside
    names (sda1, printer-02, /srv/data2) are kept. A check may set its own `key` in the finding.
    """
    if finding.get("key"):
        return f"{finding['check_id']}:{finding['key']}"
    return f"{finding['check_id']}:{_NUMBER.sub('#', str(finding['title']))}"


def history_update(result: HostResult) -> tuple[list[str], list[dict[str, Any]]] | None:
    """(checks that ran, findings with their key) for a host that answered; None for any other host."""
    if result.error is not None or result.status not in (Status.OK, Status.WARN, Status.CRIT):
        return None
    data = result.data or {}
    findings = [{**f, "key": finding_key(f)} for f in data.get("findings", [])]
    return list(data.get("checks", [])), findings


def check_fail_on(value: str) -> str:
    """`warning` or `critical`; anything else is a usage error naming both."""
    if value not in FAIL_ON:
        raise UsageError(f"--fail-on {value!r}: use warning (the default) or critical")
    return value


def exit_code(report: RunReport, fail_on: str = "warning") -> ExitCode:
    """The run's exit code: as for every command, except that `--fail-on critical` turns 4 into 0.

    With `--fail-on critical` a host with only warnings still shows `warn`; it just no longer fails
    the run. Worse outcomes (5 critical, 6 unreachable, 7 auth, 130) are never changed.
    """
    code = exit_code_for(report)
    return ExitCode.OK if fail_on == "critical" and code is ExitCode.WARN else code


def nagios_state(result: HostResult, fail_on: str = "warning") -> int:
    """0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (the host could not be judged: unreachable, auth, error...)."""
    if result.status is Status.OK:
        return 0
    if result.status is Status.WARN:
        return 0 if fail_on == "critical" else 1
    return 2 if result.status is Status.CRIT else 3


def nagios_line(report: RunReport, label: str, fail_on: str = "warning") -> tuple[str, int]:
    """`RMMCTL LABEL STATE - summary | perfdata` for a one-host run, and the plugin exit code."""
    [host] = report.hosts
    state = nagios_state(host, fail_on)
    findings = (host.data or {}).get("findings", [])
    counts = {s: sum(f["severity"] == s for f in findings) for s in SEVERITY_ORDER}
    if host.error is not None:
        text = f"{host.name}: {host.status.value}: {host.error.message}"
    elif findings:
        text = f"{host.name}: " + "; ".join(f"{f['severity']}: {f['title']}" for f in findings)
    else:
        text = f"{host.name}: no findings ({len((host.data or {}).get('checks', []))} checks)"
    perf = " ".join(f"{s}={counts[s]};;;0" for s in SEVERITY_ORDER) + f" time={host.duration_s:.3f}s;;;0"
    text = " ".join(text.replace("|", "/").split())
    return f"RMMCTL {label.upper()} {NAGIOS_STATES[state]} - {text} | {perf}", state


def nagios_label(names: Sequence[str]) -> str:
    """The service part of the Nagios line: the --check names joined by `+`, or DIAGNOSE."""
    return "+".join(names) if names else "diagnose"
