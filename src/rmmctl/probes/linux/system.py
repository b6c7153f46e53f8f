"""Pure parsers for the Linux probe's system sections: time, host, os, uptime, memory, cpu, services."""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from typing import Any

from rmmctl.facts import (
    CpuFacts,
    HostFacts,
    MemoryFacts,
    OsFacts,
    Service,
    ServicesFacts,
    TimeFacts,
    UptimeFacts,
    pct,
)
from rmmctl.probes import ParseError
from rmmctl.probes.linux.bundle import parse_kv, split_parts

_NTP_NAMES = {"systemd-timesyn": "systemd-timesyncd"}

CPU_FIELDS: tuple[str, ...] = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")
"""The CPU time counters in /proc/stat order: THE list the probe parser and psutil's cpu_times() both read."""


def cpu_percentages(first: Sequence[float], second: Sequence[float]) -> dict[str, float]:
    """Two /proc/stat-style counter sets (CPU_FIELDS order) -> percent busy, user, system, iowait, steal, idle."""
    delta = [max(0.0, float(b) - float(a)) for a, b in zip(first, second)]
    delta += [0.0] * (len(CPU_FIELDS) - len(delta))
    d = dict(zip(CPU_FIELDS, delta))
    total = sum(delta[: len(CPU_FIELDS)])
    if total <= 0:
        return {"percent": 0.0, "user": 0.0, "system": 0.0, "iowait": 0.0, "steal": 0.0, "idle": 100.0}

    def share(x: float) -> float:
        return round(100.0 * x / total, 1)

    return {
        "percent": share(total - d["idle"] - d["iowait"]),
        "user": share(d["user"] + d["nice"]),
        "system": share(d["system"] + d["irq"] + d["softirq"]),
        "iowait": share(d["iowait"]),
        "steal": share(d["steal"]),
        "idle": share(d["idle"]),
    }


def lines_of(text: str) -> list[str]:
    """Split on newlines only (not on the Unicode separators str.splitlines() also breaks at)."""
    out = text.split("\n")
    return out[:-1] if out and out[-1] == "" else out


def _yes(value: str | None) -> bool | None:
    return None if value is None else value.strip().lower() in ("yes", "true", "1")


def parse_time(body: str) -> TimeFacts:
    """`epoch=...`, `utc_offset=`, timezone, ntp_daemon, then timedatectl/chronyc/ntpq parts."""
    head, parts = split_parts(body)
    kv = parse_kv(head)
    try:
        epoch = round(float(kv["epoch"]), 6)
    except (KeyError, ValueError):
        raise ParseError("time: no epoch line in the probe output") from None
    daemon = kv.get("ntp_daemon") or None
    facts: TimeFacts = {
        "epoch": epoch,
        "skew_s": None,
        "synchronized": None,
        "ntp_service": _NTP_NAMES.get(daemon, daemon) if daemon else None,
        "ntp_enabled": None,
        "ntp_offset_s": None,
        "timezone": kv.get("timezone") or _zone_from_link(kv.get("localtime")),
        "utc_offset": kv.get("utc_offset") or None,
        "w32time": None,
    }
    if "timedatectl" in parts and parts["timedatectl"].rc == 0:
        tkv = parse_kv(lines_of(parts["timedatectl"].text))
        facts["synchronized"] = _yes(tkv.get("NTPSynchronized"))
        facts["ntp_enabled"] = _yes(tkv.get("NTP"))
        facts["timezone"] = tkv.get("Timezone") or facts["timezone"]
    if "chrony" in parts and parts["chrony"].rc == 0:
        _apply_chrony(facts, parts["chrony"].text)
    if "ntpq" in parts and parts["ntpq"].rc == 0:
        _apply_ntpq(facts, parts["ntpq"].text)
    return facts


def _zone_from_link(link: str | None) -> str | None:
    if not link or "zoneinfo/" not in link:
        return None
    return link.split("zoneinfo/", 1)[1] or None


def _apply_chrony(facts: TimeFacts, text: str) -> None:
    """`chronyc -c tracking`: field 4 is the system time offset (negative = host fast), 13 the leap status."""
    fields = (lines_of(text) or [""])[0].split(",")
    if len(fields) < 14:
        return
    synced = fields[0] != "00000000" and fields[13].strip() != "Not synchronised"
    if facts["synchronized"] is None:
        facts["synchronized"] = synced
    try:
        facts["ntp_offset_s"] = round(-float(fields[4]), 9) if synced else None
    except ValueError:
        pass


def _apply_ntpq(facts: TimeFacts, text: str) -> None:
    """`ntpq -pn`: the system peer's row starts with '*'; its offset column (ms) is the server minus us."""
    peer = next((line for line in lines_of(text) if line.startswith("*")), None)
    if facts["synchronized"] is None:
        facts["synchronized"] = peer is not None
    cols = peer.split() if peer else []
    if len(cols) >= 10:
        try:
            facts["ntp_offset_s"] = round(-float(cols[8]) / 1000.0, 9)
        except ValueError:
            pass


def parse_host(body: str) -> HostFacts:
    """`hostname=`, `fqdn=`, `kernel=` (uname -r), `arch=` (uname -m), `machine_id=` lines."""
    kv = parse_kv(lines_of(body))
    if not kv.get("hostname"):
        raise ParseError("host: no hostname in the probe output")
    return {
        "hostname": kv["hostname"],
        "fqdn": kv.get("fqdn") or None,
        "kernel": kv.get("kernel", ""),
        "arch": kv.get("arch", ""),
        "machine_id": kv.get("machine_id") or None,
    }


_SHELL_SPECIAL = frozenset("\\$`'\" \t")


def _unquote(value: str) -> str:
    """An os-release value as the shell would read it; the common plain and "double-quoted" forms without
    shlex (which costs ~20 us a line)."""
    inner = value[1:-1] if len(value) >= 2 and value[0] == value[-1] == '"' else value
    if not _SHELL_SPECIAL.intersection(inner.replace(" ", "") if inner is not value else inner):
        return inner
    try:
        words = shlex.split(value, posix=True)
    except ValueError:
        return value.strip().strip("\"'")
    return " ".join(words)


def parse_os(body: str) -> OsFacts:
    """os-release (freedesktop format; defaults ID=linux, NAME=Linux as the spec says)."""
    kv: dict[str, str] = {}
    for line in lines_of(body):
        key, sep, value = line.strip().partition("=")
        if sep and key.isidentifier() and not key.startswith("#"):
            kv[key] = _unquote(value)
    if not kv:
        raise ParseError("os: os-release is empty")
    name = kv.get("NAME") or "Linux"
    return {
        "family": "linux",
        "id": kv.get("ID") or "linux",
        "name": name,
        "version_id": kv.get("VERSION_ID") or None,
        "version_codename": kv.get("VERSION_CODENAME") or None,
        "pretty_name": kv.get("PRETTY_NAME") or name,
        "id_like": kv.get("ID_LIKE", "").split(),
    }


def parse_uptime(body: str) -> UptimeFacts:
    """`uptime SECONDS IDLE`, `loadavg L1 L5 L15 R/T LASTPID`, `btime EPOCH` lines."""
    rows = {parts[0]: parts[1:] for parts in (line.split() for line in lines_of(body)) if parts}
    try:
        seconds = float(rows["uptime"][0])
        load = [float(x) for x in rows["loadavg"][:3]]
    except (KeyError, IndexError, ValueError):
        raise ParseError("uptime: expected /proc/uptime and /proc/loadavg values") from None
    running, _, total = (rows["loadavg"][3:4] or ["/"])[0].partition("/")
    btime = rows.get("btime") or []
    return {
        "seconds": seconds,
        "boot_time": float(btime[0]) if btime else None,
        "load1": load[0],
        "load5": load[1],
        "load15": load[2],
        "procs_running": int(running) if running.isdigit() else None,
        "procs_total": int(total) if total.isdigit() else None,
    }


def parse_meminfo(body: str) -> dict[str, int]:
    """/proc/meminfo -> field -> kB."""
    out: dict[str, int] = {}
    for line in lines_of(body):
        key, sep, rest = line.partition(":")
        words = rest.split()
        if sep and words and words[0].isdigit():
            out[key.strip()] = int(words[0])
    return out


def parse_memory(body: str) -> MemoryFacts:
    """/proc/meminfo; available = MemAvailable (or MemFree+Buffers+Cached on kernels before 3.14)."""
    info = parse_meminfo(body)
    if "MemTotal" not in info:
        raise ParseError("memory: no MemTotal in /proc/meminfo output")
    total = info["MemTotal"]
    available = info.get("MemAvailable")
    if available is None:
        available = info.get("MemFree", 0) + info.get("Buffers", 0) + info.get("Cached", 0)
    swap_total = info.get("SwapTotal", 0)
    return memory_facts(total, available, swap_total, max(0, swap_total - info.get("SwapFree", swap_total)))


def memory_facts(total: int, available: int, swap_total: int, swap_used: int) -> MemoryFacts:
    """The memory section from its four numbers (KiB): shared by the probe parser and psutil."""
    return {
        "total_kb": total,
        "available_kb": available,
        "used_kb": max(0, total - available),
        "used_pct": pct(total - available, total),
        "swap_total_kb": swap_total,
        "swap_used_kb": swap_used,
        "swap_used_pct": pct(swap_used, swap_total),
    }


def cpu_samples(body: str) -> tuple[dict[str, list[int]], dict[str, list[int]]]:
    """Tagged `c1 cpuN ...` / `c2 cpuN ...` lines -> (first, second) sample: cpu name -> counters."""
    samples: tuple[dict[str, list[int]], dict[str, list[int]]] = ({}, {})
    for line in lines_of(body):
        words = line.split()
        if len(words) >= 6 and words[0] in ("c1", "c2") and words[1].startswith("cpu"):
            samples[int(words[0][1]) - 1][words[1]] = [int(w) for w in words[2:] if w.isdigit()]
    return samples


def parse_cpu(body: str) -> CpuFacts:
    """`model=` plus two tagged /proc/stat samples taken at least 0.2 s apart in the same exec."""
    first, second = cpu_samples(body)
    if "cpu" not in first or "cpu" not in second:
        raise ParseError("cpu: expected two /proc/stat samples")
    count = sum(1 for name in first if name[3:].isdigit())
    model = parse_kv(lines_of(body)).get("model") or None
    shares: dict[str, Any] = cpu_percentages(first["cpu"][: len(CPU_FIELDS)], second["cpu"][: len(CPU_FIELDS)])
    return {"count": count or 1, "model": model, **shares}  # type: ignore[typeddict-item]


def systemd_service(unit: str, load: str, active: str, sub: str, description: str) -> Service:
    """A `systemctl list-units` row as a neutral Service (list-units tells no start mode: null)."""
    return {
        "name": unit.removesuffix(".service"),
        "state": "failed" if "failed" in (active, sub) else active,
        "start_mode": None,
        "description": description,
        "systemd": {"unit": unit, "load": load, "active": active, "sub": sub},
        "scm": None,
    }


def parse_services(body: str) -> ServicesFacts:
    """`init=`, `systemd=0|1`, then the `systemctl is-system-running` and failed-units parts."""
    head, parts = split_parts(body)
    kv = parse_kv(head)
    facts: ServicesFacts = {
        "available": kv.get("systemd") == "1",
        "manager": "systemd" if kv.get("systemd") == "1" else None,
        "init": kv.get("init") or None,
        "system_state": None,
        "failed": [],
    }
    if not facts["available"]:
        return facts
    failed = parts.get("failed")
    if failed is None or (failed.rc != 0 and not failed.text.strip()):
        raise ParseError(
            f"services: systemctl list-units --failed failed (exit {failed.rc if failed else '?'})"
        )
    state = parts.get("state")
    facts["system_state"] = next(iter(lines_of(state.text)), None) if state else None
    for line in lines_of(failed.text):
        words = line.lstrip("●* ").split(None, 4)
        if len(words) >= 4 and "." in words[0]:  # unit names always have a type suffix
            facts["failed"].append(systemd_service(*words[:4], words[4] if len(words) > 4 else ""))
    return facts
