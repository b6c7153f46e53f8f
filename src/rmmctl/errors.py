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


class OutputError(RmmctlError):
    """stdout could not be written (disk full, I/O error): exit 9. A closed pipe is BrokenPipeError (141)."""


class Terminated(KeyboardInterrupt):
    """SIGTERM (cron, systemd, `timeout`), raised in the main thread and handled like Ctrl-C: exit 143."""

    reason = "SIGTERM"


class OutputStopped(KeyboardInterrupt):
    """stdout failed while a run streamed to it: the run stops like on Ctrl-C (finished hosts recorded).

    `error` is the OSError: BrokenPipeError (the reader left, exit 141) or another (disk full, EIO: exit 9).
    """

    def __init__(self, error: OSError) -> None:
        super().__init__(str(error))
        self.error = error
        self.reason = "EPIPE" if isinstance(error, BrokenPipeError) else "EIO"


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
    """Process exit codes (README, docs/architecture.md). Precedence 7 > 6 > 5 > 4 > 8 > 10 > 0; a stop
    (130, 141, 143, 9) wins over all. 75: nothing ran, another run holds the --lock (`exit_code_for_lock`)."""

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
    ALERT = 10  # --alert: the run was ok but an alert could not be sent (kept and retried on the next run)
    LOCKED = 75  # EX_TEMPFAIL: --lock is held by another run (and stayed held for --lock-wait); nothing ran
    INTERRUPTED = 130
    BROKEN_PIPE = 141  # stdout closed by the reader (128 + SIGPIPE), as a shell reports it
    TERMINATED = 143  # SIGTERM (128 + 15): handled like Ctrl-C


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


FAIL_ON = ("warning", "critical")
_STOP_CODE = {"SIGTERM": ExitCode.TERMINATED, "EPIPE": ExitCode.BROKEN_PIPE, "EIO": ExitCode.OUTPUT}


def check_fail_on(value: str) -> str:
    """`warning` or `critical`; anything else is a usage error naming both."""
    if value not in FAIL_ON:
        raise UsageError(f"--fail-on {value!r}: use warning (the default) or critical")
    return value


def exit_code_for_lock() -> ExitCode:
    """The exit code of a run that did not start because another holds its --lock: 75 (EX_TEMPFAIL,
    sysexits.h: "try again later"), whatever the command."""
    return ExitCode.LOCKED


def exit_code_for(report: RunReport, *, fail_on: str = "warning") -> ExitCode:
    """THE exit code of a finished run, for every command.

    A run stopped early wins over all: 130 Ctrl-C, 143 SIGTERM, 141 stdout closed, 9 stdout failed.
    Else the worst host outcome wins (7 > 6 > 5 > 4); `fail_on="critical"` (diagnose --fail-on) lets
    warnings pass (4 becomes 0; a host still shows `warn`). A play that max_fail_percentage stopped is
    never 0 (its failed batch gives 5/6/7; the hosts not run are `skipped`). A run that is otherwise ok but
    whose history could not be written exits 8; one whose alerts could not all be sent (--alert) exits 10.
    """
    check_fail_on(fail_on)
    if report.interrupted:
        return _STOP_CODE.get(report.interrupted_by, ExitCode.INTERRUPTED)
    worst = ExitCode.OK
    for host in report.hosts:
        code = _STATUS_CODE[host.status.value]
        if code is ExitCode.INTERRUPTED:
            continue
        if _RANK.index(code) > _RANK.index(worst):
            worst = code
    if worst is ExitCode.WARN and fail_on == "critical":
        worst = ExitCode.OK
    if worst is ExitCode.OK and report.stopped_after_batch:  # a play stopped by its failures is never ok
        worst = ExitCode.CRIT
    if worst is ExitCode.OK and report.store_error:
        return ExitCode.STORE
    if worst is ExitCode.OK and report.alert_error:
        return ExitCode.ALERT
    return worst
