"""Alerts on state change (docs/alerts.md): a run's findings -> alert rows in the store -> one message
per channel per run.

    engine = AlertEngine(config.alerts, store, inventory, clock=time.time)
    outcome = engine.run(report)     # update the rows from the report, then deliver what is pending
    outcome.errors                   # one line per channel whose send failed (kept, retried next run)

A row is one problem (host, finding key, rule). It is `pending` while it has failed fewer consecutive
runs than the rule's `fails_before_alert`, `open` once alerted, `resolved` when gone but the resolved
message is not yet delivered, `closed` after (the history). `pending` on a row (a column, not the state)
holds what each channel still has to be told: "new", "realert" or "resolved". Delivery takes every row
a channel has something for and sends it as one message; a failed send leaves the rows as they are, so
the next run sends them again. `AlertProcessor` runs the engine after a run (`status/diagnose --alert`).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from rmmctl.config import UNREACHABLE_CHECK, AlertsConfig, Rule, check_matches
from rmmctl.errors import ConfigError, StoreError
from rmmctl.formats import iso_utc
from rmmctl.inventory.model import Inventory
from rmmctl.models import HostResult, RunReport, Status
from rmmctl.processors import Processor, RunInfo

SEVERITY_RANK = {"info": 0, "warning": 1, "critical": 2}
_UNREACHABLE = (Status.UNREACHABLE, Status.TIMEOUT, Status.AUTH_FAILED)
_ANSWERED = (Status.OK, Status.WARN, Status.CRIT)


@dataclass(frozen=True, slots=True)
class Observation:
    """One problem seen on a host this run."""

    host: str
    key: str
    check_id: str
    severity: str
    title: str
    evidence: tuple[str, ...] = ()


@dataclass(slots=True)
class AlertOutcome:
    """What a delivery did: per channel the counts sent, and one line per failed channel."""

    sent: dict[str, dict[str, int]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    held: int = 0  # problems held back by quiet hours


def observe(result: HostResult) -> tuple[list[Observation], Callable[[Mapping[str, Any]], bool]] | None:
    """A host's problems this run and which of its existing rows this run could resolve; None when the
    run says nothing either way about the host (an error, an interrupted host)."""
    if result.status in _UNREACHABLE:
        message = result.error.message if result.error else result.status.value
        obs = Observation(result.name, UNREACHABLE_CHECK, UNREACHABLE_CHECK, "critical",
                          f"{result.name} is unreachable: {message}")
        return [obs], lambda row: row["check_id"] == UNREACHABLE_CHECK
    if result.error is not None or result.status not in _ANSWERED:
        return None
    found = [Observation(result.name, f.key, f.check_id, f.severity.value, f.title, tuple(f.evidence))
             for f in result.findings]
    judged = set(result.checks) if result.checks is not None else None

    def in_scope(row: Mapping[str, Any]) -> bool:
        if row["check_id"] == UNREACHABLE_CHECK:
            return True
        return row["check_id"] in judged if judged is not None else row["source"] == "status"

    return found, in_scope


class AlertEngine:
    def __init__(self, config: AlertsConfig, store: Any, inventory: Inventory | None = None, *,
                 clock: Callable[[], float] = time.time, sender: Callable[..., None] | None = None) -> None:
        self.config = config
        self.store = store
        self.inventory = inventory
        self.clock = clock
        if sender is None:
            from rmmctl.notify import send as sender
        self.sender = sender
        self._rule_hosts: dict[str, set[str] | None] = {}

    # -- update -----------------------------------------------------------------------------------

    def update(self, report: RunReport) -> None:
        """Count, open, re-alert and resolve the rows from one run's results; one transaction."""
        now = self.clock()
        rows = self.store.alert_rows()
        rules = {r.name: r for r in self.config.rules}
        live = {(r["host"], r["finding_key"], r["rule"]): r for r in rows}
        touched: dict[tuple[str, str, str], dict[str, Any]] = {}
        drop: list[int] = []
        for row in rows:  # rules removed from the configuration: their rows close without a message
            if row["rule"] not in rules:
                touched[(row["host"], row["finding_key"], row["rule"])] = {**row, "state": "closed", "pending": {}}
        for result in report.hosts:
            seen = observe(result)
            if seen is None:
                continue
            found, in_scope = seen
            for rule in self.config.rules:
                if not self._host_matches(rule, result.name):
                    continue
                keep: set[tuple[str, str, str]] = set()
                for obs in found:
                    threshold = self._threshold(rule, obs)
                    if threshold is None:
                        continue
                    k = (obs.host, obs.key, rule.name)
                    keep.add(k)
                    touched[k] = self._seen(live.get(k), obs, rule, threshold, report.command, now)
                for k, row in live.items():
                    if k[0] == result.name and k[2] == rule.name and k not in keep and in_scope(row):
                        gone = self._gone(row, rule, now)
                        if gone is None:
                            drop.append(row["id"])
                        else:
                            touched[k] = gone
        for k, row in live.items():  # open rows whose interval ran out: say it again
            rule = rules.get(row["rule"])
            row = touched.get(k, row)
            if rule and row["state"] == "open" and rule.realert_after is not None and not row["pending"] \
                    and row.get("last_sent_at") is not None and now - row["last_sent_at"] >= rule.realert_after:
                touched[k] = {**row, "pending": {ch: "realert" for ch in rule.channels}}
        self.store.save_alerts(list(touched.values()), drop)

    def _threshold(self, rule: Rule, obs: Observation) -> int | None:
        if obs.check_id == UNREACHABLE_CHECK:
            return rule.unreachable_after
        if SEVERITY_RANK.get(obs.severity, 0) < SEVERITY_RANK[rule.min_severity]:
            return None
        return rule.fails_before_alert if check_matches(obs.check_id, rule.checks) else None

    def _seen(self, row: dict[str, Any] | None, obs: Observation, rule: Rule, threshold: int, command: str,
              now: float) -> dict[str, Any]:
        if row is None:
            row = {"id": None, "host": obs.host, "finding_key": obs.key, "rule": rule.name, "state": "pending",
                   "fails": 0, "first_seen": now, "pending": {}}
        row = {**row, "check_id": obs.check_id, "severity": obs.severity, "title": obs.title,
               "evidence": list(obs.evidence), "source": command, "last_seen": now, "fails": row["fails"] + 1}
        if row["state"] == "resolved":  # back before its resolved message went out: still the same alert
            row.update(state="open", resolved_at=None,
                       pending={ch: k for ch, k in row["pending"].items() if k != "resolved"})
        if row["state"] == "pending" and row["fails"] >= threshold:
            row.update(state="open", opened_at=now, pending={ch: "new" for ch in rule.channels})
        return row

    def _gone(self, row: dict[str, Any], rule: Rule, now: float) -> dict[str, Any] | None:
        """The row of a problem no longer seen: None to drop it (it never alerted), else its new state."""
        if row["state"] == "pending":
            return None
        if row["state"] == "resolved":
            return row
        told = {ch for ch in rule.channels if row["pending"].get(ch) != "new"}  # channels that heard of it
        pending = {ch: "resolved" for ch in told} if rule.resolve else {}
        return {**row, "state": "resolved" if pending else "closed", "resolved_at": now, "pending": pending}

    def _host_matches(self, rule: Rule, host: str) -> bool:
        if rule.hosts is None or self.inventory is None:
            return True
        if rule.name not in self._rule_hosts:
            from rmmctl.inventory.select import select_hosts

            try:
                self._rule_hosts[rule.name] = {h.name for h in select_hosts(self.inventory, rule.hosts)}
            except ConfigError:  # the pattern matches nothing in this inventory
                self._rule_hosts[rule.name] = set()
        return host in (self._rule_hosts[rule.name] or set())

    # -- delivery ---------------------------------------------------------------------------------

    def deliver(self) -> AlertOutcome:
        """Send each channel one message with everything pending for it (quiet hours hold a client's rows)."""
        now = self.clock()
        outcome = AlertOutcome()
        rows = self.store.alert_rows()
        changed: dict[int, dict[str, Any]] = {}
        quiet = self._quiet_hosts(now)
        for row in rows:  # channels no longer configured: nothing to send there
            stale = [ch for ch in row["pending"] if ch not in self.config.channels]
            if stale:
                row["pending"] = {ch: k for ch, k in row["pending"].items() if ch not in stale}
                changed[row["id"]] = row
        for name, channel in self.config.channels.items():
            items = [r for r in rows if name in r["pending"]]
            held = [r for r in items if r["host"] in quiet]
            outcome.held += len(held)
            items = [r for r in items if r["host"] not in quiet]
            if not items:
                continue
            doc = alert_document(name, [(r["pending"][name], r) for r in items], now, self._clients())
            counts = doc["counts"]
            try:
                self.sender(channel, doc)
            except Exception as exc:  # noqa: BLE001 - NotifyError and anything else: kept, retried next run
                line = f"{name}: {exc}"
                outcome.errors.append(line)
                self.store.add_alert_send({"at": now, "channel": name, "ok": False, **counts, "error": str(exc)})
                for r in items:
                    r["last_error"] = line
                    changed[r["id"]] = r
                continue
            outcome.sent[name] = counts
            self.store.add_alert_send({"at": now, "channel": name, "ok": True, **counts})
            for r in items:
                kind = r["pending"].pop(name)
                if kind == "resolved":
                    r["resolve_sent_at"] = now
                else:
                    r["first_sent_at"] = r.get("first_sent_at") or now
                    r["last_sent_at"] = now
                r["last_error"] = None
                changed[r["id"]] = r
        for r in changed.values():
            if r["state"] == "resolved" and not r["pending"]:
                r["state"] = "closed"
        if changed:
            self.store.save_alerts(list(changed.values()))
        return outcome

    def run(self, report: RunReport) -> AlertOutcome:
        self.update(report)
        return self.deliver()

    def _clients(self) -> dict[str, str]:
        if self.inventory is None:
            return {}
        return {h.name: h.client for h in self.inventory.hosts.values() if h.client}

    def _quiet_hosts(self, now: float) -> set[str]:
        """The hosts whose client is in its quiet hours at `now`: in the entry's `timezone`, else the host's
        `timezone` inventory var (where its maintenance windows are read too), else the runner's local time."""
        if not self.config.quiet_hours or self.inventory is None:
            return set()
        quiet: set[str] = set()
        for host in self.inventory.hosts.values():
            for entry in self.config.quiet_hours:
                if entry.client == host.client and entry.holds(_minute_of_day(now, entry.timezone
                                                                              or host.var("timezone"))):
                    quiet.add(host.name)
                    break
        return quiet


def _minute_of_day(now: float, zone: object) -> int:
    """Minutes after midnight at unix time `now` in an IANA zone (None, or one this machine does not know
    (the inventory check names it): the runner's local time)."""
    try:
        local = datetime.fromtimestamp(now, ZoneInfo(str(zone).strip())) if zone else None
    except (ZoneInfoNotFoundError, ValueError):
        local = None
    if local is None:
        t = time.localtime(now)
        return t.tm_hour * 60 + t.tm_min
    return local.hour * 60 + local.minute


def alert_document(channel: str, items: Iterable[tuple[str, Mapping[str, Any]]], now: float,
                   clients: Mapping[str, str] | None = None, *, test: bool = False) -> dict[str, Any]:
    """The rmmctl/v1 alert document (docs/alerts.md): what a webhook receives and mail and apprise render."""
    problems = []
    counts = {"new": 0, "realert": 0, "resolved": 0}
    for kind, row in items:
        counts[kind] += 1
        problems.append({
            "event": kind, "host": row["host"], "client": (clients or {}).get(row["host"]),
            "check_id": row["check_id"], "severity": row["severity"], "title": row["title"],
            "evidence": list(row.get("evidence") or []), "rule": row["rule"], "failures": row.get("fails", 0),
            "since": iso_utc(row["opened_at"] or row["first_seen"]) if row.get("opened_at") or row.get("first_seen")
            else None,
            "resolved_at": iso_utc(row["resolved_at"]) if row.get("resolved_at") else None,
        })
    order = {"new": 0, "realert": 1, "resolved": 2}
    problems.sort(key=lambda p: (order[p["event"]], -SEVERITY_RANK.get(p["severity"], 0), p["host"], p["check_id"]))
    summary = ", ".join(f"{n} {k}" for k, n in counts.items() if n) or "test message"
    return {"schema": "rmmctl/v1", "type": "alert", "channel": channel, "sent_at": iso_utc(now),
            "runner": socket.gethostname(), "test": test, "summary": summary, "counts": counts, "problems": problems}


def render_text(doc: Mapping[str, Any]) -> tuple[str, str]:
    """(subject, plain-text body) of an alert document, for mail and apprise."""
    problems = doc["problems"]
    first = ", ".join(f"{p['host']} {p['check_id']}" for p in problems[:3]) + (", ..." if len(problems) > 3 else "")
    subject = f"[rmmctl] {doc['summary']}" + (f": {first}" if first else "")
    lines = [f"rmmctl alerts from {doc['runner']} at {doc['sent_at']}: {doc['summary']}", ""]
    if doc.get("test"):
        lines.append(f"This is a test message for channel {doc['channel']}: delivery works.")
    for p in problems:
        label = {"new": "NEW", "realert": "STILL OPEN", "resolved": "RESOLVED"}[p["event"]]
        when = f"resolved {p['resolved_at']}" if p["event"] == "resolved" else f"since {p['since']}"
        client = f" ({p['client']})" if p.get("client") else ""
        lines.append(f"{label:<10} {p['severity']:<8} {p['host']}{client}  {p['check_id']}: {p['title']}  [{when}]")
        lines.extend(f"           {e}" for e in p["evidence"][:5])
    return subject, "\n".join(lines) + "\n"


class AlertProcessor(Processor):
    """`--alert`: after the run (and after the history recorder), evaluate and send. Never fails the run:
    what could not be sent is kept for the next run and named in `run.alert_error` (exit 10 if nothing
    else failed; cli.output.say_trouble prints it)."""

    def __init__(self, config: AlertsConfig, store: Any, inventory: Inventory | None = None, *,
                 clock: Callable[[], float] = time.time) -> None:
        self.engine = AlertEngine(config, store, inventory, clock=clock)
        self.outcome: AlertOutcome | None = None

    def run_finished(self, run: RunInfo, report: RunReport) -> None:
        if run.store_error:
            run.alert_error = "alerts not evaluated: the history database could not be written"
            return
        try:
            self.outcome = self.engine.run(report)
        except StoreError as exc:
            run.alert_error = f"alerts not evaluated: {exc}"
            return
        except Exception as exc:  # noqa: BLE001 - the run's results are printed and recorded regardless
            first = str(exc).splitlines()[0] if str(exc) else ""
            run.alert_error = f"alerts not evaluated: internal error: {type(exc).__name__}: {first}"
            return
        if self.outcome.errors:
            run.alert_error = "; ".join(self.outcome.errors)
