"""Parsers of the Windows security sections: reboot (pending-reboot registry signals), updates (Windows
Update), av (Microsoft Defender), backup (inventory backup paths). Each takes the section's JSON as
PowerShell 5.1 printed it (see shapes) and gives the same facts schema as Linux."""

from __future__ import annotations

from typing import Any

from rmmctl.facts import (AvDatabase, AvFacts, BackupFacts, BackupPathFacts, DefenderFacts, Package, RebootFacts,
                          UpdatesFacts, iso_utc)
from rmmctl.probes import ParseError
from rmmctl.probes.windows.prober import ParseContext, parser
from rmmctl.probes.windows.shapes import as_dict, as_list, epoch, flag, integer, text

REBOOT_SIGNALS = (("cbs", "cbs"), ("wu", "windows-update"), ("rename", "computer-rename"),
                  ("pfro", "pending-file-rename"))
"""(probe key, name in `method`): the pending-reboot signals, the ones that make a reboot required first."""


@parser("reboot")
def parse_reboot(data: Any, _: ParseContext) -> RebootFacts:
    """required: Component Based Servicing, Windows Update or a computer rename is pending. A pending file
    rename alone (PendingFileRenameOperations: antivirus and installers set it) is named in `method` only.
    method: `registry` followed by the signals found, e.g. `registry:cbs+windows-update+pending-file-rename`."""
    d = as_dict(data, "reboot")
    active, pending = text(d.get("active_name")), text(d.get("pending_name"))
    found = {"cbs": bool(flag(d.get("cbs"))), "wu": bool(flag(d.get("wu"))),
             "rename": bool(active and pending and active.lower() != pending.lower()),
             "pfro": bool(flag(d.get("pfro")))}
    names = [name for key, name in REBOOT_SIGNALS if found[key]]
    return {
        "required": found["cbs"] or found["wu"] or found["rename"],
        "packages": [],
        "method": "registry" + (":" + "+".join(names) if names else ""),
    }


SECURITY_SEVERITIES = ("critical", "important")
SECURITY_CATEGORIES = ("security updates", "critical updates")
_CLASSIFICATIONS = ("security updates", "critical updates", "definition updates", "update rollups", "updates",
                    "feature packs", "service packs", "upgrades", "drivers", "tools")


@parser("updates")
def parse_updates(data: Any, ctx: ParseContext) -> UpdatesFacts:
    """Windows Update's pending software updates: security = MSRC severity Critical or Important, or a
    Security Updates / Critical Updates classification. version is the KB article (`KB5034441`), repo
    the classification; lists_mtime the last successful search, last_install the last successful install."""
    d = as_dict(data, "updates")
    packages: list[Package] = []
    for raw in as_list(d.get("updates")):
        u = as_dict(raw, "updates: an update")
        cats = [c for c in (text(x) for x in as_list(u.get("categories"))) if c]
        kbs = [k for k in (text(x) for x in as_list(u.get("kb"))) if k]
        severity = (text(u.get("severity")) or "").lower()
        security = severity in SECURITY_SEVERITIES or any(c.lower() in SECURITY_CATEGORIES for c in cats)
        repo = next((c for c in cats if c.lower() in _CLASSIFICATIONS), cats[0] if cats else None)
        packages.append({
            "name": text(u.get("title")) or "(untitled update)",
            "version": ",".join(k if k.upper().startswith("KB") else f"KB{k}" for k in kbs),
            "current": None,
            "repo": repo,
            "security": security,
        })
    return {
        "manager": "windows-update",
        "pending": len(packages),
        "security": sum(1 for p in packages if p["security"]),
        "packages": packages,
        "lists_mtime": _unix(d.get("last_search")),
        "last_install": _unix(d.get("last_install")),
    }


@parser("av")
def parse_av(data: Any, ctx: ParseContext) -> AvFacts:
    """Microsoft Defender (Get-MpComputerStatus): its signatures as the one database `antivirus`, its status in
    `defender`. The section is unavailable (the script throws) when Defender is absent or passive."""
    d = as_dict(data, "av")
    updated = epoch(d.get("signature_updated"))
    version = text(d.get("signature_version"))
    databases: list[AvDatabase] = []
    if updated is not None:
        databases.append({"name": "antivirus", "mtime": int(updated), "size": 0, "version": None,
                          "built": iso_utc(updated)})
    defender: DefenderFacts = {
        "real_time": bool(flag(d.get("real_time"))),
        "antivirus_enabled": bool(flag(d.get("antivirus_enabled"))),
        "service_enabled": bool(flag(d.get("service_enabled"))),
        "running_mode": text(d.get("running_mode")),
        "tamper_protected": flag(d.get("tamper_protected")),
        "signature_version": version,
        "signature_age_days": _age(d.get("signature_age")),
        "quick_scan_age_days": _age(d.get("quick_scan_age")),
        "full_scan_age_days": _age(d.get("full_scan_age")),
        "last_quick_scan": _iso(d.get("quick_scan_end")),
    }
    now = epoch(d.get("now"))
    return {
        "engine": "defender",
        "now": int(now if now is not None else ctx.controller_time),
        "tools": [],
        "db_dir": "",
        "databases": databases,
        "log": None,
        "log_tail": [],
        "defender": defender,
    }


_KINDS = ("file", "dir", "other", "missing")


@parser("backup")
def parse_backup(data: Any, ctx: ParseContext) -> BackupFacts:
    """Per inventory path: a file's own LastWriteTimeUtc and Length, or a directory's newest file (unix
    seconds, bytes; files: how many, counted up to the script's cap) — the Linux section's meaning."""
    d = as_dict(data, "backup")
    now = integer(d.get("now"))
    if now is None:
        raise ParseError("backup: no `now` in the probe output")
    paths: list[BackupPathFacts] = []
    for raw in as_list(d.get("paths")):
        p = as_dict(raw, "backup: a path")
        kind = text(p.get("kind")) or "missing"
        if kind not in _KINDS:
            raise ParseError(f"backup: unknown kind {kind!r} for {p.get('path')}")
        mtime = _unix(p.get("mtime"))
        paths.append({
            "path": text(p.get("path")) or "",
            "kind": kind,
            "mtime": mtime,
            "size": integer(p.get("size")) if mtime is not None else None,
            "newest": text(p.get("newest")) if kind == "dir" else None,
            "files": integer(p.get("files")) if kind == "dir" else None,
        })
    return {"now": now, "paths": paths}


def _unix(value: Any) -> int | None:
    """Unix seconds from a number, a number printed as a string, or a PowerShell date in any JSON form."""
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    t = epoch(value)
    return None if t is None else int(t)


def _age(value: Any) -> int | None:
    """A Defender age in days; 65535 (UInt16 max, or 4294967295) means never (no scan yet): null."""
    n = integer(value)
    return None if n is None or n < 0 or n >= 65535 else n


def _iso(value: Any) -> str | None:
    """A PowerShell date -> ISO 8601 UTC with milliseconds, as the Linux facts give them."""
    t = epoch(value)
    return None if t is None else iso_utc(t)
