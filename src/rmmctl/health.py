"""Health: collect facts in one round trip per host, summarise them, judge them (status, metrics, logs)."""

from __future__ import annotations

import re
import threading
import time
from typing import Any, Callable, Mapping, Sequence

from rmmctl import lognotes
from rmmctl.checks.base import worst_status
from rmmctl.checks.registry import Check, run_checks
from rmmctl.executor import HostContext, Job, JobOutcome
from rmmctl.facts import section
from rmmctl.models import Status
from rmmctl.probes import collect, platform_of

STATUS_SECTIONS = ("time", "host", "os", "uptime", "memory", "filesystems", "services", "reboot", "updates", "cpu")
METRICS_SECTIONS = ("time", "host", "os", "uptime", "memory", "filesystems", "services", "reboot", "updates", "cpu",
                    "processes")
LOG_SECTIONS = ("time", "logs")


def summarise(facts: Mapping[str, Any]) -> dict[str, Any]:
    """The one-row view of a host used by `rmmctl status` (pure)."""
    get = lambda name: section(facts, name) or {}  # noqa: E731 - tiny local accessor
    os_, up, cpu, mem, fs = get("os"), get("uptime"), get("cpu"), get("memory"), get("filesystems")
    upd, reboot, tm, svc, host = get("updates"), get("reboot"), get("time"), get("services"), get("host")
    mounts = [m for m in fs.get("mounts", []) if not m.get("read_only") and m.get("used_pct") is not None]
    worst = max(mounts, key=lambda m: m["used_pct"], default=None)
    return {
        "hostname": host.get("hostname"),
        "os": os_.get("pretty_name"),
        "os_short": _os_short(os_),
        "uptime_s": up.get("seconds"),
        "cpu_pct": cpu.get("percent"),
        "cpus": cpu.get("count"),
        "load": [up["load1"], up.get("load5"), up.get("load15")] if up.get("load1") is not None else None,
        "mem_pct": mem.get("used_pct"),
        "swap_pct": mem.get("swap_used_pct"),
        "worst_fs": {"mount": worst["mount"], "used_pct": worst["used_pct"]} if worst else None,
        "updates": upd.get("pending") if upd else None,
        "security_updates": upd.get("security") if upd else None,
        "reboot_required": reboot.get("required") if reboot else None,
        "skew_s": tm.get("skew_s"),
        "failed_units": len(svc.get("failed") or []) if svc.get("available") else None,
    }


def _os_short(os_: Mapping[str, Any]) -> str | None:
    """`Ubuntu 22.04`, `Windows 10 22H2`, `Windows Server 2019`: the OS column of the status table."""
    words = str(os_.get("name") or "").split()
    if os_.get("family") == "windows":  # up to the release number (editions dropped), then the feature update
        cut = next((i for i, w in enumerate(words) if w[:1].isdigit()), len(words) - 1)
        head = words[:cut + 1]
        return " ".join(x for x in (*head, os_.get("version_codename")) if x) or None
    return " ".join(x for x in (words[0] if words else "", os_.get("version_id")) if x) or None


def checks_within(sections: Sequence[str]) -> list[Check]:
    """Every registered check (built-in or plugin) that needs only these sections, so status and metrics
    judge with the same checks as `rmmctl diagnose`."""
    from rmmctl.checks.catalog import CHECKS

    wanted = set(sections)
    return [c for c in CHECKS.all() if wanted.issuperset(c.sections)]


def status_job(ctx: HostContext) -> JobOutcome:
    """`rmmctl status`: the summary, the findings, and samples for history."""
    return _status_outcome(ctx, collect(ctx, STATUS_SECTIONS).to_jsonable())


def _status_outcome(ctx: HostContext, facts: Mapping[str, Any]) -> JobOutcome:
    """The summary, the findings of every check within the status sections, and samples for history."""
    from rmmctl.trends import metric_samples

    findings = run_checks(checks_within(STATUS_SECTIONS), facts, ctx.host.vars, ctx.host.name)
    data = {"summary": summarise(facts), "findings": [f.to_dict() for f in findings], "errors": facts["errors"]}
    return JobOutcome(worst_status(findings), data, metric_samples(facts), findings=tuple(findings))


SLOW_SECTIONS = ("host", "os", "reboot", "updates")
"""What changes rarely (the name, the OS, a pending reboot, pending updates; `updates` also costs the host the
most): `rmmctl watch` probes these in its first round and then every SLOW_EVERY_S, the rest every round."""
SLOW_EVERY_S = 600.0


def watch_job(slow_every_s: float = SLOW_EVERY_S, clock: Callable[[], float] = time.monotonic) -> Job:
    """`rmmctl watch`'s round job: `status` (the same summary, checks and samples), with SLOW_SECTIONS taken
    from the host's last full probe while it is younger than `slow_every_s` (one exec either way)."""
    fast = tuple(s for s in STATUS_SECTIONS if s not in SLOW_SECTIONS)
    cache: dict[str, tuple[float, dict[str, Any], dict[str, str]]] = {}  # host -> (when, slow sections, errors)
    lock = threading.Lock()

    def job(ctx: HostContext) -> JobOutcome:
        now = clock()
        with lock:
            kept = cache.get(ctx.host.name)
        full = kept is None or now - kept[0] >= slow_every_s
        facts = collect(ctx, STATUS_SECTIONS if full else fast).to_jsonable()
        if full:
            slow = {k: facts[k] for k in SLOW_SECTIONS if k in facts}
            slow_errors = {k: v for k, v in facts["errors"].items() if k in SLOW_SECTIONS}
            with lock:
                cache[ctx.host.name] = (now, slow, slow_errors)
        else:
            assert kept is not None
            facts = {**kept[1], **facts, "errors": {**kept[2], **facts["errors"]}}
        return _status_outcome(ctx, facts)

    return job


def metrics_job(ctx: HostContext) -> JobOutcome:
    """`rmmctl metrics`: every fact section; the status judges them like `status` does."""
    from rmmctl.trends import metric_samples

    facts = collect(ctx, METRICS_SECTIONS).to_jsonable()
    findings = run_checks(checks_within(METRICS_SECTIONS), facts, ctx.host.vars, ctx.host.name)
    return JobOutcome(worst_status(findings), {"facts": facts, "findings": [f.to_dict() for f in findings]},
                      metric_samples(facts), findings=tuple(findings))


def logs_job(*, since: float, level: str, limit: int, grep: str | None, source: str | None) -> Job:
    """`rmmctl logs`: entries at `level` or worse since a time, filtered by message regex and source.

    On a Windows host `--source` goes to the probe (LOG_SOURCE: a log name, else a provider over System and
    Application) and is not filtered again here: a log name matches no entry's provider. Elsewhere it is a
    unit or syslog tag filtered here, or a /path read instead of the journal. `--grep` is a Python regex."""
    pattern = re.compile(grep) if grep else None
    log_file = source if source and source.startswith("/") else None  # a path: read that file, not the journal
    unit = None if log_file else source
    filters = " ".join(f"{k} {v}" for k, v in (("--grep", grep), ("--source", unit)) if v)

    def job(ctx: HostContext) -> JobOutcome:
        windows = platform_of(ctx.host) == "windows"
        if windows:  # the Event Log filters by log or provider itself
            params, wanted = ({"LOG_SOURCE": source} if source else None), None
            probe_limit = limit if not grep else max(limit * 4, 2000)
        else:
            params, wanted = ({"LOG_FILE": log_file} if log_file else None), unit
            probe_limit = limit if not (grep or source) else max(limit * 4, 2000)
        facts = collect(ctx, LOG_SECTIONS, params, since=since, log_level=level, log_limit=probe_limit).to_jsonable()
        logs = facts.get("logs") or {}
        entries = [e for e in logs.get("entries", []) if _keep(e, pattern, wanted)]
        meta = {k: v for k, v in logs.items() if k != "entries"}
        notes = (lognotes.source_notes(logs, ctx.host.user)
                 + lognotes.nothing_notes(logs, len(logs.get("entries", [])), len(entries), filters))
        data = {"logs": meta, "entries": entries[-limit:], "notes": notes, "errors": facts["errors"]}
        return JobOutcome(Status.WARN if facts["errors"] or lognotes.blind(logs) else Status.OK, data)

    return job


def _keep(entry: Mapping[str, Any], pattern: re.Pattern[str] | None, source: str | None) -> bool:
    if source and not _source_matches(str(entry.get("source") or ""), source):
        return False
    return pattern is None or bool(pattern.search(str(entry.get("message") or "")))


def _source_matches(actual: str, wanted: str) -> bool:
    """`nginx` matches the unit nginx.service and the syslog tag nginx."""
    return actual == wanted or actual.removesuffix(".service") == wanted.removesuffix(".service")
