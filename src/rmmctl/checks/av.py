"""Antivirus checks: ClamAV signature databases out of date (Linux); Microsoft Defender off or its signatures
out of date (Windows, av.engine `defender`). Pure.

"Now" is the host's own clock as the probe saw it (the av section's `now`), never the controller's.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from rmmctl.checks.base import Finding, RuleCheck, Severity, section, stamp
from rmmctl.errors import ConfigError


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
    if not av or av.get("engine") == DEFENDER:
        return
    dbs = sorted(av.get("databases", []), key=lambda d: d["mtime"], reverse=True)
    tail = tuple(f"{av.get('log')}: {line}" for line in av.get("log_tail", [])[-5:])
    fix = ("run `freshclam` by hand and read its output; enable the clamav-freshclam service; check proxy "
           "and mirror access (ClamAV's CDN blocks clients that update too often)")
    if not dbs:
        yield Finding("av.clamav_age", Severity.CRITICAL, f"ClamAV has no signature databases in {av['db_dir']}",
                      (f"{av['db_dir']}: no *.cvd or *.cld files; tools: {' '.join(av.get('tools', [])) or 'none'}",
                       *tail), fix, "av-update")
        return
    age_d = (int(av["now"]) - int(dbs[0]["mtime"])) / 86400
    sev = (Severity.CRITICAL if age_d > t["av_crit_age_days"]
           else Severity.WARNING if age_d > t["av_max_age_days"] else None)
    if sev:
        evidence = tuple(f"{av['db_dir']}/{d['name']} {stamp(d['mtime'])}"
                         + (f" version {d['version']}" if d.get("version") else "")
                         + (f" built {d['built']}" if d.get("built") else "") for d in dbs)
        yield Finding("av.clamav_age", sev, f"ClamAV signatures are {age_d:.1f} days old", evidence + tail, fix, "av-update")


DEFENDER = "defender"
WINDOWS_MAINTENANCE = "windows-maintenance"  # its win_defender_update task updates the signatures
DEFENDER_UPDATE = ("run `Update-MpSignature` on the host (or `& \"$env:ProgramFiles\\Windows Defender\\MpCmdRun.exe\" "
                   "-SignatureUpdate`), or the shipped windows-maintenance playbook; then find why automatic updates "
                   "stopped (WSUS approval of definition updates, proxy, the update source policy)")


def _defender_state(d: Mapping[str, Any]) -> str:
    return (f"RealTimeProtectionEnabled {d.get('real_time')}, AntivirusEnabled {d.get('antivirus_enabled')}, "
            f"AMServiceEnabled {d.get('service_enabled')}, AMRunningMode {d.get('running_mode') or '?'}, "
            f"IsTamperProtected {d.get('tamper_protected')}")


def defender_off_rule(facts: Mapping[str, Any], t: Mapping[str, float], hv: Mapping[str, Any]) -> Iterator[Finding]:
    """Microsoft Defender's service, antivirus or real-time protection off: critical (the host is unprotected)."""
    av = section(facts, "av")
    d = av.get("defender") if av and av.get("engine") == DEFENDER else None
    if not d:
        return
    if not d.get("service_enabled") or not d.get("antivirus_enabled"):
        yield Finding("av.defender_off", Severity.CRITICAL, "Microsoft Defender antivirus is disabled",
                      (f"Get-MpComputerStatus: {_defender_state(d)}",),
                      "turn it back on (a Group Policy or Intune setting `Turn off Microsoft Defender Antivirus`, or "
                      "a removed third-party antivirus that left it off): `Get-MpPreference`, `gpresult /h`; then "
                      "`Start-Service WinDefend`")
    elif not d.get("real_time"):
        yield Finding("av.defender_off", Severity.CRITICAL, "Microsoft Defender real-time protection is off",
                      (f"Get-MpComputerStatus: {_defender_state(d)}",),
                      "turn it on: `Set-MpPreference -DisableRealtimeMonitoring $false` (tamper protection or a "
                      "policy may hold it off: check Group Policy or Intune); find who turned it off")


def defender_age_rule(facts: Mapping[str, Any], t: Mapping[str, float], hv: Mapping[str, Any]) -> Iterator[Finding]:
    """Defender's signatures older than av_max_age_days (critical past av_crit_age_days), by the host's clock."""
    av = section(facts, "av")
    d = av.get("defender") if av and av.get("engine") == DEFENDER else None
    if not d:
        return
    dbs = sorted(av.get("databases", []), key=lambda x: x["mtime"], reverse=True)
    if not dbs:
        yield Finding("av.defender_age", Severity.CRITICAL, "Microsoft Defender has no signature update on record",
                      (f"Get-MpComputerStatus: AntivirusSignatureLastUpdated empty, version "
                       f"{d.get('signature_version') or '?'}",), DEFENDER_UPDATE)
        return
    age_d = (int(av["now"]) - int(dbs[0]["mtime"])) / 86400
    sev = (Severity.CRITICAL if age_d > t["av_crit_age_days"]
           else Severity.WARNING if age_d > t["av_max_age_days"] else None)
    if sev:
        evidence = (f"antivirus signatures {d.get('signature_version') or '?'} last updated {stamp(dbs[0]['mtime'])} "
                    f"(host clock {stamp(av['now'])})",
                    f"AntivirusSignatureAge {d.get('signature_age_days')} days, last quick scan "
                    f"{d.get('last_quick_scan') or 'never'}")
        yield Finding("av.defender_age", sev, f"Microsoft Defender signatures are {age_d:.1f} days old", evidence,
                      DEFENDER_UPDATE, WINDOWS_MAINTENANCE)


CLAMAV_AGE = RuleCheck("av.clamav_age", "ClamAV signatures out of date", ("av",), av_rule,
                       {"av_max_age_days": 3.0, "av_crit_age_days": 7.0}, av_params,
                       vars={"clamav_db_dir": None}, playbooks=("av-update",))
DEFENDER_OFF = RuleCheck("av.defender_off", "Microsoft Defender off (service, antivirus or real-time protection)",
                         ("av",), defender_off_rule)
DEFENDER_AGE = RuleCheck("av.defender_age", "Microsoft Defender signatures out of date", ("av",), defender_age_rule,
                         {"av_max_age_days": 3.0, "av_crit_age_days": 7.0}, playbooks=(WINDOWS_MAINTENANCE,))
