"""The library façade: everything the CLI does goes through these functions (and so can a script)."""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from rmmctl.errors import ConfigError, check_fail_on
from rmmctl.executor import DEFAULT_FORKS, Batching, Executor, HostContext, Job, JobOutcome
from rmmctl.inventory.model import Host, Inventory
from rmmctl.inventory.select import select_hosts
from rmmctl.models import RunReport, Status
from rmmctl.processors import Processor, Processors, RunInfo
from rmmctl.secrets import Redactor, learn_secrets
from rmmctl.transports import DEFAULT_MAX_OUTPUT, Transport, TransportOptions

log = logging.getLogger(__name__)

PING_MARK = "rmmctl-ping"


DEFAULT_CONNECT_TIMEOUT = 10.0


@dataclass(slots=True)
class RunSettings:
    """How a run behaves, whatever the command.

    A setting that has an inventory twin (`connect_timeout`, `host_key_policy`) is None unless the
    caller sets it (a command-line flag or its environment variable); set, it beats the inventory's
    value at every level (`pin`). Unset, the host's merged var applies, else the built-in default.
    """

    forks: int = DEFAULT_FORKS
    host_timeout: float | None = None  # hard deadline per host, connect included
    command_timeout: float = 60.0
    connect_timeout: float | None = None  # None: the host's connect_timeout var, else 10 s
    host_key_policy: str | None = None  # None: the host's host_key_policy var, else strict
    user_known_hosts: Path | None = None
    ssh_config: Path | None = None
    max_output: int = DEFAULT_MAX_OUTPUT  # bytes kept per stream of each command (--max-output)
    limit: str | None = None  # a second pattern the hosts must also match (-l/--limit)
    argv: tuple[str, ...] = ()
    redactor: Redactor = field(default_factory=Redactor)

    def overrides(self) -> dict[str, Any]:
        """The host vars this run's settings replace: flag (or env) > inventory > built-in default."""
        pinned = {"connect_timeout": self.connect_timeout, "host_key_policy": self.host_key_policy}
        return {k: v for k, v in pinned.items() if v is not None}

    def pin(self, host: Host) -> Host:
        """`host` with the run's explicit settings in place of its inventory vars."""
        overrides = self.overrides()
        if not overrides or all(host.vars.get(k) == v for k, v in overrides.items()):
            return host
        return dataclasses.replace(host, vars={**host.vars, **overrides})

    def transport_options(self, inventory: Inventory) -> TransportOptions:
        return TransportOptions(
            connect_timeout=self.connect_timeout or DEFAULT_CONNECT_TIMEOUT,
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
    job: Job,
    settings: RunSettings,
    processors: Iterable[Processor] = (),
    *,
    fail_on: str = "warning",
    opener: Callable[..., Transport] | None = None,
    playbook: str | None = None,
    batching: Batching | None = None,
) -> RunReport:
    """Select hosts, run `job` on each, and return the report; `processors` observe the run as it goes
    (history, ndjson, progress: rmmctl.processors).

    `fail_on` is the run's exit-code policy (errors.exit_code_for), which the recorder writes to history;
    `playbook` (a play run: the playbook's absolute path) goes to the history with the run. Job events
    (`HostContext.emit`) reach the processors' `task_finished` on the worker threads.
    Ctrl-C and SIGTERM end the run early: the report is still built and every processor still sees
    run_finished, so what finished is printed and recorded. `batching` runs the hosts batch after batch
    (a play's `serial`), still as one run.
    """
    check_fail_on(fail_on)
    hosts = resolve_hosts(inventory, pattern, settings.limit)  # ConfigError (exit 3) before anything runs
    hosts = [settings.pin(h) for h in hosts]  # a flag beats the inventory
    executor = make_executor(inventory, settings, opener=opener)
    return execute_on(command, hosts, job, settings, executor, processors, fail_on=fail_on, playbook=playbook,
                      batching=batching)


def make_executor(inventory: Inventory, settings: RunSettings, *, opener: Callable[..., Transport] | None = None,
                  keep: bool = False) -> Executor:
    """The executor of a run with these settings; `keep=True` keeps the transports open between its runs
    (rmmctl watch: one executor, reused round after round, closed at the end with `executor.close()`)."""
    return Executor(
        settings.transport_options(inventory),
        forks=settings.forks,
        host_timeout=settings.host_timeout,
        keep=keep,
        **({"opener": opener} if opener else {}),
    )


def execute_on(
    command: str,
    hosts: Sequence[Host],
    job: Job,
    settings: RunSettings,
    executor: Executor,
    processors: Iterable[Processor] = (),
    *,
    fail_on: str = "warning",
    playbook: str | None = None,
    batching: Batching | None = None,
) -> RunReport:
    """One run of `job` on hosts already selected and pinned, on `executor` (execute()'s own, or one kept
    across runs); the processors see it as one run, and the report comes back as from execute()."""
    started_at, started = time.time(), time.monotonic()
    learn_secrets(hosts, settings.redactor)  # before the first write: the history never holds these unmasked
    run = RunInfo(command, settings.argv, tuple(hosts), started_at, fail_on=fail_on, playbook=playbook)
    fan = Processors(processors)
    fan.run_started(run)
    executor.on_event = lambda event: _task_finished(fan, run, event)
    results = executor.run(hosts, job, on_result=lambda result: fan.host_finished(run, result),
                           on_start=lambda host: fan.host_started(run, host), batching=batching)
    report = RunReport(
        command=command,
        started_at=started_at,
        duration_s=time.monotonic() - started,
        hosts=tuple(results),
        interrupted=executor.interrupted,
        argv=settings.argv,
        interrupted_by=executor.interrupted_by,
        batches=executor.batches,
        stopped_after_batch=executor.stopped_after_batch,
        stop_reason=executor.stop_reason,
    )
    fan.run_finished(run, report)
    if run.store_error or run.alert_error:
        return replace(report, store_error=run.store_error, alert_error=run.alert_error)
    return report


def _task_finished(fan: Processors, run: RunInfo, event: dict[str, Any]) -> None:
    """A job's event (a play's task) to the processors, on the host's worker thread. A processor's failure
    never fails the host: it is logged (the ndjson streamer stops the run from the main thread)."""
    kind = event.get("type")
    if kind not in ("task", "task_start"):
        return
    try:
        if kind == "task_start":  # the live view's "running now"; not an output line
            fan.task_started(run, event)
        else:
            fan.task_finished(run, event)
    except Exception:  # noqa: BLE001 - display and streaming are best effort here
        log.debug("a processor failed on a task event", exc_info=True)


def ping_job(ctx: HostContext) -> JobOutcome:
    """Connect (host key and auth checked on the way) and echo a marker back: reachability only."""
    started = time.monotonic()
    if ctx.host.connection == "winrm":  # PowerShell: the marker, DOMAIN\user, the computer name
        result = ctx.run(f"'{PING_MARK}'; [Environment]::UserDomainName + '\\' + [Environment]::UserName; "
                         "[Environment]::MachineName")
    else:
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
    return JobOutcome(Status.OK if ok else Status.FAILED, data)


def command_job(command: str, *, become: bool = False, stdin: str | None = None,
                argv: Sequence[str] | None = None, cmd: bool = False) -> Job:
    """A job that runs one shell command and reports its output; a non-zero exit is `failed`. Given
    `argv` (the words `command` was sh-quoted from), a winrm host gets them quoted for PowerShell.
    cmd: `command` is a cmd.exe command line (winrm hosts only; any other host is an error, one line)."""

    def job(ctx: HostContext) -> JobOutcome:
        line = command
        if cmd and ctx.host.connection != "winrm":
            raise ConfigError(f"{ctx.host.name}: --cmd runs cmd.exe, which only winrm hosts have "
                              f"(this host's connection is {ctx.host.connection}); run it without --cmd")
        if argv and ctx.host.connection == "winrm":
            from rmmctl.transports.winrm import ps_command

            line = ps_command(argv)
        result = ctx.run(line, become=become, stdin=stdin, **({"interpreter": "cmd"} if cmd else {}))
        data = {
            "command": ctx.redact(line),
            "exit_code": result.exit_code,
            "stdout": result.stdout,
            "stderr": result.stderr,
            "stdout_truncated_bytes": result.stdout_truncated_bytes,
            "stderr_truncated_bytes": result.stderr_truncated_bytes,
            "duration_s": round(result.duration_s, 3),
        }
        return JobOutcome(Status.OK if result.ok else Status.FAILED, data)

    return job


def ping(inventory: Inventory, pattern: str, settings: RunSettings, **kw: object) -> RunReport:
    """`rmmctl ping`: reachability, host key and authentication for every selected host."""
    return execute("ping", inventory, pattern, ping_job, settings, **kw)  # type: ignore[arg-type]


def run_command(
    inventory: Inventory, pattern: str, command: str, settings: RunSettings, *, become: bool = False,
    stdin: str | None = None, argv: Sequence[str] | None = None, cmd: bool = False, **kw: object,
) -> RunReport:
    """`rmmctl run`: one ad-hoc shell command on every selected host (`argv`, `cmd`: see command_job)."""
    return execute("run", inventory, pattern, command_job(command, become=become, stdin=stdin, argv=argv, cmd=cmd),
                   settings, **kw)  # type: ignore[arg-type]


def play(inventory: Inventory, pattern: str, settings: RunSettings, *, playbook: Any, extra_vars: dict[str, Any]
         | None = None, check: bool = False, diff: bool = False, tags: Sequence[str] = (),
         skip_tags: Sequence[str] = (), ignore_window: bool = False, now: Callable[[], Any] | None = None,
         start_at_task: str | None = None, **kw: Any) -> RunReport:
    """`rmmctl play`: one play of a loaded playbook (rmmctl.playbooks.Playbook) on its `hosts` pattern
    narrowed by `pattern`; one executor Job per play, the tasks in order over one connection per host.
    Hosts outside their maintenance window are skipped unless `ignore_window`; `now` (an aware datetime
    factory) replaces the clock the windows are read with (tests)."""
    from rmmctl.playbooks import play_job
    from rmmctl.playbooks.batches import Batches

    (only,) = playbook.plays  # one play per file in this version (the loader says so)
    if pattern not in ("", "all") or settings.limit:  # narrowed: the play's hosts that PATTERN (and -l) match
        chosen = resolve_hosts(inventory, pattern or "all", settings.limit)
        wanted = {h.name for h in chosen}
        names = [h.name for h in select_hosts(inventory, only.hosts) if h.name in wanted]
        if not names:
            raise ConfigError(f"the play's hosts {only.hosts!r} narrowed by {pattern!r}"
                              f"{f' and -l {settings.limit!r}' if settings.limit else ''} match no host")
        settings = replace(settings, limit=":".join(names))
    job = play_job(playbook, only, extra_vars=extra_vars, check=check, diff=diff, tags=tags, skip_tags=skip_tags,
                   ignore_window=ignore_window, now=now, start_at_task=start_at_task)
    batches = Batches(only.serial, only.max_fail_percentage)  # serial: batch after batch, in this one run
    return execute("play", inventory, only.hosts, job, settings, batching=batches,
                   playbook=str(playbook.path.resolve()), **kw)


def fix(inventory: Inventory, pattern: str, settings: RunSettings, *, checks: Sequence[str] = (),
        fail_on: str = "warning", check: bool = False, confirm: Callable[[Any], bool] | None = None,
        store: Any = None, processors: Iterable[Processor] = ()) -> Any:
    """`rmmctl diagnose --fix` (rmmctl.fix.run_fix): diagnose, each named playbook in check mode on its
    hosts, `confirm(plan)`, the playbooks, a re-diagnosis of those hosts; one history run in `store`.
    `processors` (progress) observe every phase; the history is written by run_fix, not by a processor."""
    from rmmctl.fix import run_fix

    chosen = list(processors)

    def diagnosed(pattern: str, *, checks: Sequence[str], fail_on: str) -> RunReport:
        return diagnose(inventory, pattern, settings, checks=checks, fail_on=fail_on, processors=chosen)

    def played(pattern: str, book: Any, check: bool) -> RunReport:
        return play(inventory, pattern, settings, playbook=book, check=check, processors=chosen)

    return run_fix(inventory, diagnosed, played, pattern, checks=checks, fail_on=fail_on, check=check,
                   confirm=confirm, store=store, argv=settings.argv)


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
    from rmmctl.health import status_job

    return execute("status", inventory, pattern, status_job, settings, **kw)


def metrics(inventory: Inventory, pattern: str, settings: RunSettings, **kw: Any) -> RunReport:
    """`rmmctl metrics`: every fact section per host; samples kept in history."""
    from rmmctl.health import metrics_job

    return execute("metrics", inventory, pattern, metrics_job, settings, **kw)


def logs(inventory: Inventory, pattern: str, settings: RunSettings, *, since: float, level: str = "err",
         limit: int = 200, grep: str | None = None, source: str | None = None, **kw: Any) -> RunReport:
    """`rmmctl logs`: journal/syslog entries at `level` or worse since a time, per host."""
    from rmmctl.health import logs_job

    job = logs_job(since=since, level=level, limit=limit, grep=grep, source=source)
    return execute("logs", inventory, pattern, job, settings, **kw)


def diagnose(inventory: Inventory, pattern: str, settings: RunSettings, *, checks: Sequence[str] = (),
             fail_on: str = "warning", **kw: Any) -> RunReport:
    """`rmmctl diagnose`: the chosen checks (ids or groups; none = all), one probe round trip per host.

    Only the sections those checks need are probed; with a StoreRecorder among the processors, each
    answering host's findings update the findings history (new, ongoing, resolved), one transaction per host.
    """
    from rmmctl.diagnose import diagnose_job, plan

    check_fail_on(fail_on)
    chosen = plan(checks)
    return execute("diagnose", inventory, pattern, diagnose_job(chosen), settings, fail_on=fail_on, **kw)
