"""The library façade: everything the CLI does goes through these functions (and so can a script)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

from rmmctl.errors import ConfigError, exit_code_for
from rmmctl.executor import DEFAULT_FORKS, Executor, HostContext, Observer, Task, TaskOutcome
from rmmctl.inventory.model import Host, Inventory
from rmmctl.inventory.select import select_hosts
from rmmctl.models import HostResult, RunReport, Status
from rmmctl.secrets import Redactor
from rmmctl.transports import DEFAULT_MAX_OUTPUT, Transport, TransportOptions

if TYPE_CHECKING:
    from rmmctl.store import Store

PING_MARK = "rmmctl-ping"
FindingSet = tuple[list[str], list[dict[str, Any]]]
"""(ids of the checks that ran on a host, its findings each with a stable `key`): findings history."""


@dataclass(slots=True)
class RunSettings:
    """How a run behaves, whatever the command."""

    forks: int = DEFAULT_FORKS
    host_timeout: float | None = None  # hard deadline per host, connect included
    command_timeout: float = 60.0
    connect_timeout: float = 10.0
    host_key_policy: str | None = None  # None: per host var, default strict
    user_known_hosts: Path | None = None
    ssh_config: Path | None = None
    max_output: int = DEFAULT_MAX_OUTPUT  # bytes kept per stream of each command (--max-output)
    limit: str | None = None  # a second pattern the hosts must also match (-l/--limit)
    argv: tuple[str, ...] = ()
    redactor: Redactor = field(default_factory=Redactor)

    def transport_options(self, inventory: Inventory) -> TransportOptions:
        return TransportOptions(
            connect_timeout=self.connect_timeout,
            command_timeout=self.command_timeout,
            host_key_policy=self.host_key_policy or "strict",
            known_hosts=(inventory.known_hosts,) if inventory.known_hosts else (),
            user_known_hosts=self.user_known_hosts,
            ssh_config=self.ssh_config,
            max_output=self.max_output,
            redactor=self.redactor,
        )


def execute(
    command: str,
    inventory: Inventory,
    pattern: str,
    task: Task,
    settings: RunSettings,
    *,
    store: Store | None = None,
    observer: Observer | None = None,
    on_result: Callable[[HostResult], None] | None = None,
    opener: Callable[..., Transport] | None = None,
    findings_of: Callable[[HostResult], FindingSet | None] | None = None,
    exit_code: Callable[[RunReport], int] = exit_code_for,
) -> RunReport:
    """Select hosts, run `task` on each, record the run in the store, and return the report.

    `findings_of` gives a host's (checks run, findings) for findings history, stored in the same
    transaction as its result; `exit_code` is what the run's history row records.
    """
    hosts = resolve_hosts(inventory, pattern, settings.limit)  # ConfigError (exit 3) before anything runs
    started_at, started = time.time(), time.monotonic()
    run_id = store.begin_run(command, settings.argv) if store else None

    def record(result: HostResult) -> None:
        if store is not None and run_id is not None:
            store.add_host_result(run_id, result, samples=result.samples or None,
                                  findings=findings_of(result) if findings_of else None)
        if on_result is not None:
            on_result(result)

    executor = Executor(
        settings.transport_options(inventory),
        forks=settings.forks,
        host_timeout=settings.host_timeout,
        observer=observer,
        **({"opener": opener} if opener else {}),
    )
    results = executor.run(hosts, task, on_result=record)
    report = RunReport(
        command=command,
        started_at=started_at,
        duration_s=time.monotonic() - started,
        hosts=tuple(results),
        interrupted=executor.interrupted,
        argv=settings.argv,
    )
    if store is not None and run_id is not None:
        store.finish_run(run_id, report, int(exit_code(report)))
    return report


def ping_task(ctx: HostContext) -> TaskOutcome:
    """Connect (host key and auth checked on the way) and echo a marker back: reachability only."""
    started = time.monotonic()
    result = ctx.run(f"echo {PING_MARK}; id -un; hostname")
    rtt_ms = round((time.monotonic() - started) * 1000, 1)
    lines = result.stdout.splitlines()
    ok = result.ok and lines[:1] == [PING_MARK]
    data = {
        "transport": ctx.host.connection,
        "user": lines[1] if len(lines) > 1 else None,
        "remote_hostname": lines[2] if len(lines) > 2 else None,
        "rtt_ms": rtt_ms,
    }
    if not ok:
        data["stderr"] = result.stderr.strip()[-500:]
    return TaskOutcome(Status.OK if ok else Status.FAILED, data)


def command_task(command: str, *, become: bool = False, stdin: str | None = None) -> Task:
    """A task that runs one shell command and reports its output; a non-zero exit is `failed`."""

    def task(ctx: HostContext) -> TaskOutcome:
        result = ctx.run(command, become=become, stdin=stdin)
        data = {
            "command": ctx.redact(command),
            "exit_code": result.exit_code,
            "stdout": result.stdout,
            "stderr": result.stderr,
            "stdout_truncated_bytes": result.stdout_truncated_bytes,
            "stderr_truncated_bytes": result.stderr_truncated_bytes,
            "duration_s": round(result.duration_s, 3),
        }
        return TaskOutcome(Status.OK if result.ok else Status.FAILED, data)

    return task


def ping(inventory: Inventory, pattern: str, settings: RunSettings, **kw: object) -> RunReport:
    """`rmmctl ping`: reachability, host key and authentication for every selected host."""
    return execute("ping", inventory, pattern, ping_task, settings, **kw)  # type: ignore[arg-type]


def run_command(
    inventory: Inventory, pattern: str, command: str, settings: RunSettings, *, become: bool = False,
    stdin: str | None = None, **kw: object,
) -> RunReport:
    """`rmmctl run`: one ad-hoc shell command on every selected host."""
    return execute("run", inventory, pattern, command_task(command, become=become, stdin=stdin), settings,
                   **kw)  # type: ignore[arg-type]


def resolve_hosts(inventory: Inventory, pattern: str, limit: str | None = None) -> list[Host]:
    """The hosts matching `pattern` and, if given, also `limit`, in inventory order."""
    hosts = select_hosts(inventory, pattern)
    if limit:
        allowed = {h.name for h in select_hosts(inventory, limit)}
        hosts = [h for h in hosts if h.name in allowed]
        if not hosts:
            raise ConfigError(f"pattern {pattern!r} limited by {limit!r} matches no host")
    return hosts


def status(inventory: Inventory, pattern: str, settings: RunSettings, **kw: Any) -> RunReport:
    """`rmmctl status`: health at a glance, one probe round trip per host; samples kept in history."""
    from rmmctl.health import status_task

    return execute("status", inventory, pattern, status_task, settings, **kw)


def metrics(inventory: Inventory, pattern: str, settings: RunSettings, **kw: Any) -> RunReport:
    """`rmmctl metrics`: every fact section per host; samples kept in history."""
    from rmmctl.health import metrics_task

    return execute("metrics", inventory, pattern, metrics_task, settings, **kw)


def logs(inventory: Inventory, pattern: str, settings: RunSettings, *, since: float, level: str = "err",
         limit: int = 200, grep: str | None = None, source: str | None = None, **kw: Any) -> RunReport:
    """`rmmctl logs`: journal/syslog entries at `level` or worse since a time, per host."""
    from rmmctl.health import logs_task

    task = logs_task(since=since, level=level, limit=limit, grep=grep, source=source)
    return execute("logs", inventory, pattern, task, settings, **kw)


def diagnose(inventory: Inventory, pattern: str, settings: RunSettings, *, checks: Sequence[str] = (),
             fail_on: str = "warning", **kw: Any) -> RunReport:
    """`rmmctl diagnose`: the chosen checks (ids or groups; none = all), one probe round trip per host.

    Only the sections those checks need are probed; each answering host's findings update the
    findings history (new, ongoing, resolved) in the store, one transaction per host.
    """
    from rmmctl.diagnose import check_fail_on, diagnose_task, exit_code, history_update, plan

    check_fail_on(fail_on)
    chosen = plan(checks)
    return execute("diagnose", inventory, pattern, diagnose_task(chosen), settings, findings_of=history_update,
                   exit_code=lambda report: exit_code(report, fail_on), **kw)
