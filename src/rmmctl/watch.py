"""`rmmctl watch`: status rounds on kept connections, and the model of the live view (no rich here).

`Watch` owns ONE executor made with `keep=True` (api.make_executor): the first round connects to every
host, every later round reuses the open transports, so a round costs one exec per host (the status
probe, health.status_job) and no handshake. A host whose round failed (unreachable, timed out, auth,
error) lost its transport (the executor drops it); it is tried again with exponential backoff
(`interval`, 2x, 4x ... up to `backoff_cap`) and shows as down with its next try meanwhile. `close()`
ends every kept connection (SSH connections closed, WinRM shells deleted).

`WatchView` is what the dashboard draws (render/watch.py): one `Row` per host in inventory order, the cells
as text, the cells whose text changed in the last round, and an event feed (a new finding, a resolved
one, a host down or back) with the time of each. It is a pure function of the rounds' results and the
clocks it is given, so it is tested without hosts.

History: a round is recorded like a status run (command "watch": host rows, samples, audit) when
`record_every` seconds have passed since the last recorded one (the first round always; 0: every
round; None: never), so a day of 30-s rounds does not write 2880 runs.
"""

from __future__ import annotations

import random
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from rmmctl.executor import Executor, Job
from rmmctl.inventory.model import Host
from rmmctl.models import HostResult, RunReport, Severity, Status

COLUMNS = ("status", "cpu", "mem", "disk", "findings")
DOWN = (Status.UNREACHABLE, Status.TIMEOUT, Status.AUTH_FAILED, Status.ERROR)
EVENTS_KEPT = 200


@dataclass(slots=True)
class Row:
    """One host's line of the dashboard."""

    name: str
    cells: dict[str, str] = field(default_factory=lambda: dict.fromkeys(COLUMNS, "") | {"status": "waiting"})
    changed: set[str] = field(default_factory=set)  # columns whose text changed in the host's last round
    status: Status | None = None
    error: str | None = None  # the last round's one-line error (a host down)
    failures: int = 0  # rounds failed in a row
    next_try: float = 0.0  # monotonic time the host is due again
    seen_at: float | None = None  # wall time of the host's last answer
    findings: dict[str, tuple[str, str]] = field(default_factory=dict)  # key -> (severity, title), last answer


@dataclass(frozen=True, slots=True)
class Event:
    """A line of the event feed: `kind` is new, resolved, down or back."""

    at: float  # wall time
    host: str
    kind: str
    text: str
    severity: str = ""


def backoff(failures: int, interval: float, cap: float) -> float:
    """Seconds before the next try of a host that failed `failures` rounds in a row (1: one interval)."""
    return min(interval * 2 ** max(failures - 1, 0), max(cap, interval))


def cells_of(result: HostResult) -> dict[str, str]:
    """The dashboard's text for an answered host (status, CPU, memory, worst disk, findings)."""
    summary = (result.data or {}).get("summary") or {}
    worst = summary.get("worst_fs") or {}
    crit = sum(f.severity == "critical" for f in result.findings)
    warn = sum(f.severity == "warning" for f in result.findings)
    return {
        "status": result.status.value,
        "cpu": _pct(summary.get("cpu_pct")),
        "mem": _pct(summary.get("mem_pct")),
        "disk": f"{worst['mount']} {_pct(worst.get('used_pct'))}" if worst.get("mount") else "-",
        "findings": ", ".join(p for p in (f"{crit} crit" if crit else "", f"{warn} warn" if warn else "") if p) or "0",
    }


def _pct(value: object) -> str:
    return f"{float(value):.0f}%" if isinstance(value, (int, float)) else "-"  # type: ignore[arg-type]


class WatchView:
    """The rows and the event feed, updated round after round (pure: the clocks are arguments)."""

    def __init__(self, hosts: Sequence[Host], *, interval: float, backoff_cap: float) -> None:
        self.rows = {h.name: Row(h.name) for h in hosts}
        self.interval = interval
        self.backoff_cap = backoff_cap
        self.events: deque[Event] = deque(maxlen=EVENTS_KEPT)
        self.rounds = 0
        self.last_round_s: float | None = None  # wall seconds of the last round

    def due(self, hosts: Iterable[Host], now: float) -> list[Host]:
        """The hosts to probe in a round starting at monotonic `now`: all but those backing off."""
        return [h for h in hosts if self.rows[h.name].next_try <= now]

    def update(self, report: RunReport, *, wall: float, now: float) -> None:
        """Take a round's results (the hosts that ran; the others keep their rows)."""
        self.rounds += 1
        self.last_round_s = report.duration_s
        for result in report.hosts:
            row = self.rows.get(result.name)
            if row is not None and result.status is not Status.INTERRUPTED:
                self._update_row(row, result, wall, now)

    def _update_row(self, row: Row, result: HostResult, wall: float, now: float) -> None:
        if result.status in DOWN:
            row.failures += 1
            wait = backoff(row.failures, self.interval, self.backoff_cap)
            row.next_try = now + wait * random.uniform(0.9, 1.0)  # jitter: hosts dropped together retry apart
            message = result.error.message if result.error else result.status.value
            if row.failures == 1:
                self.events.append(Event(wall, row.name, "down", f"{result.status.value}: {message}"))
            row.error, row.status = message, result.status
            new = dict(row.cells, status=result.status.value)
        else:
            if row.failures:
                self.events.append(Event(wall, row.name, "back", f"answering again after {row.failures} failed "
                                                                 f"round{'s' if row.failures > 1 else ''}"))
            row.failures, row.next_try, row.error, row.status, row.seen_at = 0, 0.0, None, result.status, wall
            new = cells_of(result)
            self._findings(row, result, wall)
        row.changed = {c for c in COLUMNS if new[c] != row.cells[c]} if self.rounds > 1 else set()
        row.cells = new

    def _findings(self, row: Row, result: HostResult, wall: float) -> None:
        now = {f.key: (Severity(f.severity).value, f.title) for f in result.findings}
        for key, (severity, title) in now.items():
            if key not in row.findings:
                self.events.append(Event(wall, row.name, "new", title, severity))
        for key, (severity, title) in row.findings.items():
            if key not in now:
                self.events.append(Event(wall, row.name, "resolved", title, severity))
        row.findings = now


class Watch:
    """Status rounds on one executor that keeps each host's connection open (see the module docstring).

    `run_round(job_runner)` is given how to run a round (api.execute_on with the processors of that
    round) so this module needs neither the CLI nor the store."""

    def __init__(self, hosts: Sequence[Host], executor: Executor, *, interval: float,
                 backoff_cap: float | None = None, record_every: float | None = 300.0) -> None:
        self.hosts = list(hosts)
        self.executor = executor
        self.interval = interval
        self.view = WatchView(hosts, interval=interval, backoff_cap=backoff_cap or max(4 * interval, 30.0))
        self.record_every = record_every
        self._recorded_at: float | None = None

    def should_record(self, now: float) -> bool:
        """Whether the round starting at monotonic `now` goes to the history."""
        if self.record_every is None:
            return False
        return self._recorded_at is None or now - self._recorded_at >= self.record_every

    def round(self, run: Callable[[Sequence[Host], Job, bool], RunReport], job: Job) -> RunReport | None:
        """One round on the due hosts: `run(hosts, job, record)` runs it; the view takes the results.
        None when no host is due (all backing off)."""
        started = time.monotonic()
        hosts = self.view.due(self.hosts, started)
        if not hosts:
            return None
        record = self.should_record(started)
        if record:
            self._recorded_at = started
        report = run(hosts, job, record)
        self.view.update(report, wall=time.time(), now=time.monotonic())
        return report

    def next_round_in(self, started: float) -> float:
        """Seconds until the next round of a round that started at monotonic `started` (never negative);
        a host backing off is due later than that, it simply sits that round out."""
        return max(0.0, started + self.interval - time.monotonic())

    def close(self) -> None:
        """Close every kept connection."""
        self.executor.close()
