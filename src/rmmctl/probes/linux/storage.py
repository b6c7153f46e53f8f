"""Pure parsers for the Linux probe's filesystems and processes sections."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from types import MappingProxyType

from rmmctl.facts import FilesystemsFacts, MountFacts, ProcessesFacts, ProcessFacts, pct
from rmmctl.probes import ParseError
from rmmctl.probes.linux.bundle import split_parts
from rmmctl.probes.linux.system import cpu_samples, lines_of

# df -P row: device, four numbers ("-" where a filesystem has none), a percentage, the mount point (may hold spaces).
_DF_ROW = re.compile(r"^(\S+)\s+(\d+|-)\s+(\d+|-)\s+(\d+|-)\s+(\S+)\s+(/.*)$")
_OCTAL = re.compile(r"\\([0-7]{3})")
PSEUDO_MOUNT_PREFIXES: tuple[str, ...] = (
    "/proc", "/sys", "/run/netns", "/run/docker", "/run/containerd", "/var/lib/docker/",
    "/var/lib/containers/", "/var/lib/kubelet/",
)  # fmt: skip
"""Mount points that are kernel interfaces or container plumbing, not disks an admin manages."""
PSEUDO_FSTYPES: frozenset[str] = frozenset((
    "proc", "sysfs", "devtmpfs", "devpts", "cgroup", "cgroup2", "securityfs", "pstore", "debugfs", "tracefs",
    "configfs", "fusectl", "mqueue", "hugetlbfs", "bpf", "autofs", "binfmt_misc", "rpc_pipefs", "nsfs",
    "efivarfs", "ramfs", "squashfs", "iso9660", "udf", "selinuxfs", "fuse.lxcfs", "fuse.gvfsd-fuse",
    "fuse.portal", "nfsd",
))  # fmt: skip
"""Filesystem types that are never "disks" (kernel interfaces, read-only images that are always 100%)."""
TOP_N = 10


def _num(text: str) -> int | None:
    return int(text) if text.isdigit() else None


def _unescape(path: str) -> str:
    return _OCTAL.sub(lambda m: chr(int(m.group(1), 8)), path)


MOUNTS_CACHED_MAX = 1 << 16  # a mount table up to this size is cached (1024 of them: at most 64 MB)


def parse_mounts(text: str) -> Mapping[str, tuple[str, str, tuple[str, ...]]]:
    """/proc/mounts -> mount point -> (device, fstype, options); a later (over-)mount wins.

    Cached by text (a read-only result): a host's mount table rarely changes, and `rmmctl watch` parses it
    every round for every host; a hit costs a hash and a compare. A table past MOUNTS_CACHED_MAX (a host
    with thousands of mounts) is parsed each time, so the cache stays bounded in bytes too."""
    return _parse_mounts(text) if len(text) > MOUNTS_CACHED_MAX else _cached_mounts(text)


def _parse_mounts(text: str) -> Mapping[str, tuple[str, str, tuple[str, ...]]]:
    out: dict[str, tuple[str, str, tuple[str, ...]]] = {}
    for line in text.split("\n"):
        words = line.split(None, 4)
        if len(words) >= 4:
            dev, mount = words[0], words[1]
            if "\\" in dev or "\\" in mount:
                dev, mount = _unescape(dev), _unescape(mount)
            out[mount] = (dev, words[2], tuple(words[3].split(",")))
    return MappingProxyType(out)


_cached_mounts = functools.lru_cache(maxsize=1024)(_parse_mounts)


def parse_df(text: str) -> list[tuple[str, int | None, int | None, int | None, str]]:
    """`df -P` (GNU or busybox, -k or -i) -> (device, total, used, free, mount); the % column is ignored."""
    rows = []
    for line in lines_of(text):
        match = _DF_ROW.match(line)
        if match:
            dev, total, used, free, _pct, mount = match.groups()
            rows.append((dev, _num(total), _num(used), _num(free), mount))
    return rows


# df --output=source,size,used,avail,itotal,iused,iavail,target row (GNU): device, six numbers, the mount point.
_DFO_ROW = re.compile(r"^(\S+)\s+(\d+|-)\s+(\d+|-)\s+(\d+|-)\s+(\d+|-)\s+(\d+|-)\s+(\d+|-)\s+(/.*)$")


def parse_df_output(text: str) -> tuple[list[tuple[str, int | None, int | None, int | None, str]],
                                         list[tuple[str, int | None, int | None, int | None, str]]]:
    """GNU `df --output=source,size,used,avail,itotal,iused,iavail,target` -> (size rows, inode rows), each
    row shaped as parse_df's."""
    sizes, inodes = [], []
    for line in lines_of(text):
        match = _DFO_ROW.match(line)
        if match:
            dev, size, used, avail, itotal, iused, iavail, mount = match.groups()
            sizes.append((dev, _num(size), _num(used), _num(avail), mount))
            inodes.append((dev, _num(itotal), _num(iused), _num(iavail), mount))
    return sizes, inodes


def is_pseudo_mount(mount: str, fstype: str | None, size_kb: int) -> bool:
    """True for kernel interfaces, container plumbing, always-full images and zero-size filesystems."""
    if size_kb <= 0 or (fstype is not None and fstype in PSEUDO_FSTYPES):
        return True
    return mount in _PSEUDO_EXACT or mount.startswith(_PSEUDO_UNDER)


_PSEUDO_EXACT = frozenset(p.rstrip("/") for p in PSEUDO_MOUNT_PREFIXES)  # is_pseudo_mount runs per mount per probe
_PSEUDO_UNDER = tuple(p.rstrip("/") + "/" for p in PSEUDO_MOUNT_PREFIXES)


def parse_filesystems(body: str) -> FilesystemsFacts:
    """Parts `df` (df -P -k), `inodes` (df -P -i) and `mounts` (/proc/mounts) -> real filesystems.

    Percentages are computed from the numbers (busybox and GNU round Use% differently); pseudo
    filesystems and repeated bind mounts of the same device are left out.
    """
    _, parts = split_parts(body)
    if "dfo" in parts:  # GNU df: sizes and inodes in one run
        df, label = parts["dfo"], "df --output"
        rows, inode_rows = parse_df_output(df.text)
    else:
        df, label = parts.get("df"), "df -P -k"
        rows = parse_df(df.text) if df else []
        inode_rows = parse_df(parts["inodes"].text) if "inodes" in parts else []
    if df is None or (not rows and df.rc != 0):
        raise ParseError(f"filesystems: {label} gave no rows (exit {df.rc if df else '?'})")
    inodes = {row[4]: row for row in inode_rows}
    mounts = parse_mounts(parts["mounts"].text) if "mounts" in parts else {}
    seen: set[object] = set()
    out: list[MountFacts] = []
    for dev, size, used, avail, mount in rows:
        size, used, avail = size or 0, used or 0, avail or 0
        _, fstype, options = mounts.get(mount, (dev, None, []))
        key = (dev, size) if dev.startswith("/") else mount  # a block device bind-mounted twice counts once
        if is_pseudo_mount(mount, fstype, size) or key in seen or mount in seen:
            continue
        seen.update((key, mount))
        out.append(_mount_facts(dev, fstype, size, used, avail, mount, options, inodes.get(mount)))
    return {"mounts": out}


def _mount_facts(
    dev: str,
    fstype: str | None,
    size: int,
    used: int,
    avail: int,
    mount: str,
    options: Sequence[str],
    inode_row: tuple[str, int | None, int | None, int | None, str] | None,
) -> MountFacts:
    itotal, iused, ifree = inode_row[1:4] if inode_row else (None, None, None)
    ipct = pct(iused, iused + ifree) if iused is not None and ifree is not None else None
    return {
        "mount": mount,
        "device": dev,
        "fstype": fstype,
        "size_kb": size,
        "used_kb": used,
        "avail_kb": avail,
        "used_pct": pct(used, used + avail),
        "inodes_total": itotal or None,
        "inodes_used": iused if itotal else None,
        "inodes_free": ifree if itotal else None,
        "inodes_pct": ipct if itotal else None,
        "read_only": "ro" in options,
    }


def _proc_rows(body: str) -> tuple[dict[int, tuple[str, int, str]], dict[int, tuple[str, int, str]]]:
    """`p1|p2 PID STATE UTIME STIME COMM` -> (first, second): pid -> (state, ticks, comm)."""
    samples: tuple[dict[int, tuple[str, int, str]], dict[int, tuple[str, int, str]]] = ({}, {})
    for line in lines_of(body):
        words = line.split(" ", 5)
        if len(words) == 6 and words[0] in ("p1", "p2") and all(w.isdigit() for w in words[1:5:2]):
            ticks = int(words[3]) + int(words[4]) if words[4].isdigit() else None
            if ticks is not None:
                samples[int(words[0][1]) - 1][int(words[1])] = (words[2], ticks, words[5])
    return samples


def _status_rows(body: str) -> tuple[dict[int, int], dict[int, int], dict[int, str], int | None]:
    """grep -H of /proc/PID/status Uid/VmRSS, `pw NAME:UID` and `memtotal_kb N` lines."""
    uids: dict[int, int] = {}
    rss: dict[int, int] = {}
    names: dict[int, str] = {}
    memtotal = None
    for line in lines_of(body):
        if line.startswith("/proc/"):
            pid, _, rest = line[6:].partition("/status:")
            key, _, value = rest.partition(":")
            words = value.split()
            if pid.isdigit() and words and words[0].isdigit():
                (uids if key == "Uid" else rss)[int(pid)] = int(words[0])
        elif line.startswith("pw "):
            name, _, uid = line[3:].rpartition(":")
            if uid.isdigit():
                names.setdefault(int(uid), name)
        elif line.startswith("memtotal_kb ") and line[12:].strip().isdigit():
            memtotal = int(line[12:].strip())
    return uids, rss, names, memtotal


def parse_processes(body: str) -> ProcessesFacts:
    """Two /proc/PID/stat samples + owners and RSS -> top processes by CPU and by memory (names only)."""
    cpu1, cpu2 = cpu_samples(body)
    first, second = _proc_rows(body)
    if "cpu" not in cpu1 or "cpu" not in cpu2 or not second:
        raise ParseError("processes: expected two /proc samples")
    ncpu = sum(1 for name in cpu1 if name[3:].isdigit()) or 1
    per_cpu = sum(b - a for a, b in zip(cpu1["cpu"][:8], cpu2["cpu"][:8])) / ncpu
    uids, rss, names, memtotal = _status_rows(body)
    procs: list[ProcessFacts] = []
    for pid, (state, ticks, comm) in second.items():
        delta = ticks - first[pid][1] if pid in first else ticks
        uid = uids.get(pid)
        procs.append({
            "pid": pid,
            "name": comm,
            "user": None if uid is None else names.get(uid, str(uid)),
            "state": state,
            "cpu_pct": round(100.0 * max(0, delta) / per_cpu, 1) if per_cpu > 0 else 0.0,
            "mem_pct": pct(rss[pid], memtotal) if pid in rss and memtotal else None,
            "rss_kb": rss.get(pid),
        })  # fmt: skip
    return top_processes(procs)


def top_processes(procs: list[ProcessFacts]) -> ProcessesFacts:
    """The TOP_N processes by CPU and by resident memory."""
    by_cpu = sorted(procs, key=lambda p: (-p["cpu_pct"], -(p["rss_kb"] or 0), p["pid"]))
    by_mem = sorted((p for p in procs if p["rss_kb"]), key=lambda p: (-(p["rss_kb"] or 0), p["pid"]))
    return {"count": len(procs), "top_cpu": by_cpu[:TOP_N], "top_mem": by_mem[:TOP_N]}
