"""Time checks: clock skew against the controller, and a clock that is not synchronised. Pure.

On Windows (facts with a `w32time` sub-dict) the evidence quotes the Windows Time service (its state,
`w32tm /query /source`, its configured Type and NtpServer) and the fixes are w32tm / service commands."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from rmmctl.checks.base import Finding, RuleCheck, Severity, level, said, section
from rmmctl.formats import iso_utc

_RESYNC = "`w32tm /resync /force`"
_LOCAL_CLOCKS = ("local cmos clock", "free-running system clock")


def w32time_line(w: Mapping[str, Any]) -> str:
    """The Windows Time service as evidence: `W32Time running (auto), w32tm /query /source: ..., ...`."""
    parts = [f"W32Time {said(w.get('state'))} ({said(w.get('start_mode'))})",
             f"w32tm /query /source: {said(w.get('source'), 'not asked')}",
             f"Type {said(w.get('type'))}", f"NtpServer {said(w.get('ntp_server'), 'none')}"]
    if w.get("stripchart"):
        parts.append(f"stripchart: {w['stripchart']}")
    return ", ".join(parts)


def _windows_sync_fix(w: Mapping[str, Any]) -> str:
    if w.get("start_mode") == "disabled" or w.get("state") != "running":
        return ("start the Windows Time service: `Set-Service w32time -StartupType Automatic; Start-Service "
                f"w32time`, then {_RESYNC}")
    return ("give it a source: a domain member `w32tm /config /syncfromflags:domhier /update`, a workgroup "
            "machine `w32tm /config /manualpeerlist:\"time.windows.com,0x9\" /syncfromflags:manual /update`; "
            f"then `Restart-Service w32time` and {_RESYNC} (UDP 123 to the source may be blocked)")


def time_rule(facts: Mapping[str, Any], t: Mapping[str, float], _v: Mapping[str, Any]) -> Iterator[Finding]:
    tm = section(facts, "time")
    if not tm or tm.get("skew_s") is None:
        return
    sev = level(abs(float(tm["skew_s"])), t["skew_warn_s"], t["skew_crit_s"])
    if not sev:
        return
    evidence = (f"host clock {iso_utc(float(tm['epoch']))}, synchronized: {said(tm.get('synchronized'))}, "
                f"time service: {said(tm.get('ntp_service'), 'none')}",)
    w = tm.get("w32time")
    if isinstance(w, Mapping):
        evidence += (w32time_line(w),)
        fix = (f"resync the clock: {_RESYNC} (the Windows Time service must run: `Start-Service w32time`); "
               "check its source with `w32tm /query /source` and `w32tm /stripchart /computer:SOURCE "
               "/samples:3 /dataonly`")
    else:
        fix = "enable time sync (systemd-timesyncd or chrony) and check it can reach its servers"
    yield Finding("time.skew", sev, f"clock is off by {tm['skew_s']} s", evidence, fix)


def unsynchronized_rule(facts: Mapping[str, Any], t: Mapping[str, float],
                        hv: Mapping[str, Any]) -> Iterator[Finding]:
    """The clock is not synchronised, or no time service runs (var time_service_required: false to accept)."""
    tm = section(facts, "time")
    if not tm:
        return
    offset = tm.get("ntp_offset_s")
    line = (f"synchronized: {said(tm.get('synchronized'))}, time service: {said(tm.get('ntp_service'), 'none')}, "
            f"NTP enabled: {said(tm.get('ntp_enabled'))}, NTP offset: {'unknown' if offset is None else f'{offset} s'}")
    w = tm.get("w32time")
    if isinstance(w, Mapping):
        yield from _windows_unsynchronized(tm, w, line, hv)
        return
    if tm.get("synchronized") is False:
        yield Finding("time.unsynchronized", Severity.WARNING, "the clock is not synchronised", (line,),
                      "check the time service can reach its servers (`timedatectl timesync-status`, "
                      "`chronyc sources`); UDP 123 may be blocked")
    elif tm.get("synchronized") is None and not tm.get("ntp_service") and hv.get("time_service_required", True):
        yield Finding("time.unsynchronized", Severity.WARNING, "no time synchronisation service is running",
                      (line,), "install and enable one (systemd-timesyncd or chrony); in a container whose "
                      "clock is the host's, set the inventory var time_service_required: false")


def _windows_unsynchronized(tm: Mapping[str, Any], w: Mapping[str, Any], line: str,
                            hv: Mapping[str, Any]) -> Iterator[Finding]:
    """Windows: not synchronised (a local-clock source, Type NoSync, W32Time disabled), or W32Time stopped
    although set to start automatically. A stopped trigger-start (manual) W32Time is Windows's default on
    workgroup machines, which start it on a schedule: no finding (time.skew still watches the clock)."""
    evidence = (line, w32time_line(w))
    required = hv.get("time_service_required", True)
    if tm.get("synchronized") is False:
        if w.get("start_mode") == "disabled" and not required:
            return
        source = str(w.get("source") or "").lower()
        why = ("W32Time is disabled" if w.get("start_mode") == "disabled" else
               "W32Time syncs from nothing (Type NoSync)" if str(w.get("type") or "").lower() == "nosync" else
               f"w32tm's source is the {w.get('source')}" if source in _LOCAL_CLOCKS else "no time source")
        yield Finding("time.unsynchronized", Severity.WARNING, f"the clock is not synchronised: {why}", evidence,
                      _windows_sync_fix(w))
    elif (tm.get("synchronized") is None and w.get("state") == "stopped" and w.get("start_mode") == "auto"
          and required):
        yield Finding("time.unsynchronized", Severity.WARNING, "the Windows Time service (W32Time) is not running",
                      evidence, _windows_sync_fix(w) + "; the System log says why it stopped (source "
                      "Microsoft-Windows-Time-Service)")


SKEW = RuleCheck("time.skew", "clock off against the controller", ("time",), time_rule,
                 {"skew_warn_s": 5.0, "skew_crit_s": 60.0})
UNSYNCHRONIZED = RuleCheck("time.unsynchronized", "clock not synchronised", ("time",), unsynchronized_rule,
                           vars={"time_service_required": True})
