"""Run processors (Nornir's idea): objects that observe a run as it goes, instead of keyword hooks.

`api.execute(..., processors=[...])` calls, in list order (on the calling thread unless said):

    run_started(run)              once, after the hosts are selected and before any connects
    host_started(run, host)       as a host starts, ON A WORKER THREAD (cheap and thread-safe only)
    task_finished(run, event)     after each task of a play on a host, ON A WORKER THREAD: the event is
                                  {"type": "task", "host", "index", "name", "module", "status", "message",
                                  "changed", "duration_s"}; every task event of a host comes before its
                                  host_finished. A processor raising here is logged, never fails the host
    host_finished(run, result)    as each host finishes, interrupted ones included
    run_finished(run, report)     once, with the whole report (also after Ctrl-C or SIGTERM)

Every processor sees every event even if one before it raised; the first exception is raised again
afterwards (a `KeyboardInterrupt` from `host_finished`, such as errors.OutputStopped, stops the run
the way Ctrl-C does). Adding one is writing a class: subclass `Processor` and override what you need.
Built in here: `StoreRecorder` (history) and `NdjsonStreamer` (`-o ndjson`); the progress bar is
cli.output.ProgressDisplay (rich stays in cli/); alerts.AlertProcessor (`--alert`) sends after the
recorder. Playbook step results and locks plug in the same way.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Callable, Protocol, TextIO

from rmmctl.errors import OutputStopped, StoreError, exit_code_for
from rmmctl.inventory.model import Host
from rmmctl.models import HostResult, RunReport, Status
from rmmctl.render.data import write_ndjson_event, write_ndjson_host


@dataclass(slots=True)
class RunInfo:
    """What processors know about the run they observe. `store_error` is set by the recorder when the
    history could not be written (the report gets it too, and exit_code_for makes it exit 8)."""

    command: str
    argv: tuple[str, ...]
    hosts: tuple[Host, ...]
    started_at: float  # unix time
    fail_on: str = "warning"  # what exit_code_for is given for this run (diagnose --fail-on)
    store_error: str | None = None
    alert_error: str | None = None  # --alert: what could not be sent (kept for the next run); exit 10
    run_id: int | None = None  # the history's id of this run, once recorded
    playbook: str | None = None  # a `play` run: the playbook's absolute path (history, -l @last-failed)


class Processor(Protocol):
    """Observes a run. Every method is optional: the defaults do nothing."""

    def run_started(self, run: RunInfo) -> None:
        return None

    def host_started(self, run: RunInfo, host: Host) -> None:
        return None

    def task_started(self, run: RunInfo, event: Mapping[str, Any]) -> None:
        return None

    def task_finished(self, run: RunInfo, event: Mapping[str, Any]) -> None:
        return None

    def host_finished(self, run: RunInfo, result: HostResult) -> None:
        return None

    def run_finished(self, run: RunInfo, report: RunReport) -> None:
        return None


class Processors:
    """Fans each event out to every processor in order; the first exception is raised after all saw it."""

    def __init__(self, processors: Iterable[Processor] = ()) -> None:
        self.items: tuple[Processor, ...] = tuple(processors)

    def _each(self, call: Callable[[Processor], None]) -> None:
        first: BaseException | None = None
        for processor in self.items:
            try:
                call(processor)
            except BaseException as exc:  # noqa: BLE001 - the others still get the event; raised below
                first = first or exc
        if first is not None:
            raise first

    def run_started(self, run: RunInfo) -> None:
        self._each(lambda p: p.run_started(run))

    def host_started(self, run: RunInfo, host: Host) -> None:
        self._each(lambda p: p.host_started(run, host))

    def task_started(self, run: RunInfo, event: Mapping[str, Any]) -> None:
        self._each(lambda p: p.task_started(run, event) if hasattr(p, "task_started") else None)

    def task_finished(self, run: RunInfo, event: Mapping[str, Any]) -> None:
        self._each(lambda p: p.task_finished(run, event) if hasattr(p, "task_finished") else None)

    def host_finished(self, run: RunInfo, result: HostResult) -> None:
        self._each(lambda p: p.host_finished(run, result))

    def run_finished(self, run: RunInfo, report: RunReport) -> None:
        self._each(lambda p: p.run_finished(run, report))


class HistoryWriter(Protocol):
    """The history store methods the recorder uses (part of store.HistoryStore)."""

    def begin_run(self, command: str, argv: Sequence[str]) -> int: ...

    def add_host_result(self, run_id: int, result: HostResult, samples: Mapping[str, float] | None = None,
                        findings: tuple[Sequence[str], Sequence[Mapping[str, Any]]] | None = None,
                        tasks: Sequence[Mapping[str, Any]] | None = None) -> None: ...

    def finish_run(self, run_id: int, report: RunReport, exit_code: int) -> None: ...


FindingSet = tuple[list[str], list[dict[str, Any]]]
"""(ids of the checks that judged a host, its findings each with a stable `key`): findings history."""


def findings_update(result: HostResult) -> FindingSet | None:
    """What a host's result changes in the findings history: only hosts that answered a job that says
    which checks judged them (diagnose); None for any other host."""
    if result.checks is None or result.error is not None or result.status not in (Status.OK, Status.WARN,
                                                                                   Status.CRIT):
        return None
    return list(result.checks), [{**f.to_dict(), "key": f.key} for f in result.findings]


def task_rows(result: HostResult) -> list[dict[str, Any]] | None:
    """A play host's task results for the history's narrow task rows; None for other commands' hosts."""
    tasks = (result.data or {}).get("tasks")
    if not isinstance(tasks, list) or "recap" not in (result.data or {}):
        return None
    keys = ("index", "name", "module", "status", "changed", "message", "duration_s", "ignored", "handler")
    return [{k: t.get(k) for k in keys} for t in tasks if isinstance(t, Mapping)]


class StoreRecorder(Processor):
    """Records the run in the history: a run row at the start, each host as it finishes (with its
    samples, audit and findings), the summary at the end.

    A failed write never costs the run its results: when a write fails (StoreError: database locked
    for longer than its busy timeout, disk full...), the recorder stops writing for the rest of the run
    (so no host waits on it again), keeps the unrecorded results in memory, and tries once more at the
    end. If that fails too, `run.store_error` says why (one line), the results are printed, not stored,
    and the run exits 8 (a run row already written stays 'running' until a later open marks it crashed).
    """

    def __init__(self, store: HistoryWriter) -> None:
        self.store = store
        self._unrecorded: list[HostResult] = []
        self._failed = False

    def run_started(self, run: RunInfo) -> None:
        self._attempt(run, lambda: setattr(run, "run_id", self._begin(run)))

    def host_finished(self, run: RunInfo, result: HostResult) -> None:
        if self._failed or run.run_id is None:
            self._unrecorded.append(result)
            return
        if not self._attempt(run, lambda: self._add(run.run_id, result)):  # type: ignore[arg-type]
            self._unrecorded.append(result)

    def run_finished(self, run: RunInfo, report: RunReport) -> None:
        if self._failed:  # the one retry: the lock may be gone by now
            self._failed = False
            run.store_error = None
            self._attempt(run, lambda: self._catch_up(run))
        if self._failed:
            return
        self._attempt(run, lambda: self.store.finish_run(
            run.run_id, report, int(exit_code_for(report, fail_on=run.fail_on))))  # type: ignore[arg-type]

    def _catch_up(self, run: RunInfo) -> None:
        if run.run_id is None:
            run.run_id = self._begin(run)
        while self._unrecorded:
            self._add(run.run_id, self._unrecorded[0])
            self._unrecorded.pop(0)

    def _begin(self, run: RunInfo) -> int:
        if run.playbook is None:
            return self.store.begin_run(run.command, run.argv)
        return self.store.begin_run(run.command, run.argv, playbook=run.playbook)  # type: ignore[call-arg]

    def _add(self, run_id: int, result: HostResult) -> None:
        tasks = task_rows(result)
        extra: dict[str, Any] = {"tasks": tasks} if tasks is not None else {}  # a play's hosts only
        self.store.add_host_result(run_id, result, samples=result.samples or None, findings=findings_update(result),
                                   **extra)

    def _attempt(self, run: RunInfo, write: Callable[[], object]) -> bool:
        try:
            write()
            return True
        except StoreError as exc:
            self._failed = True
            run.store_error = run.store_error or str(exc)
            return False


class NdjsonStreamer(Processor):
    """`-o ndjson`: a `{"type": "task", ...}` line after each task of a play (from the host's worker
    thread), one host line on stdout as each host finishes (after its task lines), the summary line comes
    with the output. Lines are written whole under a lock, so threads never interleave within a line.

    If stdout fails (the reader closed the pipe, a full disk), the run stops like on Ctrl-C
    (errors.OutputStopped, raised on the main thread: at once for a host line, at the next host for a
    task line) and `error` keeps the OSError; later lines are not attempted.
    """

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream
        self.error: OSError | None = None
        self._raised = False
        self._lock = threading.Lock()

    def task_finished(self, run: RunInfo, event: Mapping[str, Any]) -> None:
        with self._lock:
            if self.error is not None:
                return
            try:
                write_ndjson_event(event, self._stream or sys.stdout)
            except OSError as exc:
                self.error = exc  # the main thread stops the run at the next host line

    def host_finished(self, run: RunInfo, result: HostResult) -> None:
        with self._lock:
            if self.error is None:
                try:
                    write_ndjson_host(result, self._stream or sys.stdout)
                except OSError as exc:
                    self.error = exc
            if self.error is None or self._raised:
                return
            self._raised = True
        raise OutputStopped(self.error) from None
