"""The facts schema: what a prober learns about a host, one JSON-safe dict per section, for every OS.

Every section is either its facts (the TypedDicts below) or ``{"unavailable": "reason"}`` when the
host lacks the tool or data source. The schema is OS-neutral: a value a platform cannot give is
null (load averages, iowait and steal do not exist on Windows), and OS-specific detail sits in its own
sub-dict (a failed service's `systemd`). How a platform fills it is its prober's business
(rmmctl.probes.linux, rmmctl.probes.local). ``Facts`` maps section -> facts and carries ``errors`` (section ->
one-line message) for sections whose output was cut off or could not be parsed. docs/facts.md
documents every key and unit; the keys are ``data.facts`` of ``rmmctl metrics -o json``.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, TypedDict, Union

from rmmctl.formats import iso_utc, to_jsonable  # noqa: F401 - re-exported for the probes

class Unavailable(TypedDict):
    """A section the host cannot answer: `{"unavailable": "no df command"}`."""

    unavailable: str


class HostFacts(TypedDict):
    """`{"hostname": "web01", "fqdn": "web01.acme.lan", "kernel": "6.1.0-18-amd64", "arch": "x86_64", ...}`."""

    hostname: str
    fqdn: str | None
    kernel: str
    arch: str
    machine_id: str | None


class OsFacts(TypedDict):
    """`{"family": "linux", "id": "ubuntu", "version_id": "22.04", "id_like": ["debian"], ...}` (Linux: os-release).

    family: the OS family (linux, windows, darwin, freebsd ...), what a check branches on.
    """

    family: str
    id: str
    name: str
    version_id: str | None
    version_codename: str | None
    pretty_name: str
    id_like: list[str]


class UptimeFacts(TypedDict):
    """`{"seconds": 363.05, "boot_time": 1795311803.0, "load1": 2.31, ...}` (boot_time: unix time).

    load1/5/15: the load averages, null where the OS keeps none (Windows).
    """

    seconds: float
    boot_time: float | None
    load1: float | None
    load5: float | None
    load15: float | None
    procs_running: int | None
    procs_total: int | None


class CpuFacts(TypedDict):
    """Percentages of all CPUs over the sample interval: `{"count": 2, "percent": 12.5, ...}`.

    iowait, steal: null where the OS does not count them (Windows, macOS).
    """

    count: int
    model: str | None
    percent: float
    user: float
    system: float
    iowait: float | None
    steal: float | None
    idle: float


class MemoryFacts(TypedDict):
    """`{"total_kb": 24684084, "available_kb": 20000000, "used_pct": 19.0, ...}`; pct null when total is 0."""

    total_kb: int
    available_kb: int
    used_kb: int
    used_pct: float | None
    swap_total_kb: int
    swap_used_kb: int
    swap_used_pct: float | None


class MountFacts(TypedDict):
    """One real filesystem (pseudo filesystems are left out)."""

    mount: str
    device: str
    fstype: str | None
    size_kb: int
    used_kb: int
    avail_kb: int
    used_pct: float | None
    inodes_total: int | None
    inodes_used: int | None
    inodes_free: int | None
    inodes_pct: float | None
    read_only: bool


class FilesystemsFacts(TypedDict):
    """`{"mounts": [MountFacts, ...]}` in mount-table order."""

    mounts: list[MountFacts]


class SystemdUnit(TypedDict):
    """systemd's own view of a unit (`systemctl list-units` columns)."""

    unit: str
    load: str
    active: str
    sub: str


class ScmService(TypedDict):
    """The Windows Service Control Manager's view of a service (Win32_Service).

    start_mode: as WMI says it (`Auto`); delayed: delayed automatic start; trigger: trigger-started (a
    TriggerInfo key); exit_code: Win32 exit code (1066: see service_exit_code; 1077: never started since
    boot); service_exit_code: the service's own code.
    """

    start_mode: str
    delayed: bool
    trigger: bool
    exit_code: int | None
    service_exit_code: int | None


class Service(TypedDict):
    """One service, in any OS's terms: `{"name": "nginx", "state": "failed", "start_mode": null, ...}`.

    name: the service name (a systemd `.service` unit without its suffix; other unit types keep it);
    state: failed, stopped, running ...; start_mode: auto, manual, disabled (null when not asked);
    systemd: the unit's systemd columns (null on other service managers); scm: the Windows SCM's
    (null on other service managers).
    """

    name: str
    state: str
    start_mode: str | None
    description: str
    systemd: SystemdUnit | None
    scm: ScmService | None


class ServicesFacts(TypedDict):
    """`{"available": false, "manager": null, "init": "tini", ...}` when no service manager answers.

    available: a service manager answered (manager: systemd, scm ...); system_state: its overall state
    (systemd's is-system-running: running, degraded ...); failed: the services in the failed state.
    """

    available: bool
    manager: str | None
    init: str | None
    system_state: str | None
    failed: list[Service]


class LogEntry(TypedDict):
    """One log line: time is ISO 8601 UTC (null if the line had no parsable time)."""

    time: str | None
    level: str
    source: str
    message: str
    pid: int | None


class LogsFacts(TypedDict):
    """`{"source": "journal", "entries": [LogEntry, ...], "truncated": false, ...}`."""

    source: str
    file: str | None
    since: str | None
    max_level: str
    restricted: bool
    truncated: bool
    journal: str | None
    journal_said: str | None
    journald_running: bool | None
    fallback: bool
    below_level: dict[str, int] | None
    user: str | None
    entries: list[LogEntry]


class Package(TypedDict):
    """One pending update."""

    name: str
    version: str
    current: str | None
    repo: str | None
    security: bool


class UpdatesFacts(TypedDict):
    """`{"manager": "apt", "pending": 134, "security": 80, "packages": [...], "lists_mtime": 1795311960}`.

    manager: apt, dnf, yum, windows-update; lists_mtime: when the package lists were last refreshed (Windows:
    the last successful update search), unix time; last_install: the last successful update installation
    (unix time; Windows Update only, null elsewhere).
    """

    manager: str
    pending: int
    security: int
    packages: list[Package]
    lists_mtime: int | None
    last_install: int | None


class RebootFacts(TypedDict):
    """`{"required": true, "packages": ["linux-image-..."], "method": "reboot-required"}`."""

    required: bool
    packages: list[str]
    method: str


class W32TimeFacts(TypedDict):
    """The Windows Time service as the host tells it (Windows only: null elsewhere).

    state, start_mode: the W32Time service's (running, stopped ...; auto, manual, disabled), null when
    Win32_Service did not answer; type: its configured Type (NT5DS: the domain hierarchy, NTP: ntp_server,
    NoSync, AllSync); ntp_server: the configured NtpServer value as written (`time.windows.com,0x9`);
    source: `w32tm /query /source`'s first line (`Local CMOS Clock` and `Free-running System Clock` mean not
    synchronised); stripchart: the last line of `w32tm /stripchart /samples:1 /dataonly` (the offset sample,
    or its error).
    """

    state: str | None
    start_mode: str | None
    type: str | None
    ntp_server: str | None
    source: str | None
    stripchart: str | None


class TimeFacts(TypedDict):
    """Host clock: skew_s = host epoch - controller epoch (positive: host ahead); w32time: Windows only."""

    epoch: float
    skew_s: float | None
    synchronized: bool | None
    ntp_service: str | None
    ntp_enabled: bool | None
    ntp_offset_s: float | None
    timezone: str | None
    utc_offset: str | None
    w32time: W32TimeFacts | None


class BackupPathFacts(TypedDict):
    """One inventory backup path: a file's own mtime/size, or a directory's newest file (sizes in bytes)."""

    path: str
    kind: str
    mtime: int | None
    size: int | None
    newest: str | None
    files: int | None


class BackupFacts(TypedDict):
    """`{"now": 1795311960, "paths": [BackupPathFacts, ...]}` for the paths in inventory var backup_paths."""

    now: int
    paths: list[BackupPathFacts]


class AvDatabase(TypedDict):
    """One signature database: a ClamAV file (daily.cld, main.cvd, ...) or Defender's signatures (`antivirus`)."""

    name: str
    mtime: int
    size: int
    version: int | None
    built: str | None


class DefenderFacts(TypedDict):
    """Microsoft Defender's own status (Get-MpComputerStatus); ages in days, last_quick_scan ISO 8601 UTC.

    running_mode: Normal, Passive, EDR Block Mode, SxS Passive Mode ...; tamper_protected null when unknown.
    """

    real_time: bool
    antivirus_enabled: bool
    service_enabled: bool
    running_mode: str | None
    tamper_protected: bool | None
    signature_version: str | None
    signature_age_days: int | None
    quick_scan_age_days: int | None
    full_scan_age_days: int | None
    last_quick_scan: str | None


class AvFacts(TypedDict):
    """`{"engine": "clamav", "databases": [AvDatabase, ...], "log_tail": [...], ...}` (unavailable without ClamAV
    on Linux, without an active Microsoft Defender on Windows).

    engine: clamav or defender; defender: Defender's status (null for ClamAV), its signatures are the one
    database `antivirus` (mtime: last updated).
    """

    engine: str
    now: int
    tools: list[str]
    db_dir: str
    databases: list[AvDatabase]
    log: str | None
    log_tail: list[str]
    defender: DefenderFacts | None


class SchedulerFacts(TypedDict):
    """`{"running": true, "message": "scheduler is running"}` (`lpstat -r`; its rc is 0 either way)."""

    running: bool
    message: str


class PrinterFacts(TypedDict):
    """One CUPS queue (`lpoptions -p` + `lpstat -l -p`); state is idle, processing, stopped or unknown."""

    name: str
    state: str
    accepting: bool
    state_reasons: list[str]
    message: str | None
    device_uri: str | None
    make_and_model: str | None
    is_raw: bool
    ppd: str | None
    info: str | None
    location: str | None
    status_line: str | None


class PrintJob(TypedDict):
    """One job not completed yet (`lpstat -l -o`; state from ipptool when installed, else null)."""

    id: int
    job: str
    printer: str
    user: str
    size: int
    submitted: str | None
    age_s: int | None
    state: str | None
    reasons: list[str]
    message: str | None
    line: str


class PrinterLogEntry(TypedDict):
    """One E/W line of the CUPS error_log (printer from the job or the text, when known)."""

    time: str | None
    age_s: int | None
    level: str
    printer: str | None
    job: int | None
    message: str


class WindowsSpooler(TypedDict):
    """The Spooler service: state (running, stopped, ...), start_mode (auto, manual, disabled; null unknown) and
    started (when spoolsv.exe started, ISO UTC; null when it is not running or unknown)."""

    state: str
    start_mode: str | None
    started: str | None


class WindowsSpoolerCrash(TypedDict):
    """One Spooler crash: SCM 7031/7034 naming the Spooler, or Application Error 1000 for spoolsv.exe."""

    time: str | None
    id: int
    source: str
    message: str


class WindowsPrintDriver(TypedDict):
    """One installed printer driver (Get-PrinterDriver); version a.b.c.d from the packed DriverVersion, isolation
    none/shared/isolated (the driver key's DriverIsolation; null: the system default), files: its DLLs' names."""

    name: str
    version: str | None
    manufacturer: str | None
    major_version: int | None
    environment: str | None
    inf_path: str | None
    isolation: str | None
    files: list[str]


class WindowsDriverFailure(TypedDict):
    """One PrintService/Admin event 808/215/372/99: the driver, the DLL (module) and the printer it names."""

    time: str | None
    id: int
    driver: str | None
    module: str | None
    printer: str | None
    message: str


class WindowsSpoolFolder(TypedDict):
    """%SystemRoot%\\System32\\spool\\PRINTERS: file count, their bytes, the oldest file's age (null: none)."""

    files: int
    bytes: int
    oldest_age_s: int | None


class WindowsPrintFacts(TypedDict):
    """Windows-only printing detail (null on CUPS hosts); a part the host could not read is null or empty."""

    spooler: WindowsSpooler
    crashes: list[WindowsSpoolerCrash]
    drivers: list[WindowsPrintDriver]
    driver_failures: list[WindowsDriverFailure]
    spool: WindowsSpoolFolder | None


class PrintersFacts(TypedDict):
    """`{"scheduler": {...}, "printers": [...], "jobs": [...], "log": [...], ...}` (unavailable without lpstat).

    On Windows the scheduler is the Spooler service and `windows` holds what only Windows has.
    """

    epoch: int | None
    scheduler: SchedulerFacts
    printers: list[PrinterFacts]
    jobs: list[PrintJob]
    log: list[PrinterLogEntry]
    log_error: str | None
    windows: WindowsPrintFacts | None


class ProcessFacts(TypedDict):
    """One process: cpu_pct is % of ONE CPU over the sample interval (may exceed 100)."""

    pid: int
    name: str
    user: str | None
    state: str
    cpu_pct: float
    mem_pct: float | None
    rss_kb: int | None


class ProcessesFacts(TypedDict):
    """`{"count": 118, "top_cpu": [...10], "top_mem": [...10]}`; names only, never arguments."""

    count: int
    top_cpu: list[ProcessFacts]
    top_mem: list[ProcessFacts]


class Facts(Mapping[str, Any]):
    """Section name -> facts dict (or Unavailable), plus `errors`: section -> one-line message."""

    __slots__ = ("_sections", "errors")

    def __init__(self, sections: Mapping[str, Any] | None = None, errors: Mapping[str, str] | None = None):
        self._sections: dict[str, Any] = dict(sections or {})
        self.errors: dict[str, str] = dict(errors or {})

    def __getitem__(self, key: str) -> Any:
        return self._sections[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._sections)

    def __len__(self) -> int:
        return len(self._sections)

    def __repr__(self) -> str:
        return f"Facts({self._sections!r}, errors={self.errors!r})"

    def available(self, name: str) -> Mapping[str, Any] | None:
        """The section's facts, or None when it is missing, unavailable or failed (see `section`)."""
        return section(self._sections, name)

    def to_jsonable(self) -> dict[str, Any]:
        """`{section: facts, ..., "errors": {section: message}}`: plain JSON types only."""
        out = {name: to_jsonable(value) for name, value in self._sections.items()}
        out["errors"] = dict(self.errors)
        return out


def unavailable(reason: str) -> Unavailable:
    """The value of a section the host cannot answer."""
    return {"unavailable": reason}


def section(facts: Mapping[str, Any], name: str) -> Mapping[str, Any] | None:
    """THE section-availability rule: a section's facts, or None when it is missing, failed (only in
    `errors`) or `{"unavailable": ...}`. Works on Facts and on their JSON form alike."""
    data = facts.get(name)
    return data if isinstance(data, Mapping) and "unavailable" not in data else None


def unavailable_reason(value: Any) -> str | None:
    """The reason of an `{"unavailable": reason}` section value, else None."""
    return str(value["unavailable"]) if isinstance(value, Mapping) and "unavailable" in value else None


def pct(part: float, whole: float) -> float | None:
    """part/whole as a percentage rounded to 0.1, or None when whole is 0."""
    if whole <= 0:
        return None
    return round(100.0 * part / whole, 1)


SECTION_TYPES: dict[str, type] = {
    "time": TimeFacts,
    "host": HostFacts,
    "os": OsFacts,
    "uptime": UptimeFacts,
    "memory": MemoryFacts,
    "filesystems": FilesystemsFacts,
    "services": ServicesFacts,
    "logs": LogsFacts,
    "reboot": RebootFacts,
    "updates": UpdatesFacts,
    "backup": BackupFacts,
    "av": AvFacts,
    "printers": PrintersFacts,
    "cpu": CpuFacts,
    "processes": ProcessesFacts,
}
"""Section name -> the TypedDict of its facts (the source of docs/facts.md and json_schema())."""

_SCALARS: dict[Any, str] = {
    str: "string",
    int: "integer",
    float: "number",
    bool: "boolean",
    type(None): "null",
}


def _schema_of(hint: Any) -> dict[str, Any]:
    if hint in _SCALARS:
        return {"type": _SCALARS[hint]}
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        return {"anyOf": [_schema_of(arg) for arg in typing.get_args(hint)]}
    if origin is list:
        return {"type": "array", "items": _schema_of(typing.get_args(hint)[0])}
    if origin is dict:  # str keys
        return {"type": "object", "additionalProperties": _schema_of(typing.get_args(hint)[1])}
    if typing.is_typeddict(hint):
        props = {key: _schema_of(value) for key, value in typing.get_type_hints(hint).items()}
        return {
            "type": "object",
            "properties": props,
            "required": sorted(props),
            "additionalProperties": False,
        }
    raise TypeError(f"no JSON schema for {hint!r}")


def json_schema(sections: Sequence[str] | None = None) -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of Facts.to_jsonable() for these sections (default: all)."""
    names = list(SECTION_TYPES) if sections is None else list(sections)
    props: dict[str, Any] = {
        name: {"oneOf": [_schema_of(SECTION_TYPES[name]), _schema_of(Unavailable)]} for name in names
    }
    props["errors"] = {"type": "object", "additionalProperties": {"type": "string"}}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": props,
        "required": ["errors"],
        "additionalProperties": False,
    }
