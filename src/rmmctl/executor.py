"""Runs one job on many hosts: a bounded thread pool, a deadline per host, never raising for one host.

Results come back in inventory order; `on_result` sees each host as it finishes (on the calling
thread), which is how the run processors (rmmctl.processors) stream and record as the run goes.
Ctrl-C, SIGTERM (errors.Terminated) or a failed stdout (errors.OutputStopped) stops new work, closes
every open transport (which stops the remote commands and unblocks the workers), marks the hosts that
had not finished `interrupted` and returns what finished. Any other exception out of `on_result` does
the same, then propagates.

With a `Batching` (a play's `serial`), the hosts run batch after batch inside the one run: a batch
starts when the one before it ended, at most `forks` at once within it; after each batch the batching
may stop the run, and the hosts of the batches that did not run end `skipped` with its reason.

With `keep=True` (rmmctl watch) the executor keeps each host's transport open after its job instead of
closing it: the next `run()` on that host reuses it (a round on open connections costs one exec per host,
no handshake). A host whose job raised has its transport closed and dropped, so its next run connects
anew. `close()` ends every kept transport (in parallel); the executor stays usable after it.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import traceback
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Protocol, Sequence

from rmmctl.errors import AuthError, CommandTimeout, ConfigError, ConnectError, HostKeyError, RmmctlError
from rmmctl.inventory.model import Host
from rmmctl.models import AuditEntry, CommandResult, Finding, HostError, HostResult, Status
from rmmctl.secrets import redact_obj
from rmmctl.transports import Transport, TransportOptions, open_transport

log = logging.getLogger(__name__)

DEFAULT_FORKS = 50
ABORT_GRACE_S = 3.0  # after Ctrl-C, how long the hosts' workers get to end (their transports closed)


@dataclass(slots=True)
class JobOutcome:
    """What a job returns for a host: its status and JSON-safe data."""

    status: Status
    data: dict[str, Any] = field(default_factory=dict)
    samples: dict[str, float] = field(default_factory=dict)  # metrics to keep in history
    findings: tuple[Finding, ...] = ()  # typed findings (data carries them as JSON for the output)
    checks: tuple[str, ...] | None = None  # checks that judged the host: set to feed the findings history


class HostContext:
    """What a job gets: the host, an audited transport, and the host's deadline."""

    def __init__(self, host: Host, transport: Transport, deadline: float | None, redact: Callable[[str], str],
                 stop: threading.Event | None = None) -> None:
        self.host = host
        self.transport = transport
        self.deadline = deadline
        self.audit: list[AuditEntry] = []
        self.redact = redact
        self.on_event: Callable[[dict[str, Any]], None] | None = None  # the sink of emit(); None: dropped
        self._stop = stop  # set when the run is stopping (Ctrl-C): long waits (a reboot) end early

    def emit(self, event: dict[str, Any]) -> None:
        """Report progress inside a job (a play's `{"type": "task", ...}` after each task) to the sink, if set."""
        if self.on_event is not None:
            self.on_event(event)

    @property
    def stopping(self) -> bool:
        """True once the run is being stopped: a module waiting on the host gives up."""
        return self._stop is not None and self._stop.is_set()

    def reconnect(self) -> None:
        """Close the host's transport and open it again (after a reboot), audited as "connect";
        ConnectError when the run is stopping, else whatever connect() raises."""
        at, started = time.time(), time.monotonic()
        code: int | None = None
        try:
            if self.stopping:
                raise ConnectError(f"{self.host.name}: interrupted; not reconnecting")
            self.transport.close()
            self.transport.connect()
            code = 0
        finally:
            self.audit.append(AuditEntry(self.host.name, "connect", "reconnect", code, time.monotonic() - started, at))

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

    def put(self, local: Path, remote: str, *, mode: int = 0o644) -> None:
        """Copy a local file to the host through the transport (SFTP over SSH), audited as "put"
        (code 0, or None when it failed); within the host's deadline."""
        self._transfer("put", f"put {local} -> {remote}", lambda: self.transport.put(local, remote, mode=mode))

    def get(self, remote: str, local: Path) -> None:
        """Copy a file from the host through the transport, audited as "get" like put()."""
        self._transfer("get", f"get {remote} -> {local}", lambda: self.transport.get(remote, local))

    def _transfer(self, kind: str, detail: str, action: Callable[[], None]) -> None:
        at, started = time.time(), time.monotonic()
        code: int | None = None
        try:
            action()
            code = 0
        finally:
            self.audit.append(AuditEntry(self.host.name, kind, self.redact(detail), code, time.monotonic() - started, at))


    def expect_many(self) -> None:
        """Tell the transport that several commands follow (a play): SSH then keeps warm channels ready
        (transports/ssh/connection.py), so each later command costs one round trip. A no-op elsewhere."""
        hint = getattr(self.transport, "expect_many", None)
        if hint is not None:
            hint()


Job = Callable[[HostContext], JobOutcome]
"""The work done on one host (ping, a command, a probe): a function of its context. Playbooks have tasks."""

_ERROR_STATUS: tuple[tuple[type[Exception], Status], ...] = (
    (HostKeyError, Status.AUTH_FAILED),
    (AuthError, Status.AUTH_FAILED),
    (CommandTimeout, Status.TIMEOUT),
    (ConnectError, Status.UNREACHABLE),
)


def classify(exc: BaseException) -> tuple[Status, HostError]:
    """Map an exception from a host's job to its status and one-line error."""
    for kind, status in _ERROR_STATUS:
        if isinstance(exc, kind):
            return status, HostError(exc.kind, str(exc))  # type: ignore[attr-defined]
    if isinstance(exc, ConfigError):
        return Status.ERROR, HostError("config", str(exc))
    if isinstance(exc, RmmctlError):
        return Status.ERROR, HostError("error", str(exc))
    first = str(exc).splitlines()[0] if str(exc) else ""
    return Status.ERROR, HostError("internal", f"{type(exc).__name__}: {first} (run with --debug for the traceback)")


class Batching(Protocol):
    """How a run is cut into batches that run one after another (rmmctl.playbooks.batches.Batches)."""

    def split(self, hosts: Sequence[Host]) -> list[list[Host]]:
        """The hosts in batches, in the order they run."""
        ...

    def stop_reason(self, number: int, results: Sequence[HostResult]) -> str | None:
        """Why no batch after batch `number` (1-based; `results` are its hosts) may run, or None."""
        ...


class Executor:
    """Fan a job out over hosts with at most `forks` at once (batch by batch when given a Batching)."""

    def __init__(
        self,
        options: TransportOptions,
        *,
        forks: int = DEFAULT_FORKS,
        host_timeout: float | None = None,
        opener: Callable[..., Transport] = open_transport,
        on_event: Callable[[dict[str, Any]], None] | None = None,
        keep: bool = False,
    ) -> None:
        self.options = options
        self.on_event = on_event  # given to every HostContext: events from jobs, ON WORKER THREADS
        self.forks = max(1, forks)
        self.host_timeout = host_timeout
        self._open = opener
        self._live: dict[str, Transport] = {}
        self.keep = keep  # keep transports open between runs (see the module docstring)
        self._kept: dict[str, Transport] = {}  # host name -> its open transport, between runs (keep=True)
        self._closers: list[threading.Thread] = []  # closes started by stop()
        self._pool: ThreadPoolExecutor | None = None  # keep=True: the workers, kept across runs until close()
        self.opened = 0  # transports built (a fresh connection each); with keep, later runs reuse them
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.interrupted = False
        self.interrupted_by = ""  # "SIGINT", "SIGTERM", "EPIPE", "EIO" (see errors.exit_code_for)
        self.batches = 0  # batches of the last run (0: it was not batched)
        self.stopped_after_batch: int | None = None  # the batch after which the batching stopped the run
        self.stop_reason = ""  # the batching's reason (also when it fired on the last batch: nothing to stop)

    def run(
        self, hosts: Sequence[Host], job: Job, on_result: Callable[[HostResult], None] | None = None,
        on_start: Callable[[Host], None] | None = None, *, batching: Batching | None = None,
    ) -> list[HostResult]:
        """Run `job` on every host; return one HostResult per host, in the order given.

        `on_result` is called on this thread as each host finishes (a host of a batch that did not run
        too); `on_start` on the worker thread as each host starts (keep it cheap and thread-safe).
        """
        results: dict[str, HostResult] = {}
        groups = batching.split(hosts) if batching else [list(hosts)]
        self.batches, self.stopped_after_batch, self.stop_reason = (len(groups) if batching else 0), None, ""
        width = max((len(g) for g in groups), default=1)
        pool = self._pool_for(width)
        futures: dict[Future[HostResult], Host] = {}
        pending: set[Future[HostResult]] = set()
        finished: queue.SimpleQueue[Future[HostResult]] = queue.SimpleQueue()  # each future once, as it ends
        try:
            for number, group in enumerate(groups, 1):
                batch = {pool.submit(self._one, h, job, on_start): h for h in group}
                futures.update(batch)
                pending = set(batch)
                for fut in batch:
                    fut.add_done_callback(finished.put)
                while pending:
                    try:  # a timeout, so Ctrl-C (a signal handled on this thread) is seen at once
                        fut = finished.get(timeout=0.5)
                    except queue.Empty:
                        continue
                    pending.discard(fut)
                    self._collect(fut, futures[fut], results, on_result)
                reason = batching.stop_reason(number, [results[h.name] for h in group]) if batching else None
                if reason:
                    self.stop_reason = reason
                    if number < len(groups):
                        self.stopped_after_batch = number
                        self._not_run([h for g in groups[number:] for h in g], reason, results, on_result)
                        break
        except KeyboardInterrupt as exc:  # Ctrl-C, SIGTERM, stdout gone: keep what finished
            self.interrupted = True
            self.interrupted_by = getattr(exc, "reason", "SIGINT")
            self._abort(pending, futures, results, on_result, hosts)
        except BaseException:  # a processor's bug: stop the hosts (not wait for them), then say it
            self.interrupted = True
            self._abort(pending, futures, results, None, hosts)
            raise
        finally:
            if pool is not self._pool:
                pool.shutdown(wait=not self.interrupted, cancel_futures=True)
            elif self.interrupted:  # a kept pool stays; what was queued is cancelled (_abort did) and dropped
                self._pool = None
                pool.shutdown(wait=False, cancel_futures=True)
        return [results[h.name] for h in hosts]

    def _pool_for(self, width: int) -> ThreadPoolExecutor:
        """The run's worker threads: a pool of its own, or with keep=True one pool kept across runs (a watch
        round then starts no thread: its workers wait for the next round)."""
        if not self.keep:
            return ThreadPoolExecutor(max_workers=min(self.forks, max(1, width)), thread_name_prefix="rmmctl")
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self.forks, thread_name_prefix="rmmctl")
        return self._pool

    @staticmethod
    def _not_run(hosts: Sequence[Host], reason: str, results: dict[str, HostResult],
                 on_result: Callable[[HostResult], None] | None) -> None:
        """The hosts of the batches a stop left out: `skipped`, with the reason; nothing ran on them."""
        for host in hosts:
            results[host.name] = HostResult(host.name, host.address, Status.SKIPPED,
                                            HostError("not_run", f"not run: {reason}"))
            if on_result:
                on_result(results[host.name])

    def _collect(self, fut: Future[HostResult], host: Host, results: dict[str, HostResult],
                 on_result: Callable[[HostResult], None] | None) -> None:
        result = fut.result()
        results[host.name] = result
        if on_result:
            on_result(result)

    def _abort(self, pending: set[Future[HostResult]], futures: dict[Future[HostResult], Host],
               results: dict[str, HostResult], on_result: Callable[[HostResult], None] | None,
               hosts: Sequence[Host] = ()) -> None:
        """Stop new work, close live transports, keep what finished, mark the rest interrupted (the hosts
        of batches not started yet too).

        `on_result` still sees every host, so the history records them all; a second stop raised from it
        (stdout closing as we stop) does not cut that short.
        """
        self._stop.set()
        for fut in pending:
            fut.cancel()
        with self._lock:
            live = list(self._live.values())
        closers = [threading.Thread(target=_close_quietly, args=(t,), daemon=True, name="rmmctl-stop") for t in live]
        for closer in closers:  # in parallel: each stops its host's running commands (a round trip or two)
            closer.start()
        for closer in closers:
            closer.join(ABORT_GRACE_S)
        wait([f for f in pending if not f.cancelled()], timeout=ABORT_GRACE_S)  # their results keep the audit
        submitted = {h.name: f for f, h in futures.items()}
        for host in [*futures.values(), *(h for h in hosts if h.name not in submitted)]:
            if host.name in results:
                continue
            fut = submitted.get(host.name)
            if fut is not None and fut.done() and not fut.cancelled():
                result = fut.result()
            else:
                why = "before this host finished" if fut else "before this host's batch started"
                result = HostResult(host.name, host.address, Status.INTERRUPTED,
                                    HostError("interrupted", f"interrupted {why}"))
            results[host.name] = result
            if on_result:
                try:
                    on_result(result)
                except KeyboardInterrupt:  # already stopping
                    pass

    def _one(self, host: Host, job: Job, on_start: Callable[[Host], None] | None = None) -> HostResult:
        """The whole life of one host: open, job, close. Never raises."""
        if self._stop.is_set():
            return HostResult(host.name, host.address, Status.INTERRUPTED, HostError("interrupted", "not started"))
        started = time.monotonic()
        deadline = started + self.host_timeout if self.host_timeout else None
        ctx: HostContext | None = None
        reusable = False  # the job ended normally: with keep, its transport stays open for the next run
        findings: tuple[Finding, ...] = ()
        checks: tuple[str, ...] | None = None
        try:
            if on_start:
                on_start(host)
            early = _before_connect(job, host)
            if early is not None:  # the job decided without the host (a play outside its maintenance window)
                return HostResult(host.name, host.address, early.status, data=early.data,
                                  duration_s=time.monotonic() - started)
            transport = self._transport_for(host, deadline)
            with self._lock:
                self._live[host.name] = transport
            ctx = HostContext(host, transport, deadline, self.options.redactor, self._stop)
            ctx.on_event = self.on_event
            transport.connect()
            outcome = job(ctx)
            status, data, samples, error = outcome.status, outcome.data, outcome.samples, None
            findings, checks = outcome.findings, outcome.checks
            reusable = True
        except Exception as exc:  # noqa: BLE001 - one host never stops the run
            reusable = False
            status, error = classify(exc)
            data, samples = {}, {}
            if self._stop.is_set():
                status, error = Status.INTERRUPTED, HostError("interrupted", "interrupted while running")
            elif error.kind == "internal":
                log.debug("%s: job failed:\n%s", host.name, traceback.format_exc())
        finally:
            with self._lock:
                live = self._live.pop(host.name, None)
                if live is not None and self.keep and reusable and not self._stop.is_set():
                    self._kept[host.name], live = live, None
            if live is not None:
                _close_quietly(live)
        return HostResult(
            name=host.name,
            address=host.address,
            status=status,
            error=HostError(error.kind, self.options.redactor(error.message)) if error else None,
            data=redact_obj(data, self.options.redactor),  # secrets resolved during the job are known now
            duration_s=time.monotonic() - started,
            audit=tuple(ctx.audit) if ctx else (),
            samples=samples,
            findings=tuple(_redact_finding(f, self.options.redactor) for f in findings),
            checks=checks,
        )


    def _transport_for(self, host: Host, deadline: float | None) -> Transport:
        """The host's kept transport (keep=True), re-armed with this run's deadline, else a new one."""
        with self._lock:
            kept = self._kept.pop(host.name, None)
        if kept is None:
            self.opened += 1
            transport = self._open(host, self.options, deadline=deadline)
            if self.keep:
                hint = getattr(transport, "expect_rounds", None)  # SSH: no warm channels left idle between runs
                if hint is not None:
                    hint()
            return transport
        rearm = getattr(kept, "rearm", None)
        if rearm is not None:
            rearm(deadline)
        return kept

    @property
    def kept(self) -> int:
        """How many transports are open between runs (keep=True)."""
        with self._lock:
            return len(self._kept)

    def stop(self) -> None:
        """Stop the executor from another thread (rmmctl watch's `q` during a round): no host starts any
        more, the hosts running now have their transports closed (their commands stopped on the host) and
        end `interrupted`; the run returns at once. No later run starts a host."""
        self._stop.set()
        with self._lock:
            live = list(self._live.values())
        for transport in live:
            closer = threading.Thread(target=_close_quietly, args=(transport,), daemon=True, name="rmmctl-stop")
            closer.start()
            self._closers.append(closer)

    def close(self) -> None:
        """Close every kept transport, in parallel (each may take a round trip), and wait for the closes
        stop() started; idempotent."""
        with self._lock:
            kept, self._kept = list(self._kept.values()), {}
        closers = [threading.Thread(target=_close_quietly, args=(t,), daemon=True, name="rmmctl-close") for t in kept]
        for closer in closers:
            closer.start()
        for closer in [*closers, *self._closers]:
            closer.join(ABORT_GRACE_S + 15)  # a WinRM delete waits out a poll at worst
        self._closers = []
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)  # idle workers: they end at once


def _before_connect(job: Job, host: Host) -> JobOutcome | None:
    """A job may carry `before_connect(host) -> JobOutcome | None`: an outcome there ends the host
    without opening a transport (None: go on as usual)."""
    check = getattr(job, "before_connect", None)
    return check(host) if check is not None else None


def _redact_finding(finding: Finding, redact: Callable[[str], str]) -> Finding:
    """A finding with the secrets known now masked (like `data`)."""
    return replace(finding, title=redact(finding.title), evidence=tuple(redact(e) for e in finding.evidence),
                   remediation=redact(finding.remediation))


def _close_quietly(transport: Transport) -> None:
    try:
        transport.close()
    except Exception:  # noqa: BLE001 - closing is best effort
        log.debug("closing %s failed", transport.name, exc_info=True)
