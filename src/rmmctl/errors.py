"""The error tree and the exit codes. The only module that knows exit numbers."""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rmmctl.models import RunReport


class RmmctlError(Exception):
    """Base of every error rmmctl raises on purpose; its str() is one line for the user."""


class ConfigError(RmmctlError):
    """Bad inventory, playbook, pattern or option value: nothing ran (exit 3)."""


class UsageError(RmmctlError):
    """A command line that cannot work as given (exit 2)."""


class StoreError(RmmctlError):
    """The history database cannot be opened or written."""


class TransportError(RmmctlError):
    """A command could not run on a host: there is no CommandResult."""

    kind = "transport"


class ConnectError(TransportError):
    """The host could not be reached (DNS, refused, no route, proxy)."""

    kind = "connect"


class AuthError(TransportError):
    """The host refused our credentials."""

    kind = "auth"


class HostKeyError(AuthError):
    """The host key is unknown under strict checking, or it changed."""

    kind = "host_key"


class CommandTimeout(TransportError):
    """The host or a command did not finish within its deadline."""

    kind = "timeout"


class ExitCode(enum.IntEnum):
    """Process exit codes (DESIGN.md section 1). Precedence 7 > 6 > 5 > 4 > 0."""

    OK = 0
    ERROR = 1
    USAGE = 2
    CONFIG = 3
    WARN = 4
    CRIT = 5
    UNREACHABLE = 6
    AUTH_FAILED = 7
    STORE = 8  # the history database could not be opened or written: results were printed, not all recorded
    OUTPUT = 9  # stdout could not be written (disk full, I/O error): the run happened, its output is lost
    INTERRUPTED = 130
    BROKEN_PIPE = 141  # stdout closed by the reader (128 + SIGPIPE), as a shell reports it


_STATUS_CODE = {
    "ok": ExitCode.OK,
    "changed": ExitCode.OK,
    "skipped": ExitCode.OK,
    "warn": ExitCode.WARN,
    "crit": ExitCode.CRIT,
    "failed": ExitCode.CRIT,
    "error": ExitCode.CRIT,
    "unreachable": ExitCode.UNREACHABLE,
    "timeout": ExitCode.UNREACHABLE,
    "auth_failed": ExitCode.AUTH_FAILED,
    "interrupted": ExitCode.INTERRUPTED,
}
_RANK = [ExitCode.OK, ExitCode.WARN, ExitCode.CRIT, ExitCode.UNREACHABLE, ExitCode.AUTH_FAILED]


def exit_code_for(report: RunReport) -> ExitCode:
    """The exit code of a finished run: the worst host outcome wins; an interrupt wins over all."""
    if report.interrupted:
        return ExitCode.INTERRUPTED
    worst = ExitCode.OK
    for host in report.hosts:
        code = _STATUS_CODE[host.status.value]
        if code is ExitCode.INTERRUPTED:
            continue
        if _RANK.index(code) > _RANK.index(worst):
            worst = code
    return worst
