"""Antivirus checks: ClamAV signature databases out of date. Pure.

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
    if not av:
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


CLAMAV_AGE = RuleCheck("av.clamav_age", "ClamAV signatures out of date", ("av",), av_rule,
                       {"av_max_age_days": 3.0, "av_crit_age_days": 7.0}, av_params,
                       vars={"clamav_db_dir": None}, playbooks=("av-update",))
