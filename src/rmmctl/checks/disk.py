"""Disk checks: space and inodes against thresholds, and filesystems that turned read-only. Pure.

A Windows volume (a drive such as `C:`, or any mount of a host whose os.family is windows) gets Windows
fixes: the windows-maintenance playbook (cleanup of temp folders, the Windows Update download cache and
old spool files) is named in the text, not as Finding.playbook (disk-cleanup is POSIX-only)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from rmmctl.checks.base import Finding, RuleCheck, Severity, as_list, level, section

_RO_BY_DESIGN = {"squashfs", "iso9660", "udf", "erofs", "cramfs", "romfs"}
_DRIVE = re.compile(r"^[A-Za-z]:\\?$")
WINDOWS_MAINTENANCE = "windows-maintenance"
"""The shipped Windows playbook that frees space (cleanup, optimize, Defender update): named in the text."""


def windows_mount(facts: Mapping[str, Any], m: Mapping[str, Any]) -> bool:
    """A Windows volume: a drive letter mount, or any mount when the facts say the OS is Windows."""
    return bool(_DRIVE.match(str(m.get("mount", "")))) or (section(facts, "os") or {}).get("family") == "windows"


def disk_rule(facts: Mapping[str, Any], t: Mapping[str, float], _v: Mapping[str, Any]) -> Iterator[Finding]:
    fs = section(facts, "filesystems")
    for m in (fs or {}).get("mounts", []):
        if m.get("read_only"):
            continue  # a read-only filesystem at 100% (squashfs, an ISO) is normal
        sev = level(m.get("used_pct"), t["disk_warn_pct"], t["disk_crit_pct"])
        if sev and windows_mount(facts, m):
            yield Finding("disk.space", sev, f"volume {m['mount']} is {m['used_pct']}% full",
                          (f"{m['device']} {m['mount']} ({m.get('fstype') or 'unknown'}): {m['used_kb']} KiB used "
                           f"of {m['size_kb']} KiB, {m['avail_kb']} KiB free ({m['used_pct']}%)",),
                          f"free space on {m['mount']}: the {WINDOWS_MAINTENANCE} playbook cleans temp folders, "
                          "the Windows Update download cache and old spool files (`rmmctl play HOST "
                          f"{WINDOWS_MAINTENANCE}`); or by hand `cleanmgr /sagerun:1`, `Dism /Online /Cleanup-Image "
                          "/StartComponentCleanup`; find big folders (user profiles, logs, old backups) or extend "
                          "the volume", WINDOWS_MAINTENANCE)
        elif sev:
            yield Finding("disk.space", sev, f"filesystem {m['mount']} is {m['used_pct']}% full",
                          (f"{m['device']} {m['mount']}: {m['used_kb']} KiB used of {m['size_kb']} KiB, "
                           f"{m['avail_kb']} KiB free ({m['used_pct']}%)",),
                          f"free space on {m['mount']} (old logs, caches, packages) or grow the filesystem"
                          + ("" if m["mount"] in ("/", "/tmp", "/var", "/var/tmp", "/var/log", "/var/cache") else
                             f"; the disk-cleanup playbook cleans {m['mount']} only if the host var "
                             "cleanup_paths names a folder on it"),
                          "disk-cleanup")


def inodes_rule(facts: Mapping[str, Any], t: Mapping[str, float], _v: Mapping[str, Any]) -> Iterator[Finding]:
    fs = section(facts, "filesystems")
    for m in (fs or {}).get("mounts", []):
        if m.get("read_only"):
            continue
        isev = level(m.get("inodes_pct"), t["inode_warn_pct"], t["inode_crit_pct"])
        if isev:
            yield Finding("disk.inodes", isev, f"filesystem {m['mount']} has used {m['inodes_pct']}% of its inodes",
                          (f"{m['mount']}: {m['inodes_used']} of {m['inodes_total']} inodes used",),
                          f"delete many small files under {m['mount']} (sessions, mail queues, caches)",
                          "disk-cleanup")


def readonly_rule(facts: Mapping[str, Any], t: Mapping[str, float], hv: Mapping[str, Any]) -> Iterator[Finding]:
    """`/` (Windows: `C:`) and every mount in `writable_mounts` must not be read-only (images like squashfs may)."""
    fs = section(facts, "filesystems")
    wanted = {"/", "C:", *as_list(hv.get("writable_mounts"), "writable_mounts")}
    for m in (fs or {}).get("mounts", []):
        if not m.get("read_only") or m["mount"] not in wanted or m.get("fstype") in _RO_BY_DESIGN:
            continue
        if windows_mount(facts, m):
            yield Finding("disk.readonly", Severity.CRITICAL, f"volume {m['mount']} is read-only",
                          (f"{m['device']} {m['mount']} type {m.get('fstype')}: Win32_Volume says readable only",),
                          f"a volume turns read-only after disk errors or by its read-only attribute: read the "
                          f"System log (disk, Ntfs events), check `Get-PhysicalDisk` health and run "
                          f"`chkdsk {m['mount']} /scan`; clear the attribute with diskpart (`select volume "
                          f"{m['mount'][0]}`, `attributes volume clear readonly`)")
            continue
        yield Finding("disk.readonly", Severity.CRITICAL, f"filesystem {m['mount']} is mounted read-only",
                      (f"{m['device']} on {m['mount']} type {m.get('fstype')} (ro)",),
                      f"the kernel remounts a filesystem read-only after I/O or filesystem errors: read "
                      f"`dmesg`, check the disk (smartctl) and run fsck, then `mount -o remount,rw {m['mount']}`")


SPACE = RuleCheck("disk.space", "filesystems nearly full", ("filesystems",), disk_rule,
                  {"disk_warn_pct": 85.0, "disk_crit_pct": 95.0},
                  playbooks=("disk-cleanup", WINDOWS_MAINTENANCE))
INODES = RuleCheck("disk.inodes", "filesystems out of inodes", ("filesystems",), inodes_rule,
                   {"inode_warn_pct": 85.0, "inode_crit_pct": 95.0}, playbooks=("disk-cleanup",))
READONLY = RuleCheck("disk.readonly", "filesystems read-only that should be writable", ("filesystems",),
                     readonly_rule, vars={"writable_mounts": []})
