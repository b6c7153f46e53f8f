"""Typed results shared by every layer: plain frozen data, no I/O."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from typing import Any, Mapping


class Status(str, enum.Enum):
    """How one host ended. Ordered roughly from good to bad (see errors.exit_code_for)."""

    OK = "ok"
    CHANGED = "changed"
    WARN = "warn"
    CRIT = "crit"
    FAILED = "failed"
    UNREACHABLE = "unreachable"
    AUTH_FAILED = "auth_failed"
    TIMEOUT = "timeout"
    ERROR = "error"
    SKIPPED = "skipped"
    INTERRUPTED = "interrupted"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True)
class CommandResult:
    """One command that ran to completion on a host, whatever its exit code.

    Each stream keeps at most the transport's `max_output` bytes (the start of it); the bytes seen
    past that were read and dropped, and counted in `*_truncated_bytes` (0: nothing was dropped).
    """

    command: str
    exit_code: int
    stdout: str
    stderr: str
    duration_s: float
    stdout_truncated_bytes: int = 0
    stderr_truncated_bytes: int = 0

    @property
    def truncated(self) -> bool:
        return bool(self.stdout_truncated_bytes or self.stderr_truncated_bytes)

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


@dataclass(frozen=True, slots=True)
class HostError:
    """Why a host has no result: kind (connect, auth, host_key, timeout, ...) and a one-line message."""

    kind: str
    message: str


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One remote action, recorded append-only in the store (secrets already redacted)."""

    host: str
    action: str  # "exec", "put", "get", "connect"
    detail: str  # the command line or path, redacted
    exit_code: int | None
    duration_s: float
    at: float  # unix time when it started


class Severity(str, enum.Enum):
    """How bad a finding is; maps to the host status warn/crit (checks.base.worst_status)."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"

    def __str__(self) -> str:
        return self.value


_NUMBER = re.compile(r"(?<![\w./-])[-+]?\d+(?:\.\d+)?(?![\w/])")


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem found on a host, with the evidence quoted from its facts and how to fix it."""

    check_id: str
    severity: Severity
    title: str
    evidence: tuple[str, ...] = ()
    remediation: str = ""
    playbook: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"check_id": self.check_id, "severity": self.severity.value, "title": self.title,
                "evidence": list(self.evidence), "remediation": self.remediation, "playbook": self.playbook}

    @property
    def key(self) -> str:
        """A stable identity for findings history (see `finding_key`)."""
        return finding_key(self.to_dict())


def finding_key(finding: Mapping[str, Any]) -> str:
    """A stable identity for history: check id + title with measured numbers blanked (`#`).

    "filesystem /srv/data is 97.5% full" and "... 99.0% full" are the same problem; numbers inside
    names (sda1, printer-02, /srv/data2) are kept. A finding given as a mapping may set its own `key`.
    """
    if finding.get("key"):
        return f"{finding['check_id']}:{finding['key']}"
    return f"{finding['check_id']}:{_NUMBER.sub('#', str(finding['title']))}"


@dataclass(frozen=True, slots=True)
class HostResult:
    """What one host produced in one run. `data` is JSON-safe and command-specific."""

    name: str
    address: str
    status: Status
    error: HostError | None = None
    data: Mapping[str, Any] = field(default_factory=dict)
    duration_s: float = 0.0
    audit: tuple[AuditEntry, ...] = ()
    samples: Mapping[str, float] = field(default_factory=dict)  # numeric metrics for history (status/metrics)
    findings: tuple[Finding, ...] = ()  # typed; `data["findings"]` holds the same as JSON for the output
    checks: tuple[str, ...] | None = None  # the checks that judged the host, for findings history (diagnose)


@dataclass(frozen=True, slots=True)
class RunReport:
    """A whole run: host results in inventory order plus a summary."""

    command: str
    started_at: float  # unix time
    duration_s: float
    hosts: tuple[HostResult, ...]
    interrupted: bool = False
    argv: tuple[str, ...] = ()
    interrupted_by: str = ""  # why the run stopped early: "" or "SIGINT" (Ctrl-C), "SIGTERM", "EPIPE", "EIO"
    store_error: str | None = None  # the history could not be written (one line): results printed, not stored
    alert_error: str | None = None  # --alert: channels whose send failed (one line; kept, retried next run)
    batches: int = 0  # a play's batches (`serial`; 1 without it); 0: the run was not batched
    stopped_after_batch: int | None = None  # max_fail_percentage stopped the play after this batch (1-based)
    stop_reason: str = ""  # why, one line (also set when the rule fired on the last batch: nothing left to stop)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for h in self.hosts:
            out[h.status.value] = out.get(h.status.value, 0) + 1
        return out


PLAY_RECAP = ("ok", "changed", "failed", "skipped", "unreachable")  # the play recap's columns
_NEVER_ANSWERED = (Status.UNREACHABLE, Status.TIMEOUT, Status.AUTH_FAILED)


def play_recap(host: HostResult) -> dict[str, int]:
    """A play host's recap counts (play's table, diagnose --fix): its task counts, or unreachable 1 when it
    never answered; an error before any task counts as one failed."""
    counts = dict.fromkeys(PLAY_RECAP, 0)
    if host.status in _NEVER_ANSWERED:
        counts["unreachable"] = 1
        return counts
    for key, value in ((host.data or {}).get("recap") or {}).items():
        if key in counts:
            counts[key] = value
    if host.status is Status.ERROR and not counts["failed"]:
        counts["failed"] = 1
    return counts
