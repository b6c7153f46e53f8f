"""The `local` prober: the machine rmmctl runs on, psutil in-process, the rest through its transport.

psutil answers host, uptime, cpu, memory, filesystems and processes in-process (within the host's
deadline); os comes from os-release. Sections psutil has no answer for (services, logs, reboot,
updates, time, backup, av, printers) run the Linux sh probe through `ctx.run` on the LocalTransport,
like any host: the deadline holds and the exec is in the audit log. Both paths give the same keys.
This is the only module of rmmctl that imports psutil.
"""

from __future__ import annotations

import os
import platform
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psutil

from rmmctl.errors import CommandTimeout
from rmmctl.facts import (
    CpuFacts,
    Facts,
    FilesystemsFacts,
    HostFacts,
    MemoryFacts,
    MountFacts,
    OsFacts,
    ProcessesFacts,
    ProcessFacts,
    UptimeFacts,
    pct,
    unavailable,
)
from rmmctl.probes import ParamValue, ParseError, linux
from rmmctl.probes.linux.storage import is_pseudo_mount, top_processes
from rmmctl.probes.linux.system import CPU_FIELDS, cpu_percentages, memory_facts, parse_os

if TYPE_CHECKING:
    from rmmctl.executor import HostContext

VIA_PROBE: tuple[str, ...] = ("time", "services", "logs", "reboot", "updates", "backup", "av", "printers")
"""Sections psutil cannot answer: they run the sh probe through the local transport (Linux only)."""
SAMPLE_S = 0.2
_STATE = {
    psutil.STATUS_RUNNING: "R", psutil.STATUS_SLEEPING: "S", psutil.STATUS_DISK_SLEEP: "D",
    psutil.STATUS_STOPPED: "T", psutil.STATUS_TRACING_STOP: "t", psutil.STATUS_ZOMBIE: "Z",
    psutil.STATUS_DEAD: "X", psutil.STATUS_IDLE: "I", psutil.STATUS_PARKED: "P",
}  # fmt: skip


class LocalProber:
    """The `local` platform (connection: local)."""

    platform = "local"
    sections = linux.SECTIONS

    def collect(self, ctx: HostContext, sections: Sequence[str], params: Mapping[str, ParamValue] | None = None,
                *, since: float | None = None, log_level: str = "err", log_limit: int = 500) -> Facts:
        """Facts for the requested sections of this machine; a failing section lands in Facts.errors.

        Raises CommandTimeout when the host's deadline passes (in the probe exec or between sections).
        """
        unknown = [s for s in sections if s not in linux.PARSERS]
        if unknown:
            raise ValueError(f"unknown section(s) {', '.join(unknown)}; known: {', '.join(linux.SECTIONS)}")
        clock = _Deadline(ctx)
        clock.check()
        sampler = _Sampler("processes" in sections, clock) if {"cpu", "processes"} & set(sections) else None
        probed = _run_probe(ctx, [s for s in sections if s in VIA_PROBE], since, log_level, log_limit, params or {})
        data: dict[str, Any] = {}
        errors: dict[str, str] = dict(probed.errors)
        for name in sections:
            if name in VIA_PROBE:
                if name in probed:
                    data[name] = probed[name]
                continue
            clock.check()
            try:
                data[name] = _COLLECTORS[name](sampler)
            except (OSError, ValueError, psutil.Error) as exc:
                errors[name] = f"{name}: {type(exc).__name__}: {exc}"
        return Facts(data, errors)


PROBER = LocalProber()


class _Deadline:
    """The host's deadline for the in-process part: check() raises CommandTimeout once it has passed."""

    def __init__(self, ctx: HostContext) -> None:
        self.name, self.at = ctx.host.name, ctx.deadline

    def remaining(self) -> float | None:
        return None if self.at is None else self.at - time.monotonic()

    def check(self) -> None:
        left = self.remaining()
        if left is not None and left <= 0:
            raise CommandTimeout(f"{self.name}: host deadline passed while reading local facts")


def _run_probe(ctx: HostContext, sections: list[str], since: float | None, log_level: str, log_limit: int,
               params: Mapping[str, ParamValue]) -> Facts:
    """The sh probe for the sections psutil cannot answer, through the local transport (ctx.run)."""
    if not sections:
        return Facts()
    if platform.system() != "Linux" or not Path("/bin/sh").exists():
        return Facts({s: unavailable(f"not supported on {platform.system()}") for s in sections})
    facts = linux.PROBER.collect(ctx, sections, params, since=since, log_level=log_level, log_limit=log_limit)
    if isinstance(facts.get("time"), dict) and "epoch" in facts["time"]:
        facts["time"]["skew_s"] = 0.0  # the same clock as the controller's, by definition
    return facts


class _Sampler:
    """CPU times and per-process CPU counters, sampled at creation and again SAMPLE_S later (at least)."""

    def __init__(self, with_processes: bool, clock: _Deadline) -> None:
        self.clock = clock
        self.started = time.monotonic()
        self.cpu1 = psutil.cpu_times()
        self.procs: dict[int, psutil.Process] = {}
        if with_processes:
            for proc in psutil.process_iter():
                try:
                    proc.cpu_percent(None)
                    self.procs[proc.pid] = proc
                except psutil.Error:
                    continue
        self._cpu2: Any = None

    def second(self) -> Any:
        """The second CPU-times sample (taken once, after waiting for the rest of SAMPLE_S)."""
        if self._cpu2 is None:
            wait = max(0.0, SAMPLE_S - (time.monotonic() - self.started))
            left = self.clock.remaining()
            time.sleep(wait if left is None else max(0.0, min(wait, left)))
            self.clock.check()
            self._cpu2 = psutil.cpu_times()
        return self._cpu2


def _times(sample: Any) -> list[float]:
    return [float(getattr(sample, f, 0.0)) for f in CPU_FIELDS]


def _host(_: _Sampler | None) -> HostFacts:
    machine_id = None
    for path in ("/etc/machine-id", "/var/lib/dbus/machine-id"):
        try:
            machine_id = Path(path).read_text(encoding="utf-8").strip() or None
            break
        except OSError:
            continue
    hostname = socket.gethostname()
    return {
        "hostname": hostname,
        "fqdn": _fqdn(hostname),
        "kernel": platform.release(),
        "arch": platform.machine(),
        "machine_id": machine_id,
    }


def _fqdn(hostname: str) -> str | None:
    """The canonical name of the host name, as `hostname -f` resolves it (None if it does not resolve)."""
    try:
        infos = socket.getaddrinfo(hostname, None, flags=socket.AI_CANONNAME)
    except OSError:
        return None
    return next((info[3] for info in infos if info[3]), None)


def _os(_: _Sampler | None) -> OsFacts:
    for path in ("/etc/os-release", "/usr/lib/os-release"):
        try:
            facts = parse_os(Path(path).read_text(encoding="utf-8", errors="replace"))
            return {**facts, "family": platform.system().lower() or facts["family"]}
        except (OSError, ParseError):
            continue
    system = platform.system() or "unknown"
    version = platform.mac_ver()[0] or platform.version() or platform.release()
    return {
        "family": system.lower(),
        "id": system.lower(),
        "name": system,
        "version_id": version or None,
        "version_codename": None,
        "pretty_name": f"{system} {version}".strip(),
        "id_like": [],
    }


def _uptime(_: _Sampler | None) -> UptimeFacts:
    boot = psutil.boot_time()
    load: list[float | None] = [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else [None] * 3
    return {
        "seconds": round(time.time() - boot, 2),
        "boot_time": float(boot),
        "load1": load[0],
        "load5": load[1],
        "load15": load[2],
        "procs_running": None,
        "procs_total": len(psutil.pids()),
    }


def _cpu(sampler: _Sampler | None) -> CpuFacts:
    assert sampler is not None
    shares: dict[str, Any] = cpu_percentages(_times(sampler.cpu1), _times(sampler.second()))
    for field in ("iowait", "steal"):  # psutil counts them on Linux only
        if not hasattr(sampler.cpu1, field):
            shares[field] = None
    return {"count": psutil.cpu_count() or 1, "model": _cpu_model(), **shares}  # type: ignore[typeddict-item]


def _cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").split("\n"):
            if line.startswith("model name"):
                return line.partition(":")[2].strip() or None
    except OSError:
        pass
    return platform.processor() or None


def _memory(_: _Sampler | None) -> MemoryFacts:
    vm, swap = psutil.virtual_memory(), psutil.swap_memory()
    total, available = vm.total // 1024, vm.available // 1024
    return memory_facts(total, available, swap.total // 1024, swap.used // 1024)


def _filesystems(_: _Sampler | None) -> FilesystemsFacts:
    out: list[MountFacts] = []
    seen: set[object] = set()
    for part in psutil.disk_partitions(all=True):
        try:
            usage = psutil.disk_usage(part.mountpoint)
        except OSError:
            continue
        size, used, avail = usage.total // 1024, usage.used // 1024, usage.free // 1024
        key = (part.device, size) if part.device.startswith("/") else part.mountpoint
        if is_pseudo_mount(part.mountpoint, part.fstype, size) or key in seen or part.mountpoint in seen:
            continue
        seen.update((key, part.mountpoint))
        out.append(_mount(part, size, used, avail))
    return {"mounts": out}


def _mount(part: Any, size: int, used: int, avail: int) -> MountFacts:
    itotal = iused = ifree = None
    if hasattr(os, "statvfs"):
        try:
            st = os.statvfs(part.mountpoint)
            if st.f_files:
                itotal, ifree = st.f_files, st.f_ffree
                iused = itotal - ifree
        except OSError:
            pass
    return {
        "mount": part.mountpoint,
        "device": part.device,
        "fstype": part.fstype or None,
        "size_kb": size,
        "used_kb": used,
        "avail_kb": avail,
        "used_pct": pct(used, used + avail),
        "inodes_total": itotal,
        "inodes_used": iused,
        "inodes_free": ifree,
        "inodes_pct": pct(iused, iused + ifree) if iused is not None and ifree is not None else None,
        "read_only": "ro" in part.opts.split(","),
    }


def _processes(sampler: _Sampler | None) -> ProcessesFacts:
    assert sampler is not None
    sampler.second()
    memtotal = psutil.virtual_memory().total // 1024
    procs: list[ProcessFacts] = []
    for pid, proc in sampler.procs.items():
        try:
            with proc.oneshot():
                rss = proc.memory_info().rss // 1024
                row: ProcessFacts = {
                    "pid": pid,
                    "name": proc.name(),
                    "user": _username(proc),
                    "state": _STATE.get(proc.status(), "?"),
                    "cpu_pct": round(proc.cpu_percent(None), 1),
                    "mem_pct": pct(rss, memtotal) if rss else None,
                    "rss_kb": rss or None,
                }
        except psutil.Error:
            continue
        procs.append(row)
    return top_processes(procs)


def _username(proc: psutil.Process) -> str | None:
    try:
        return str(proc.username())
    except (psutil.Error, KeyError):
        try:
            return str(proc.uids().real)
        except (psutil.Error, AttributeError):
            return None


_COLLECTORS: dict[str, Callable[[_Sampler | None], Any]] = {
    "host": _host,
    "os": _os,
    "uptime": _uptime,
    "cpu": _cpu,
    "memory": _memory,
    "filesystems": _filesystems,
    "processes": _processes,
}
