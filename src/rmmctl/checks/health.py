"""The health thresholds behind `rmmctl status`: facts + thresholds -> findings. Pure.

Every threshold is an inventory var (set it under defaults, a client, site, group or host).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from rmmctl.checks.base import Finding, RuleCheck, Severity, Thresholds, capped_evidence, said, section
from rmmctl.formats import iso_utc

HEALTH_THRESHOLDS = Thresholds({
    "disk_warn_pct": 85.0, "disk_crit_pct": 95.0,
    "inode_warn_pct": 85.0, "inode_crit_pct": 95.0,
    "mem_warn_pct": 90.0, "mem_crit_pct": 97.0,
    "swap_warn_pct": 80.0, "swap_crit_pct": 95.0,
    "load_warn_per_cpu": 2.0, "load_crit_per_cpu": 4.0,
    "skew_warn_s": 5.0, "skew_crit_s": 60.0,
    "failed_units_crit": 3.0,
    "security_updates_crit": 10.0,
})



def _level(value: float | None, warn: float, crit: float) -> Severity | None:
    if value is None:
        return None
    return Severity.CRITICAL if value >= crit else Severity.WARNING if value >= warn else None


def disk_rule(facts: Mapping[str, Any], t: Mapping[str, float], _v: Mapping[str, Any]) -> Iterator[Finding]:
    fs = section(facts, "filesystems")
    for m in (fs or {}).get("mounts", []):
        if m.get("read_only"):
            continue  # a read-only filesystem at 100% (squashfs, an ISO) is normal
        sev = _level(m.get("used_pct"), t["disk_warn_pct"], t["disk_crit_pct"])
        if sev:
            yield Finding("disk.space", sev, f"filesystem {m['mount']} is {m['used_pct']}% full",
                          (f"{m['device']} {m['mount']}: {m['used_kb']} KiB used of {m['size_kb']} KiB, "
                           f"{m['avail_kb']} KiB free ({m['used_pct']}%)",),
                          f"free space on {m['mount']} (old logs, caches, packages) or grow the filesystem",
                          "disk-cleanup")


def inodes_rule(facts: Mapping[str, Any], t: Mapping[str, float], _v: Mapping[str, Any]) -> Iterator[Finding]:
    fs = section(facts, "filesystems")
    for m in (fs or {}).get("mounts", []):
        if m.get("read_only"):
            continue
        isev = _level(m.get("inodes_pct"), t["inode_warn_pct"], t["inode_crit_pct"])
        if isev:
            yield Finding("disk.inodes", isev, f"filesystem {m['mount']} has used {m['inodes_pct']}% of its inodes",
                          (f"{m['mount']}: {m['inodes_used']} of {m['inodes_total']} inodes used",),
                          f"delete many small files under {m['mount']} (sessions, mail queues, caches)")


def memory_rule(facts: Mapping[str, Any], t: Mapping[str, float], _v: Mapping[str, Any]) -> Iterator[Finding]:
    mem = section(facts, "memory")
    if not mem:
        return
    sev = _level(mem.get("used_pct"), t["mem_warn_pct"], t["mem_crit_pct"])
    if sev:
        yield Finding("memory.pressure", sev, f"memory is {mem['used_pct']}% used",
                      (f"{mem['available_kb']} KiB available of {mem['total_kb']} KiB",),
                      "find the biggest processes (`rmmctl metrics HOST`) and restart or resize")


def swap_rule(facts: Mapping[str, Any], t: Mapping[str, float], _v: Mapping[str, Any]) -> Iterator[Finding]:
    mem = section(facts, "memory")
    if not mem:
        return
    ssev = _level(mem.get("swap_used_pct"), t["swap_warn_pct"], t["swap_crit_pct"])
    if ssev:
        yield Finding("memory.swap", ssev, f"swap is {mem['swap_used_pct']}% used",
                      (f"{mem['swap_used_kb']} KiB of {mem['swap_total_kb']} KiB swap in use",),
                      "the host is short of RAM: find the processes using it, or add memory")


def load_rule(facts: Mapping[str, Any], t: Mapping[str, float], _v: Mapping[str, Any]) -> Iterator[Finding]:
    up, cpu = section(facts, "uptime"), section(facts, "cpu")
    if not up or not cpu or not cpu.get("count") or up.get("load5") is None:  # no load averages (Windows)
        return
    per_cpu = round(float(up["load5"]) / int(cpu["count"]), 2)
    sev = _level(per_cpu, t["load_warn_per_cpu"], t["load_crit_per_cpu"])
    if sev:
        yield Finding("cpu.load", sev, f"5-minute load is {per_cpu} per CPU",
                      (f"load average {up['load1']} {up['load5']} {up['load15']} on {cpu['count']} CPUs",),
                      "find the busy processes (`rmmctl metrics HOST`); sustained load slows every service")


def services_rule(facts: Mapping[str, Any], t: Mapping[str, float], _v: Mapping[str, Any]) -> Iterator[Finding]:
    svc = section(facts, "services")
    failed = (svc or {}).get("failed") or []
    if failed:
        sev = Severity.CRITICAL if len(failed) >= t["failed_units_crit"] else Severity.WARNING
        names = ", ".join(u["name"] for u in failed)
        yield Finding("services.failed", sev, f"{len(failed)} failed service(s): {names}",
                      tuple(f"service {u['name']} {u['state']}: {u.get('description', '')}".strip() for u in failed),
                      "look at the service's log, fix the cause, then restart it"
                      + (" (`journalctl -u UNIT`, `systemctl restart UNIT`)" if svc and svc.get("manager") == "systemd"
                         else ""))


def updates_rule(facts: Mapping[str, Any], t: Mapping[str, float], _v: Mapping[str, Any]) -> Iterator[Finding]:
    upd = section(facts, "updates")
    if upd and upd.get("security"):
        sev = Severity.CRITICAL if upd["security"] >= t["security_updates_crit"] else Severity.WARNING
        sec = [p["name"] for p in upd.get("packages", []) if p.get("security")]
        yield Finding("updates.security", sev, f"{upd['security']} security update(s) pending",
                      capped_evidence(sec, total=upd["security"]),
                      "install them: the os-updates playbook, or your package manager",
                      "os-updates")


def reboot_rule(facts: Mapping[str, Any], t: Mapping[str, float], _v: Mapping[str, Any]) -> Iterator[Finding]:
    reboot = section(facts, "reboot")
    if reboot and reboot.get("required"):
        yield Finding("reboot.required", Severity.WARNING, "a reboot is required",
                      tuple(reboot.get("packages") or ()) or (f"found by {said(reboot.get('method'))}",),
                      "schedule a reboot in the client's maintenance window")


def time_rule(facts: Mapping[str, Any], t: Mapping[str, float], _v: Mapping[str, Any]) -> Iterator[Finding]:
    tm = section(facts, "time")
    if not tm or tm.get("skew_s") is None:
        return
    sev = _level(abs(float(tm["skew_s"])), t["skew_warn_s"], t["skew_crit_s"])
    if sev:
        yield Finding("time.skew", sev, f"clock is off by {tm['skew_s']} s",
                      (f"host clock {iso_utc(float(tm['epoch']))}, synchronized: {said(tm.get('synchronized'))}, "
                       f"time service: {said(tm.get('ntp_service'), 'none')}",),
                      "enable time sync (systemd-timesyncd or chrony) and check it can reach its servers")


def incomplete_rule(facts: Mapping[str, Any], t: Mapping[str, float], _v: Mapping[str, Any]) -> Iterator[Finding]:
    errors = facts.get("errors") or {}
    if errors:
        yield Finding("probe.incomplete", Severity.WARNING, f"{len(errors)} probe section(s) failed",
                      tuple(errors.values()), "run `rmmctl metrics HOST -v` to see the failing section")


def _t(*keys: str) -> dict[str, float]:
    return {k: HEALTH_THRESHOLDS.defaults[k] for k in keys}


HEALTH_CHECKS: tuple[RuleCheck, ...] = (
    RuleCheck("disk.space", "filesystems nearly full", ("filesystems",), disk_rule,
              _t("disk_warn_pct", "disk_crit_pct")),
    RuleCheck("disk.inodes", "filesystems out of inodes", ("filesystems",), inodes_rule,
              _t("inode_warn_pct", "inode_crit_pct")),
    RuleCheck("memory.pressure", "memory nearly exhausted", ("memory",), memory_rule,
              _t("mem_warn_pct", "mem_crit_pct")),
    RuleCheck("memory.swap", "heavy swap use", ("memory",), swap_rule, _t("swap_warn_pct", "swap_crit_pct")),
    RuleCheck("cpu.load", "sustained load per CPU", ("uptime", "cpu"), load_rule,
              _t("load_warn_per_cpu", "load_crit_per_cpu")),
    RuleCheck("services.failed", "failed services", ("services",), services_rule, _t("failed_units_crit")),
    RuleCheck("updates.security", "pending security updates", ("updates",), updates_rule,
              _t("security_updates_crit")),
    RuleCheck("reboot.required", "a reboot is pending", ("reboot",), reboot_rule),
    RuleCheck("time.skew", "clock off against the controller", ("time",), time_rule,
              _t("skew_warn_s", "skew_crit_s")),
    RuleCheck("probe.incomplete", "probe sections that failed", (), incomplete_rule),
)


def evaluate(facts: Mapping[str, Any], host_vars: Mapping[str, Any], host: str = "") -> list[Finding]:
    """Every health finding for one host's facts, thresholds from its vars."""
    from rmmctl.checks.registry import run_checks

    return run_checks(HEALTH_CHECKS, facts, host_vars, host)
