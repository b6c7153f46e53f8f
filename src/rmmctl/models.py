"""Typed results shared by every layer: plain frozen data, no I/O."""

from __future__ import annotations

import enum
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


@dataclass(frozen=True, slots=True)
class RunReport:
    """A whole run: host results in inventory order plus a summary."""

    command: str
    started_at: float  # unix time
    duration_s: float
    hosts: tuple[HostResult, ...]
    interrupted: bool = False
    argv: tuple[str, ...] = ()

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for h in self.hosts:
            out[h.status.value] = out.get(h.status.value, 0) + 1
        return out
