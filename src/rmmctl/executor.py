"""Runs one task on many hosts: a bounded thread pool, a deadline per host, never raising for one host.

Results come back in inventory order; `on_result` sees each host as it finishes (on the calling
thread), which is how ndjson streams and the store writes as the run goes. Ctrl-C stops new work,
closes every open transport (which unblocks the workers) and returns what finished.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol, Sequence

from rmmctl.errors import AuthError, CommandTimeout, ConfigError, ConnectError, HostKeyError, RmmctlError
from rmmctl.inventory.model import Host
from rmmctl.models import AuditEntry, CommandResult, HostError, HostResult, Status
from rmmctl.secrets import redact_obj
from rmmctl.transports import Transport, TransportOptions, open_transport

log = logging.getLogger(__name__)

DEFAULT_FORKS = 50


class Observer(Protocol):
    """Progress hooks (the CLI's progress bar implements these; rich stays out of this module)."""

    def run_started(self, total: int) -> None: ...

    def host_started(self, host: Host) -> None: ...

    def host_finished(self, result: HostResult) -> None: ...


@dataclass(slots=True)
class TaskOutcome:
    """What a task returns for a host: its status and JSON-safe data."""

    status: Status
    data: dict[str, Any] = field(default_factory=dict)
    samples: dict[str, float] = field(default_factory=dict)  # metrics to keep in history


class HostContext:
    """What a task gets: the host, an audited transport, and the host's deadline."""

    def __init__(self, host: Host, transport: Transport, deadline: float | None, redact: Callable[[str], str]) -> None:
        self.host = host
        self.transport = transport
        self.deadline = deadline
        self.audit: list[AuditEntry] = []
        self.redact = redact

    def run(self, command: str, *, audit_as: str | None = None, **kwargs: Any) -> CommandResult:
        """Run a command through the transport and record it in the audit trail (as `audit_as` when given:
        a short name for a long generated command such as the probe script)."""
        at, started = time.time(), time.monotonic()
        code: int | None = None
        try:
            result = self.transport.run(command, **kwargs)
            code = result.exit_code
            return result
        finally:
            detail = ("sudo " if kwargs.get("become") else "") + (audit_as or command)
            self.audit.append(
                AuditEntry(self.host.name, "exec", self.redact(detail), code, time.monotonic() - started, at)
            )


Task = Callable[[HostContext], TaskOutcome]

_ERROR_STATUS: tuple[tuple[type[Exception], Status], ...] = (
    (HostKeyError, Status.AUTH_FAILED),
    (AuthError, Status.AUTH_FAILED),
    (CommandTimeout, Status.TIMEOUT),
    (ConnectError, Status.UNREACHABLE),
)


def classify(exc: BaseException) -> tuple[Status, HostError]:
    """Map an exception from a host's task to its status and one-line error."""
    for kind, status in _ERROR_STATUS:
        if isinstance(exc, kind):
            return status, HostError(exc.kind, str(exc))  # type: ignore[attr-defined]
    if isinstance(exc, ConfigError):
        return Status.ERROR, HostError("config", str(exc))
    if isinstance(exc, RmmctlError):
        return Status.ERROR, HostError("error", str(exc))
    first = str(exc).splitlines()[0] if str(exc) else ""
    return Status.ERROR, HostError("internal", f"{type(exc).__name__}: {first} (run with --debug for the traceback)")


class Executor:
    """Fan a task out over hosts with at most `forks` at once."""

    def __init__(
        self,
        options: TransportOptions,
        *,
        forks: int = DEFAULT_FORKS,
        host_timeout: float | None = None,
        observer: Observer | None = None,
        opener: Callable[..., Transport] = open_transport,
    ) -> None:
        self.options = options
        self.forks = max(1, forks)
        self.host_timeout = host_timeout
        self.observer = observer
        self._open = opener
        self._live: dict[str, Transport] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.interrupted = False

    def run(
        self, hosts: Sequence[Host], task: Task, on_result: Callable[[HostResult], None] | None = None
    ) -> list[HostResult]:
        """Run `task` on every host; return one HostResult per host, in the order given."""
        results: dict[str, HostResult] = {}
        if self.observer:
            self.observer.run_started(len(hosts))
        pool = ThreadPoolExecutor(max_workers=min(self.forks, max(1, len(hosts))), thread_name_prefix="rmmctl")
        futures: dict[Future[HostResult], Host] = {pool.submit(self._one, h, task): h for h in hosts}
        pending = set(futures)
        try:
            while pending:
                done, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
                for fut in done:
                    self._collect(fut, futures[fut], results, on_result)
        except KeyboardInterrupt:
            self.interrupted = True
            self._abort(pool, pending, futures, results, on_result)
        finally:
            pool.shutdown(wait=not self.interrupted, cancel_futures=True)
        return [results[h.name] for h in hosts]

    def _collect(self, fut: Future[HostResult], host: Host, results: dict[str, HostResult],
                 on_result: Callable[[HostResult], None] | None) -> None:
        result = fut.result()
        results[host.name] = result
        if self.observer:
            self.observer.host_finished(result)
        if on_result:
            on_result(result)

    def _abort(self, pool: ThreadPoolExecutor, pending: set[Future[HostResult]],
               futures: dict[Future[HostResult], Host], results: dict[str, HostResult],
               on_result: Callable[[HostResult], None] | None) -> None:
        """Ctrl-C: stop new work, close live transports, keep what finished, mark the rest interrupted."""
        self._stop.set()
        for fut in pending:
            fut.cancel()
        with self._lock:
            live = list(self._live.values())
        for transport in live:
            _close_quietly(transport)
        for fut, host in futures.items():
            if fut.done() and not fut.cancelled() and host.name not in results:
                self._collect(fut, host, results, on_result)
        for host in futures.values():
            if host.name not in results:
                result = HostResult(host.name, host.address, Status.INTERRUPTED,
                                    HostError("interrupted", "interrupted before this host finished"))
                results[host.name] = result
                if on_result:
                    on_result(result)

    def _one(self, host: Host, task: Task) -> HostResult:
        """The whole life of one host: open, task, close. Never raises."""
        if self._stop.is_set():
            return HostResult(host.name, host.address, Status.INTERRUPTED, HostError("interrupted", "not started"))
        started = time.monotonic()
        deadline = started + self.host_timeout if self.host_timeout else None
        if self.observer:
            self.observer.host_started(host)
        ctx: HostContext | None = None
        try:
            transport = self._open(host, self.options, deadline=deadline)
            with self._lock:
                self._live[host.name] = transport
            ctx = HostContext(host, transport, deadline, self.options.redactor)
            transport.connect()
            outcome = task(ctx)
            status, data, samples, error = outcome.status, outcome.data, outcome.samples, None
        except Exception as exc:  # noqa: BLE001 - one host never stops the run
            status, error = classify(exc)
            data, samples = {}, {}
            if self._stop.is_set():
                status, error = Status.INTERRUPTED, HostError("interrupted", "interrupted while running")
            elif error.kind == "internal":
                log.debug("%s: task failed:\n%s", host.name, traceback.format_exc())
        finally:
            with self._lock:
                live = self._live.pop(host.name, None)
            if live is not None:
                _close_quietly(live)
        return HostResult(
            name=host.name,
            address=host.address,
            status=status,
            error=HostError(error.kind, self.options.redactor(error.message)) if error else None,
            data=redact_obj(data, self.options.redactor),  # secrets resolved during the task are known now
            duration_s=time.monotonic() - started,
            audit=tuple(ctx.audit) if ctx else (),
            samples=samples,
        )


def _close_quietly(transport: Transport) -> None:
    try:
        transport.close()
    except Exception:  # noqa: BLE001 - closing is best effort
        log.debug("closing %s failed", transport.name, exc_info=True)
