"""Parsers of the Windows system sections: host, os, uptime, cpu, memory, filesystems, processes, services,
time. Each takes the section's JSON as PowerShell 5.1 printed it (see shapes) and gives the OS-neutral facts."""

from __future__ import annotations

import re
from typing import Any

from rmmctl.facts import (
    CpuFacts,
    FilesystemsFacts,
    HostFacts,
    MemoryFacts,
    MountFacts,
    OsFacts,
    ProcessesFacts,
    ProcessFacts,
    ScmService,
    Service,
    ServicesFacts,
    TimeFacts,
    Unavailable,
    UptimeFacts,
    W32TimeFacts,
    pct,
    unavailable,
)
from rmmctl.probes import ParseError
from rmmctl.probes.windows.prober import ParseContext, parser
from rmmctl.probes.windows.shapes import as_dict, as_list, epoch, flag, integer, num, text

_ARCH = {"AMD64": "x86_64", "X86": "i686", "ARM64": "aarch64", "ARM": "arm", "IA64": "ia64"}


@parser("host")
def parse_host(data: Any, _: ParseContext) -> HostFacts:
    d = as_dict(data, "host")
    name = text(d.get("hostname")) or text(d.get("dns_hostname")) or ""
    domain = text(d.get("domain")) if d.get("part_of_domain") else None
    short = (text(d.get("dns_hostname")) or name).lower()
    arch = text(d.get("arch")) or ""
    return {
        "hostname": short,
        "fqdn": f"{short}.{domain.lower()}" if domain else None,
        "kernel": text(d.get("version")) or "",
        "arch": _ARCH.get(arch.upper(), arch.lower()),
        "machine_id": text(d.get("machine_guid")),
    }


@parser("os")
def parse_os(data: Any, _: ParseContext) -> OsFacts:
    d = as_dict(data, "os")
    caption = text(d.get("caption")) or "Windows"
    name = caption.removeprefix("Microsoft ").strip()
    display = text(d.get("display_version")) or text(d.get("release_id"))
    return {
        "family": "windows",
        "id": "windows-server" if (d.get("product_type") or 1) in (2, 3) else "windows",
        "name": name,
        "version_id": text(d.get("version")),
        "version_codename": display,
        "pretty_name": f"{name} {display}" if display else name,
        "id_like": [],
    }


@parser("uptime")
def parse_uptime(data: Any, _: ParseContext) -> UptimeFacts:
    """LastBootUpTime and the host's now (ISO, or /Date(ms)/ when a date slipped through); no load averages."""
    d = as_dict(data, "uptime")
    boot, now = epoch(d.get("last_boot")), epoch(d.get("now"))
    seconds = num(d.get("uptime_s"))
    if seconds is None and boot is not None and now is not None:
        seconds = now - boot
    if seconds is None:
        raise ParseError("uptime: no LastBootUpTime in Win32_OperatingSystem's answer")
    return {
        "seconds": round(max(0.0, seconds), 2),
        "boot_time": boot,
        "load1": None,
        "load5": None,
        "load15": None,
        "procs_running": None,
        "procs_total": integer(d.get("processes")),
    }


def _share(value: Any) -> float:
    n = num(value)
    return 0.0 if n is None else round(min(100.0, max(0.0, n)), 1)


@parser("cpu")
def parse_cpu(data: Any, _: ParseContext) -> CpuFacts | Unavailable:
    """Win32_Processor and the `_Total` processor perf instance (its % busy, user, privileged, idle)."""
    d = as_dict(data, "cpu")
    total = d.get("total")
    if not isinstance(total, dict):
        return unavailable("no processor performance data (Win32_PerfFormattedData_PerfOS_Processor); "
                           "rebuild the counters with `lodctr /R` and `winmgmt /resyncperf`")
    busy = _share(total.get("busy"))
    idle = _share(total.get("idle")) if num(total.get("idle")) is not None else round(100.0 - busy, 1)
    model = text(d.get("model"))
    return {
        "count": max(integer(d.get("logical")) or 0, integer(d.get("processor_count")) or 0, 1),
        "model": " ".join(model.split()) if model else None,
        "percent": busy,
        "user": _share(total.get("user")),
        "system": _share(total.get("privileged")),
        "iowait": None,
        "steal": None,
        "idle": idle,
    }


@parser("memory")
def parse_memory(data: Any, _: ParseContext) -> MemoryFacts:
    """Win32_OperatingSystem's RAM (KB; FreePhysicalMemory is Windows's "available") and the page files
    as swap (Win32_PageFileUsage, MB: none, one or several)."""
    d = as_dict(data, "memory")
    total = integer(d.get("total_kb"))
    if not total:
        raise ParseError("memory: no TotalVisibleMemorySize in Win32_OperatingSystem's answer")
    free = min(total, max(0, integer(d.get("free_kb")) or 0))
    swap_total = swap_used = 0
    for pf in as_list(d.get("pagefiles")):
        if isinstance(pf, dict):
            size = max(0, integer(pf.get("allocated_mb")) or 0)
            swap_total += size * 1024
            swap_used += min(size, max(0, integer(pf.get("current_mb")) or 0)) * 1024
    return {
        "total_kb": total,
        "available_kb": free,
        "used_kb": total - free,
        "used_pct": pct(total - free, total),
        "swap_total_kb": swap_total,
        "swap_used_kb": swap_used,
        "swap_used_pct": pct(swap_used, swap_total),
    }


@parser("filesystems")
def parse_filesystems(data: Any, _: ParseContext) -> FilesystemsFacts:
    """Fixed logical disks (sizes in bytes -> KiB); one without a size (RAW, no medium) is left out."""
    d = as_dict(data, "filesystems")
    mounts: list[MountFacts] = []
    for disk in as_list(d.get("disks")):
        if not isinstance(disk, dict):
            continue
        drive, size, free = text(disk.get("drive")), integer(disk.get("size")), integer(disk.get("free"))
        if not drive or not size or free is None:
            continue
        size_kb, avail_kb = size // 1024, min(size, max(0, free)) // 1024
        used_kb = size_kb - avail_kb
        mounts.append({
            "mount": drive.upper(),
            "device": text(disk.get("label")) or drive.upper(),
            "fstype": text(disk.get("fs")),
            "size_kb": size_kb,
            "used_kb": used_kb,
            "avail_kb": avail_kb,
            "used_pct": pct(used_kb, used_kb + avail_kb),
            "inodes_total": None,
            "inodes_used": None,
            "inodes_free": None,
            "inodes_pct": None,
            "read_only": integer(disk.get("access")) == 1,  # Win32_Volume.Access 1: readable only
        })
    return {"mounts": mounts}


_REPEAT = re.compile(r"#\d+$")


def _process(row: Any, mem_total_kb: int | None) -> ProcessFacts | None:
    if not isinstance(row, dict) or integer(row.get("pid")) is None:
        return None
    rss = integer(row.get("ws_private"))
    rss_kb = None if rss is None else max(0, rss) // 1024
    return {
        "pid": integer(row.get("pid")) or 0,
        "name": _REPEAT.sub("", text(row.get("name")) or "?"),
        "user": None,
        "state": "R" if (num(row.get("cpu")) or 0) > 0 else "S",
        "cpu_pct": round(max(0.0, num(row.get("cpu")) or 0.0), 1),
        "mem_pct": pct(rss_kb, mem_total_kb) if rss_kb is not None and mem_total_kb else None,
        "rss_kb": rss_kb,
    }


@parser("processes")
def parse_processes(data: Any, _: ParseContext) -> ProcessesFacts:
    """The process perf class: % of ONE CPU (as on Linux; it passes 100 on several CPUs), the private working
    set as rss_kb; names without the perf instance's `#N` suffix; no user (it needs elevation to read)."""
    d = as_dict(data, "processes")
    total = integer(d.get("mem_total_kb"))

    def top(key: str) -> list[ProcessFacts]:
        rows = [p for p in (_process(r, total) for r in as_list(d.get(key))) if p is not None]
        return rows[:10]

    top_cpu = sorted(top("top_cpu"), key=lambda p: -p["cpu_pct"])
    top_mem = sorted(top("top_mem"), key=lambda p: -(p["rss_kb"] or 0))
    return {"count": integer(d.get("count")) or 0, "top_cpu": top_cpu, "top_mem": top_mem}


_SERVICE_STATES = {1: "stopped", 2: "starting", 3: "stopping", 4: "running", 5: "continuing", 6: "pausing",
                   7: "paused"}  # ServiceControllerStatus, should an enum slip through as an int
_WMI_STATES = {"stopped": "stopped", "start pending": "starting", "stop pending": "stopping", "running": "running",
               "continue pending": "continuing", "pause pending": "pausing", "paused": "paused"}
_START_MODES = {0: "Boot", 1: "System", 2: "Auto", 3: "Manual", 4: "Disabled"}  # ServiceStartMode
_NEVER_STARTED = 1077  # ERROR_SERVICE_NEVER_STARTED: not a failure of a trigger-start service


def _state(value: Any) -> str:
    n = integer(value) if isinstance(value, (int, float)) or str(value).strip().isdigit() else None
    if n is not None:
        return _SERVICE_STATES.get(n, "unknown")
    return _WMI_STATES.get((text(value) or "").lower(), (text(value) or "unknown").lower())


def _start_mode(value: Any) -> str | None:
    """WMI's StartMode (`Auto`, `Manual` ...; Get-Service's `Automatic` or an enum int also read), None if absent."""
    n = integer(value) if isinstance(value, (int, float)) or str(value).strip().isdigit() else None
    raw = _START_MODES.get(n, str(n)) if n is not None else text(value)
    return "Auto" if raw and raw.lower() in ("auto", "automatic") else raw


def scm_failed(state: str, scm: ScmService) -> bool:
    """THE rule for an automatic service that is not running: failed when it stopped with an error (a
    non-zero exit code; 1077, never started, only for a service that is not trigger-started), or when it is
    stopped although nothing but a failure or a person stops it (neither delayed nor trigger-start). A
    delayed or trigger-start service stopped cleanly is expected (gupdate, edgeupdate, sppsvc, MapsBroker,
    RemoteRegistry stop themselves). Pending and paused states are transitions, not failures."""
    if state != "stopped":
        return False
    code, own = scm["exit_code"] or 0, scm["service_exit_code"] or 0
    if code == _NEVER_STARTED and scm["trigger"]:
        return False
    if code or own:
        return True
    return not (scm["delayed"] or scm["trigger"])


@parser("services")
def parse_services(data: Any, _: ParseContext) -> ServicesFacts:
    """Automatic services not running (Win32_Service) -> the failed ones (scm_failed); system_state is
    `running` when none failed, else `degraded` (Windows has no overall state: this mirrors systemd's)."""
    d = as_dict(data, "services")
    failed: list[Service] = []
    for row in as_list(d.get("services")):
        if not isinstance(row, dict) or not text(row.get("name")):
            continue
        name = text(row.get("name")) or ""
        scm: ScmService = {
            "start_mode": _start_mode(row.get("start_mode")) or "Auto",  # the probe asks for Auto only
            "delayed": bool(flag(row.get("delayed"))),
            "trigger": bool(flag(row.get("trigger"))),
            "exit_code": integer(row.get("exit_code")),
            "service_exit_code": integer(row.get("service_exit_code")),
        }
        state = _state(row.get("state"))
        if scm["start_mode"] == "Auto" and scm_failed(state, scm):
            failed.append({"name": name, "state": state, "start_mode": "auto",
                           "description": text(row.get("display")) or name, "systemd": None, "scm": scm})
    return {"available": True, "manager": "scm", "init": None,
            "system_state": "degraded" if failed else "running", "failed": failed}


_NOT_SYNCED_SOURCES = ("local cmos clock", "free-running system clock")
_STRIPCHART = re.compile(r"(?<![\w:])([+-]\d+(?:[.,]\d+)?)s\b")


def stripchart_offset(textout: str | None) -> float | None:
    """The offset in `w32tm /stripchart /dataonly` output (`01:34:24, +00.0123456s`, a comma as the decimal
    mark on some locales), as the host clock's error: w32tm's offset is the server's clock minus ours, so
    positive there means the host is behind; here positive means the host is ahead (as TimeFacts says).
    None for an error sample or anything unreadable."""
    last = None
    for line in (textout or "").splitlines():
        m = _STRIPCHART.search(line)
        if m:
            last = m.group(1)
    if last is None:
        return None
    try:
        return round(-float(last.replace(",", ".")), 7) + 0.0
    except ValueError:
        return None


def _utc_offset(minutes: int | None) -> str | None:
    if minutes is None:
        return None
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}{abs(minutes) % 60:02d}"


@parser("time")
def parse_time(data: Any, ctx: ParseContext) -> TimeFacts:
    """The host clock (skew_s against the controller's clock at the probe's start, as on Linux) and w32time:
    synchronised when the service runs with a real source; not when its source is the local clock, its
    Type is NoSync or it is disabled; unknown when it is stopped (workgroup Windows starts it by trigger
    and on a schedule) or did not answer."""
    d = as_dict(data, "time")
    host_epoch = num(d.get("epoch"))
    if host_epoch is None:
        raise ParseError("time: no host clock in the probe output")
    svc = d.get("service") if isinstance(d.get("service"), dict) else None
    state = _state(svc.get("state")) if svc else None
    start = ((_start_mode(svc.get("start_mode")) or "").lower() or None) if svc else None
    source_text = text(d.get("source"))
    source = source_text.splitlines()[0].strip() if source_text else None
    kind = text(d.get("type"))
    chart = text(d.get("stripchart"))
    w32: W32TimeFacts = {
        "state": state,
        "start_mode": start,
        "type": kind,
        "ntp_server": text(d.get("ntp_server")),
        "source": source,
        "stripchart": chart.splitlines()[-1].strip() if chart else None,
    }
    synced: bool | None = None
    if start == "disabled" or (kind or "").lower() == "nosync":
        synced = False
    elif state == "running" and source:
        low = source.lower()
        if low in _NOT_SYNCED_SOURCES:
            synced = False
        elif " " not in source or low.startswith("vm ic time"):  # a peer name, or Hyper-V's provider
            synced = True
    offset = stripchart_offset(chart) if synced else None
    return {
        "epoch": round(host_epoch, 6),
        "skew_s": round(host_epoch - ctx.controller_time, 3),
        "synchronized": synced,
        "ntp_service": "w32time" if state == "running" else None,
        "ntp_enabled": None if svc is None else not (start == "disabled" or (kind or "").lower() == "nosync"),
        "ntp_offset_s": offset,
        "timezone": text(d.get("timezone")),
        "utc_offset": _utc_offset(integer(d.get("utc_offset_min"))),
        "w32time": w32,
    }
