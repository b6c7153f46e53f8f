"""`rmmctl diagnose`: the chosen checks, the probe sections they need in one round trip per host, findings.

Pure helpers beside the job: the Nagios line and the order of findings. The exit code under
`--fail-on` is errors.exit_code_for's; the findings history key is models.finding_key.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rmmctl.checks.base import Thresholds, worst_status
from rmmctl.checks.registry import Check, Registry, params_for, run_checks, sections_for
from rmmctl.errors import FAIL_ON, check_fail_on  # noqa: F401 - re-exported for the CLI
from rmmctl.executor import HostContext, Job, JobOutcome
from rmmctl.models import HostResult, RunReport, Status, finding_key  # noqa: F401 - finding_key re-exported

ALWAYS = "probe.incomplete"
GUARDS = {"logs": "logs.unreadable"}
"""Section -> the check that says when its data could not be seen; it runs whenever the section is probed."""
SEVERITY_ORDER = ("critical", "warning", "info")
NAGIOS_STATES = ("OK", "WARNING", "CRITICAL", "UNKNOWN")


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


def diagnose_job(chosen: Plan) -> Job:
    """The per-host job: thresholds first (a bad var fails the host), then one probe, then the checks."""

    def job(ctx: HostContext) -> JobOutcome:
        from rmmctl.probes import collect

        for check in chosen.checks:  # a bad threshold var is this host's config error, before any exec
            Thresholds(check.thresholds).resolve(ctx.host.vars, ctx.host.name)
        params = params_for(chosen.checks, ctx.host.vars, ctx.host.name)  # e.g. backup paths; bad vars fail here
        facts = collect(ctx, chosen.sections, params).to_jsonable()
        findings = judge(chosen.checks, facts, ctx.host.vars, ctx.host.name)
        checks = ran(chosen.checks, facts)
        return JobOutcome(worst_status(findings), {
            "findings": sort_findings([f.to_dict() for f in findings]),
            "checks": checks,
            "errors": facts["errors"],
        }, findings=tuple(findings), checks=tuple(checks))

    return job


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
