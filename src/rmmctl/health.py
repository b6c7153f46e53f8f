"""Health: collect facts in one round trip per host, summarise them, judge them (status, metrics, logs)."""

from __future__ import annotations

import re
import time
from typing import Any, Mapping, Sequence

from rmmctl.checks.base import worst_status
from rmmctl.checks.registry import Check, run_checks
from rmmctl.executor import HostContext, Task, TaskOutcome
from rmmctl.facts import Facts
from rmmctl.models import Status
from rmmctl.probes import bundle, linux

STATUS_SECTIONS = ("time", "host", "os", "uptime", "memory", "filesystems", "services", "reboot", "updates", "cpu")
METRICS_SECTIONS = ("time", "host", "os", "uptime", "memory", "filesystems", "services", "reboot", "updates", "cpu",
                    "processes")
LOG_SECTIONS = ("time", "logs")
LEVELS = ("emerg", "alert", "crit", "err", "warning", "notice", "info", "debug")


def collect_facts(ctx: HostContext, sections: Sequence[str], *, since: float | None = None,
                  log_level: str = "err", log_limit: int = 500,
                  params: Mapping[str, bundle.ParamValue] | None = None) -> Facts:
    """The facts of one host: the local machine through psutil, anything else through the probe (one exec).

    params: per-host probe parameters (checks.registry.params_for), e.g. the backup paths to stat.
    """
    if ctx.host.connection == "local":
        from rmmctl.transports.local_facts import collect

        return collect(sections, since=since, log_level=log_level, log_limit=log_limit, params=params)
    nonce = bundle.new_nonce()
    script = bundle.build_script(sections, nonce=nonce, since=since, log_level=log_level, log_limit=log_limit,
                                 params=params)
    started = time.time()
    result = ctx.run(bundle.probe_command(script), audit_as=f"probe: {' '.join(sections)}")
    return linux.parse_output(result.stdout, nonce, sections, controller_time=started)


def summarise(facts: Mapping[str, Any]) -> dict[str, Any]:
    """The one-row view of a host used by `rmmctl status` (pure)."""
    get = lambda name: _ok(facts.get(name))  # noqa: E731 - tiny local accessor
    os_, up, cpu, mem, fs = get("os"), get("uptime"), get("cpu"), get("memory"), get("filesystems")
    upd, reboot, tm, svc, host = get("updates"), get("reboot"), get("time"), get("services"), get("host")
    mounts = [m for m in fs.get("mounts", []) if not m.get("read_only") and m.get("used_pct") is not None]
    worst = max(mounts, key=lambda m: m["used_pct"], default=None)
    return {
        "hostname": host.get("hostname"),
        "os": os_.get("pretty_name"),
        "os_short": " ".join(x for x in (str(os_.get("name") or "").split(" ")[0], os_.get("version_id")) if x)
        or None,
        "uptime_s": up.get("seconds"),
        "cpu_pct": cpu.get("percent"),
        "cpus": cpu.get("count"),
        "load": [up.get("load1"), up.get("load5"), up.get("load15")] if up else None,
        "mem_pct": mem.get("used_pct"),
        "swap_pct": mem.get("swap_used_pct"),
        "worst_fs": {"mount": worst["mount"], "used_pct": worst["used_pct"]} if worst else None,
        "updates": upd.get("pending") if upd else None,
        "security_updates": upd.get("security") if upd else None,
        "reboot_required": reboot.get("required") if reboot else None,
        "skew_s": tm.get("skew_s"),
        "failed_units": len(svc.get("failed") or []) if svc.get("available") else None,
    }


def _ok(section: Any) -> dict[str, Any]:
    return section if isinstance(section, dict) and "unavailable" not in section else {}


def checks_within(sections: Sequence[str]) -> list[Check]:
    """Every registered check (built-in or plugin) that needs only these sections, so status and metrics
    judge with the same checks as `rmmctl diagnose`."""
    from rmmctl.checks.catalog import CHECKS

    return [c for c in CHECKS.all() if set(c.sections) <= set(sections)]


def status_task(ctx: HostContext) -> TaskOutcome:
    """`rmmctl status`: the summary, the findings, and samples for history."""
    from rmmctl.trends import metric_samples

    facts = collect_facts(ctx, STATUS_SECTIONS).to_jsonable()
    findings = run_checks(checks_within(STATUS_SECTIONS), facts, ctx.host.vars, ctx.host.name)
    data = {"summary": summarise(facts), "findings": [f.to_dict() for f in findings], "errors": facts["errors"]}
    return TaskOutcome(worst_status(findings), data, metric_samples(facts))


def metrics_task(ctx: HostContext) -> TaskOutcome:
    """`rmmctl metrics`: every fact section; the status judges them like `status` does."""
    from rmmctl.trends import metric_samples

    facts = collect_facts(ctx, METRICS_SECTIONS).to_jsonable()
    findings = run_checks(checks_within(METRICS_SECTIONS), facts, ctx.host.vars, ctx.host.name)
    return TaskOutcome(worst_status(findings), {"facts": facts, "findings": [f.to_dict() for f in findings]},
                       metric_samples(facts))


def logs_task(*, since: float, level: str, limit: int, grep: str | None, source: str | None) -> Task:
    """`rmmctl logs`: entries at `level` or worse since a time, filtered by message regex and source."""
    pattern = re.compile(grep) if grep else None
    probe_limit = limit if not (grep or source) else max(limit * 4, 2000)
    log_file = source if source and source.startswith("/") else None  # a path: read that file, not the journal
    unit = None if log_file else source
    params = {"LOG_FILE": log_file} if log_file else None

    def task(ctx: HostContext) -> TaskOutcome:
        facts = collect_facts(ctx, LOG_SECTIONS, since=since, log_level=level, log_limit=probe_limit,
                              params=params).to_jsonable()
        logs = facts.get("logs") or {}
        entries = [e for e in logs.get("entries", []) if _keep(e, pattern, unit)]
        meta = {k: v for k, v in logs.items() if k != "entries"}
        data = {"logs": meta, "entries": entries[-limit:], "errors": facts["errors"]}
        return TaskOutcome(Status.OK if not facts["errors"] else Status.WARN, data)

    return task


def _keep(entry: Mapping[str, Any], pattern: re.Pattern[str] | None, source: str | None) -> bool:
    if source and not _source_matches(str(entry.get("source") or ""), source):
        return False
    return pattern is None or bool(pattern.search(str(entry.get("message") or "")))


def _source_matches(actual: str, wanted: str) -> bool:
    """`nginx` matches the unit nginx.service and the syslog tag nginx."""
    return actual == wanted or actual.removesuffix(".service") == wanted.removesuffix(".service")
