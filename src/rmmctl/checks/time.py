"""Time checks: clock skew against the controller, and a clock that is not synchronised. Pure."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from rmmctl.checks.base import Finding, RuleCheck, Severity, level, said, section
from rmmctl.formats import iso_utc


def time_rule(facts: Mapping[str, Any], t: Mapping[str, float], _v: Mapping[str, Any]) -> Iterator[Finding]:
    tm = section(facts, "time")
    if not tm or tm.get("skew_s") is None:
        return
    sev = level(abs(float(tm["skew_s"])), t["skew_warn_s"], t["skew_crit_s"])
    if sev:
        yield Finding("time.skew", sev, f"clock is off by {tm['skew_s']} s",
                      (f"host clock {iso_utc(float(tm['epoch']))}, synchronized: {said(tm.get('synchronized'))}, "
                       f"time service: {said(tm.get('ntp_service'), 'none')}",),
                      "enable time sync (systemd-timesyncd or chrony) and check it can reach its servers")


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


SKEW = RuleCheck("time.skew", "clock off against the controller", ("time",), time_rule,
                 {"skew_warn_s": 5.0, "skew_crit_s": 60.0})
UNSYNCHRONIZED = RuleCheck("time.unsynchronized", "clock not synchronised", ("time",), unsynchronized_rule,
                           vars={"time_service_required": True})
