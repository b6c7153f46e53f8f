"""System checks beyond the health thresholds: read-only filesystems, pending updates and stale package
lists, time sync, log error bursts (named rules), backup freshness and ClamAV signature age. Pure.

"Now" always comes from the host's own clock as the probe saw it (a section's `now`, or time.epoch),
never from the controller. Every threshold is an inventory var of the same name.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from rmmctl.checks.base import Finding, Severity, said
from rmmctl.checks.system_logs import LOG_CHECKS
from rmmctl.checks.system_support import SystemCheck, as_list, backup_targets, section, stamp
from rmmctl.errors import ConfigError

_RO_BY_DESIGN = {"squashfs", "iso9660", "udf", "erofs", "cramfs", "romfs"}


def readonly_rule(facts: Mapping[str, Any], t: Mapping[str, float], hv: Mapping[str, Any]) -> Iterator[Finding]:
    """`/` and every mount in `writable_mounts` must not be mounted read-only (images like squashfs may)."""
    fs = section(facts, "filesystems")
    wanted = {"/", *as_list(hv.get("writable_mounts"), "writable_mounts")}
    for m in (fs or {}).get("mounts", []):
        if not m.get("read_only") or m["mount"] not in wanted or m.get("fstype") in _RO_BY_DESIGN:
            continue
        yield Finding("disk.readonly", Severity.CRITICAL, f"filesystem {m['mount']} is mounted read-only",
                      (f"{m['device']} on {m['mount']} type {m.get('fstype')} (ro)",),
                      f"the kernel remounts a filesystem read-only after I/O or filesystem errors: read "
                      f"`dmesg`, check the disk (smartctl) and run fsck, then `mount -o remount,rw {m['mount']}`")


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


def unsynchronized_rule(facts: Mapping[str, Any], t: Mapping[str, float],
                        hv: Mapping[str, Any]) -> Iterator[Finding]:
    """The clock is not synchronised, or no time service runs (var time_service_required: false to accept)."""
    tm = section(facts, "time")
    if not tm:
        return
    offset = tm.get("ntp_offset_s")
    line = (f"synchronized: {said(tm.get('synchronized'))}, time service: {said(tm.get('ntp_service'), 'none')}, "
            f"NTP enabled: {said(tm.get('ntp_enabled'))}, NTP offset: {'unknown' if offset is None else f'{offset} s'}")
    if tm.get("synchronized") is False:
        yield Finding("time.unsynchronized", Severity.WARNING, "the clock is not synchronised", (line,),
                      "check the time service can reach its servers (`timedatectl timesync-status`, "
                      "`chronyc sources`); UDP 123 may be blocked")
    elif tm.get("synchronized") is None and not tm.get("ntp_service") and hv.get("time_service_required", True):
        yield Finding("time.unsynchronized", Severity.WARNING, "no time synchronisation service is running",
                      (line,), "install and enable one (systemd-timesyncd or chrony); in a container whose "
                      "clock is the host's, set the inventory var time_service_required: false")


def backup_params(hv: Mapping[str, Any], host: str = "") -> dict[str, Any]:
    """BACKUP_PATHS for the probe: the paths of inventory var backup_paths."""
    targets = backup_targets(hv.get("backup_paths"), {"backup_max_age_hours": 0, "backup_min_bytes": 0}, host)
    return {"BACKUP_PATHS": [tg.path for tg in targets]} if targets else {}


def backup_rule(facts: Mapping[str, Any], t: Mapping[str, float], hv: Mapping[str, Any]) -> Iterator[Finding]:
    """Each backup path: exists, newest file younger than max_age_hours and at least min_bytes."""
    data = section(facts, "backup")
    targets = backup_targets(hv.get("backup_paths"), t)
    if data is None or not targets:
        return
    seen = {p["path"]: p for p in data.get("paths", [])}
    for tg in targets:
        entry = seen.get(tg.path)
        if entry is None:
            yield Finding("backup.freshness", Severity.WARNING, f"backup {tg.path} was not probed",
                          (f"the probe's backup section has no entry for {tg.path}",),
                          "run it through `rmmctl diagnose`, which sends the backup paths to the probe")
        else:
            yield from _backup_findings(tg, entry, int(data["now"]))


def _backup_findings(tg: Any, entry: Mapping[str, Any], now: int) -> Iterator[Finding]:
    crit = Severity.CRITICAL
    if entry["kind"] in ("missing", "other"):
        what = "does not exist" if entry["kind"] == "missing" else "is neither a file nor a directory"
        yield Finding("backup.freshness", crit, f"backup {tg.path} {what}", (f"{tg.path}: {entry['kind']}",),
                      "check the backup job (its schedule, its log, the target mount) and run it now")
        return
    if entry.get("mtime") is None:
        yield Finding("backup.freshness", crit, f"backup directory {tg.path} holds no files",
                      (f"{tg.path}: directory with {entry.get('files') or 0} files",),
                      "check the backup job (its schedule, its log, the target mount) and run it now")
        return
    name = entry.get("newest") or tg.path
    age_h = (now - int(entry["mtime"])) / 3600
    evidence = ((f"{name}: {entry['size']} bytes, modified {stamp(entry['mtime'])} ({age_h:.1f} h before "
                f"the host's {stamp(now)})"),)
    if age_h > tg.max_age_hours:
        sev = crit if age_h > 3 * tg.max_age_hours else Severity.WARNING
        yield Finding("backup.freshness", sev, f"backup {tg.path} is {age_h:.0f} h old (max {tg.max_age_hours:g} h)",
                      evidence, "the backup job has not run or not finished: check its schedule and its log")
    if int(entry["size"]) < tg.min_bytes:
        yield Finding("backup.freshness", crit, f"backup {tg.path} is only {entry['size']} bytes "
                      f"(min {tg.min_bytes:g})", evidence,
                      "the backup wrote an empty or truncated file: read the backup job's log and run it again")


def av_params(hv: Mapping[str, Any], host: str = "") -> dict[str, Any]:
    """AV_DB_DIR for the probe when inventory var clamav_db_dir is set (else freshclam.conf decides)."""
    value = hv.get("clamav_db_dir")
    if value is None:
        return {}
    if not isinstance(value, str) or not value.startswith("/") or "\n" in value:
        raise ConfigError(f"{host + ': ' if host else ''}vars.clamav_db_dir must be an absolute path, got {value!r}")
    return {"AV_DB_DIR": value}


def av_rule(facts: Mapping[str, Any], t: Mapping[str, float], hv: Mapping[str, Any]) -> Iterator[Finding]:
    """ClamAV's newest signature database must be younger than av_max_age_days (critical at av_crit_age_days)."""
    av = section(facts, "av")
    if not av:
        return
    dbs = sorted(av.get("databases", []), key=lambda d: d["mtime"], reverse=True)
    tail = tuple(f"{av.get('log')}: {line}" for line in av.get("log_tail", [])[-5:])
    fix = ("run `freshclam` by hand and read its output; enable the clamav-freshclam service; check proxy "
           "and mirror access (ClamAV's CDN blocks clients that update too often)")
    if not dbs:
        yield Finding("av.clamav_age", Severity.CRITICAL, f"ClamAV has no signature databases in {av['db_dir']}",
                      (f"{av['db_dir']}: no *.cvd or *.cld files; tools: {' '.join(av.get('tools', [])) or 'none'}",
                       *tail), fix)
        return
    age_d = (int(av["now"]) - int(dbs[0]["mtime"])) / 86400
    sev = (Severity.CRITICAL if age_d > t["av_crit_age_days"]
           else Severity.WARNING if age_d > t["av_max_age_days"] else None)
    if sev:
        evidence = tuple(f"{av['db_dir']}/{d['name']} {stamp(d['mtime'])}"
                         + (f" version {d['version']}" if d.get("version") else "")
                         + (f" built {d['built']}" if d.get("built") else "") for d in dbs)
        yield Finding("av.clamav_age", sev, f"ClamAV signatures are {age_d:.1f} days old", evidence + tail, fix)


SYSTEM_CHECKS: tuple[Any, ...] = (
    SystemCheck("disk.readonly", "filesystems read-only that should be writable", ("filesystems",), readonly_rule),
    SystemCheck("updates.pending", "pending package updates", ("updates",), pending_rule, {"updates_warn": 50.0}),
    SystemCheck("updates.stale_lists", "package lists not refreshed", ("time", "updates"), stale_lists_rule,
                {"package_lists_max_age_days": 7.0}),
    SystemCheck("time.unsynchronized", "clock not synchronised", ("time",), unsynchronized_rule),
    *LOG_CHECKS,
    SystemCheck("backup.freshness", "backups missing, stale or too small", ("backup",), backup_rule,
                {"backup_max_age_hours": 26.0, "backup_min_bytes": 1.0}, backup_params),
    SystemCheck("av.clamav_age", "ClamAV signatures out of date", ("av",), av_rule,
                {"av_max_age_days": 3.0, "av_crit_age_days": 7.0}, av_params),
)
