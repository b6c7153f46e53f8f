"""`rmmctl report`: a client report built from the history store (no host is contacted). No rich, no typer.

    period = parse_period("30d" | "7d" | "2024-05", now)
    doc = build_report(store, hosts, period, client=ClientInfo(...), branding=Branding(...), now=now)
    render.report.html(doc) / markdown(doc) / the JSON document itself (docs/schemas/report.schema.json)

What each section reads (docs/report.md):
- health score per host: `score()` below (the formula is documented there and in `SCORE_FORMULA`);
- findings opened and resolved in the period: the findings history (`diagnose` runs), with what resolved
  each one: a `fix` run (its plays), a `play` run on that host between the finding's last sighting and its
  resolution, or nothing (the problem went away and a diagnose noticed);
- maintenance: the `play` runs of the period with each host's recap and failed tasks;
- trends: `disk.*.used_pct` and `memory.used_pct` samples, with "full in N days" (trends.days_until);
- pending updates and reboots: each host's latest `updates.*` and `reboot.required` samples;
- backups: `backup.*` findings and `backup_verify` tasks of the period;
- unreachable: runs that could not reach a host (unreachable, timeout), as intervals: from the first
  failed run to the next run that reached it.
"""

from __future__ import annotations

import base64
import calendar
import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rmmctl.errors import ConfigError, UsageError
from rmmctl.formats import iso_utc
from rmmctl.models import finding_key
from rmmctl.store import HistoryStore, from_db_time
from rmmctl.trends import DAY_S, MIN_SPAN_S, days_until, trend

SCHEMA = "rmmctl/v1"
DOWN = ("unreachable", "timeout")  # a run that could not reach the host
ANSWERED = ("ok", "changed", "warn", "crit", "failed")  # the host answered (whatever it said)
JUDGING = ("status", "metrics", "diagnose", "fix")  # runs whose host data carries that host's findings
PENALTY = {"critical": 25, "warning": 10, "info": 2}
UNREACHABLE_WEIGHT = 30
GRADES = ((90, "good"), (70, "fair"), (0, "poor"))
SCORE_FORMULA = ("100 - 25 per open critical finding - 10 per open warning - 2 per open info finding "
                 "- 30 x (share of the host's runs in the period that could not reach it), within 0..100")
MAX_LOGO_BYTES = 256 * 1024
LOGO_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
              ".svg": "image/svg+xml", ".webp": "image/webp"}
MAX_MOUNTS = 4  # disk series drawn per host: the fullest ones
_PERIOD = re.compile(r"^(\d{1,4})([dw])$")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


@dataclass(frozen=True, slots=True)
class Period:
    """A half-open time range [start, end) in unix time, and how the user named it."""

    start: float
    end: float
    label: str

    @property
    def days(self) -> float:
        return (self.end - self.start) / DAY_S

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "start": iso_utc(self.start), "end": iso_utc(self.end),
                "days": round(self.days, 3)}


def parse_period(text: str, now: float) -> Period:
    """`30d`, `7d`, `2w` (ending now), a calendar month `2024-05` (UTC), or `last-month` (the calendar
    month before now's: what a monthly cron job reports on the 1st); else a one-line UsageError."""
    raw = text.strip().lower()
    if raw == "last-month":
        today = dt.datetime.fromtimestamp(now, dt.timezone.utc)
        year, mon = (today.year - 1, 12) if today.month == 1 else (today.year, today.month - 1)
        raw = f"{year:04d}-{mon:02d}"
    match = _PERIOD.match(raw)
    if match and int(match.group(1)) >= 1:
        days = int(match.group(1)) * (7 if match.group(2) == "w" else 1)
        if days <= 3660:
            return Period(now - days * DAY_S, now, f"last {days} days")
    month = _MONTH.match(raw)
    if month and 1 <= int(month.group(2)) <= 12 and 1970 <= int(month.group(1)) <= 9000:
        year, mon = int(month.group(1)), int(month.group(2))
        start = calendar.timegm((year, mon, 1, 0, 0, 0))
        end = calendar.timegm((year + (mon == 12), mon % 12 + 1, 1, 0, 0, 0))
        name = dt.date(year, mon, 1).strftime("%B %Y")
        return Period(float(start), float(end), name)
    raise UsageError(f"--period {text!r}: expected days like 30d or 7d (up to 3660d), weeks like 2w, "
                     "a month like 2024-05 (1970 to 9000), or last-month")


@dataclass(frozen=True, slots=True)
class Branding:
    """The MSP's name and logo on the cover. The CLI fills it from --msp-name/--logo; the configuration
    file's `report` section (msp_name, logo) is meant to fill it too (`branding_from`)."""

    msp_name: str | None = None
    logo_data_uri: str | None = None  # data:image/png;base64,... (inlined: the HTML fetches nothing)
    logo_path: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.msp_name, "logo": self.logo_path}


def branding_from(msp_name: str | None = None, logo: str | Path | None = None) -> Branding:
    """A Branding with the logo file read and inlined as a data: URI (at most 256 KiB; png, jpeg, gif,
    svg, webp); a missing, unreadable, too big or unknown file is a one-line ConfigError."""
    if logo is None or str(logo) == "":
        return Branding(msp_name or None)
    path = Path(logo).expanduser()
    kind = LOGO_TYPES.get(path.suffix.lower())
    if kind is None:
        raise ConfigError(f"logo {path}: unknown image type {path.suffix or '(none)'!r}; use one of "
                          f"{', '.join(sorted(LOGO_TYPES))}")
    try:
        size = path.stat().st_size
        if size > MAX_LOGO_BYTES:
            raise ConfigError(f"logo {path} is {size} bytes; at most {MAX_LOGO_BYTES} (256 KiB) are inlined: "
                              "use a smaller image")
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"logo {path}: {exc.strerror or exc}; give a readable image file") from None
    return Branding(msp_name or None, f"data:{kind};base64,{base64.b64encode(data).decode()}", str(path))


@dataclass(frozen=True, slots=True)
class ClientInfo:
    """The client the report is for (from the inventory), or the pattern when it is not one client."""

    name: str | None
    contact: str | None = None
    vars: Mapping[str, Any] = field(default_factory=dict)


def score(open_findings: Mapping[str, int], runs: int, unreachable_runs: int) -> int | None:
    """The health score (SCORE_FORMULA): None when the host has no run in the period."""
    if runs <= 0:
        return None
    points = 100.0 - sum(PENALTY.get(sev, 0) * n for sev, n in open_findings.items())
    points -= UNREACHABLE_WEIGHT * unreachable_runs / runs
    return int(round(min(100.0, max(0.0, points))))


def grade(value: int | None) -> str:
    if value is None:
        return "no data"
    return next(name for low, name in GRADES if value >= low)


def build_report(store: HistoryStore, hosts: Sequence[str] | None, period: Period, *, now: float,
                 client: ClientInfo | None = None, branding: Branding | None = None,
                 pattern: str | None = None) -> dict[str, Any]:
    """The report document (JSON-safe; docs/schemas/report.schema.json). `hosts`: the inventory's hosts
    the report covers, in order; None: every host the history has in the period."""
    results = store.host_results_between(period.start, period.end)
    runs = store.runs_between(period.start, period.end)
    if hosts is None:
        seen = {r["host"]: None for r in results}
        hosts = list(seen)
    wanted = set(hosts)
    results = [r for r in results if r["host"] in wanted]
    findings = [f for f in store.findings_between(period.start, period.end) if f["host"] in wanted]
    by_host: dict[str, list[dict[str, Any]]] = {h: [] for h in hosts}
    for r in results:
        by_host[r["host"]].append(r)
    end = min(period.end, now)
    plays = _maintenance(store, runs, wanted)
    history = [_finding(f, period, results, runs) for f in findings]
    host_docs, trends, updates, unreachable = [], [], [], []
    for name in hosts:
        rows = by_host[name]
        outages = _outages(name, rows, end)
        unreachable.extend(outages)
        current = _current_findings(name, rows, findings, period)
        counts = {sev: sum(1 for f in current if f["severity"] == sev) for sev in PENALTY}
        down = sum(1 for r in rows if r["status"] in DOWN)
        value = score(counts, len(rows), down)
        samples = _samples(store, name, period)
        host_trends = _trends(name, samples)
        trends.extend(host_trends)
        upd = _updates(name, samples)
        if upd is not None:
            updates.append(upd)
        host_docs.append({
            "name": name, "score": value, "grade": grade(value), "runs": len(rows), "unreachable_runs": down,
            "unreachable_s": round(sum(o["duration_s"] for o in outages), 3),
            "open_findings": counts, "current_findings": current,
            "last_seen": next((iso_utc(_t(r["started_at"])) for r in reversed(rows) if r["status"] in ANSWERED), None),
            "os": _os(rows), "penalties": _penalties(counts, len(rows), down),
        })
    scores = [h["score"] for h in host_docs if h["score"] is not None]
    opened = [f for f in history if f["opened_in_period"]]
    resolved = [f for f in history if f["resolved_in_period"]]
    return {
        "schema": SCHEMA, "command": "report", "generated_at": iso_utc(now),
        "client": {"name": client.name, "contact": client.contact} if client else {"name": None, "contact": None},
        "pattern": pattern, "period": period.to_dict(), "msp": (branding or Branding()).to_dict(),
        "score_formula": SCORE_FORMULA,
        "summary": {"hosts": len(host_docs), "average_score": round(sum(scores) / len(scores), 1) if scores else None,
                    "findings_opened": len(opened), "findings_resolved": len(resolved),
                    "open_findings": sum(sum(h["open_findings"].values()) for h in host_docs),
                    "plays": len(plays), "unreachable_hosts": len({o["host"] for o in unreachable}),
                    "runs": len({r["run_id"] for r in results})},
        "hosts": host_docs, "findings": history, "maintenance": plays, "trends": trends,
        "updates": updates, "backups": _backups(store, history, plays), "unreachable": unreachable,
    }


def _t(text: str) -> float:
    return from_db_time(text)


def _iso(text: str | None) -> str | None:
    return None if text is None else iso_utc(from_db_time(text))


def _os(rows: Sequence[Mapping[str, Any]]) -> str | None:
    for r in reversed(rows):
        summary = (r.get("data") or {}).get("summary") or {}
        if isinstance(summary, Mapping) and summary.get("os"):
            return str(summary["os"])
    return None


def _penalties(counts: Mapping[str, int], runs: int, down: int) -> list[dict[str, Any]]:
    out = [{"reason": f"{n} open {sev} finding{'s' if n != 1 else ''}", "points": PENALTY[sev] * n}
           for sev, n in counts.items() if n]
    if runs and down:
        out.append({"reason": f"unreachable in {down} of {runs} runs",
                    "points": round(UNREACHABLE_WEIGHT * down / runs, 1)})
    return out


def _finding(f: Mapping[str, Any], period: Period, results: Sequence[Mapping[str, Any]],
             runs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    first, resolved = _t(f["first_seen"]), f["resolved_at"]
    resolved_in = resolved is not None and period.start <= _t(resolved) < period.end
    return {
        "host": f["host"], "check_id": f["check_id"], "severity": f["severity"], "title": f["title"],
        "evidence": list(f["evidence"]), "remediation": f["remediation"],
        "first_seen": _iso(f["first_seen"]), "last_seen": _iso(f["last_seen"]), "resolved_at": _iso(resolved),
        "opened_in_period": period.start <= first < period.end,
        "resolved_in_period": resolved_in,
        "open_at_end": resolved is None or _t(resolved) >= period.end,
        "resolution": _resolution(f, results, runs) if resolved_in else None,
    }


def _resolution(f: Mapping[str, Any], results: Sequence[Mapping[str, Any]],
                runs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """What resolved a finding: its `fix` run (and the plays it ran on the host), else a play that ran on
    the host between the finding's last sighting and its resolution, else the diagnose that saw it gone."""
    run_id, host = f["resolved_run_id"], f["host"]
    run = next((r for r in runs if r["id"] == run_id), None)
    at = _iso(f["resolved_at"])
    if run is not None and run["command"] == "fix":
        mine = next((r for r in results if r["run_id"] == run_id and r["host"] == host), None)
        plays = ((mine or {}).get("data") or {}).get("fix", {}).get("plays", [])
        books = [p["playbook"] for p in plays if p.get("mode") == "run"]
        return {"how": "fix", "run_id": run_id, "at": at, "playbooks": books,
                "text": f"rmmctl diagnose --fix (run {run_id})" + (f": {', '.join(books)}" if books else "")}
    seen, gone = _t(f["last_seen"]), _t(f["resolved_at"])
    play = next((r for r in reversed(results) if r["host"] == host and r["command"] == "play"
                 and seen <= _t(r["started_at"]) <= gone and r["status"] in ("ok", "changed")), None)
    if play is not None:
        book = _book(play.get("playbook"))
        return {"how": "play", "run_id": play["run_id"], "at": at, "playbooks": [book],
                "text": f"playbook {book} (run {play['run_id']})"}
    command = run["command"] if run else "diagnose"
    return {"how": "gone", "run_id": run_id, "at": at, "playbooks": [],
            "text": f"no longer found by {command} (run {run_id})"}


def _book(path: str | None) -> str:
    return Path(path).stem if path else "?"


def _current_findings(host: str, rows: Sequence[Mapping[str, Any]], findings: Sequence[Mapping[str, Any]],
                      period: Period) -> list[dict[str, Any]]:
    """The host's open problems at the period's end: findings history rows still open then, and the findings
    of its latest status/metrics/diagnose/fix run in the period that reached it (one per finding key)."""
    out: dict[str, dict[str, Any]] = {}
    for f in findings:
        if f["host"] == host and (f["resolved_at"] is None or _t(f["resolved_at"]) >= period.end):
            out[f["finding_key"]] = _brief(f)  # finding_key() of the finding, as the history stores it
    latest = next((r for r in reversed(rows) if r["command"] in JUDGING and r["status"] in ANSWERED
                   and isinstance((r.get("data") or {}).get("findings"), list)), None)
    for f in (latest or {}).get("data", {}).get("findings", []) if latest else []:
        if isinstance(f, Mapping) and "check_id" in f:
            out.setdefault(finding_key(f), _brief(f))
    return sorted(out.values(), key=lambda f: (list(PENALTY).index(f["severity"]) if f["severity"] in PENALTY
                                               else 9, f["check_id"], f["title"]))


def _brief(f: Mapping[str, Any]) -> dict[str, Any]:
    return {"check_id": f["check_id"], "severity": f["severity"], "title": f["title"]}


def _outages(host: str, rows: Sequence[Mapping[str, Any]], end: float) -> list[dict[str, Any]]:
    """Intervals the host could not be reached: from the first failed run to the next run that reached it
    (or to the period's end, capped at now, when none did: `ongoing`)."""
    out: list[dict[str, Any]] = []
    start: float | None = None
    count, error = 0, None
    for r in rows:
        at = _t(r["started_at"])
        if r["status"] in DOWN:
            if start is None:
                start, count, error = at, 0, r.get("error_message")
            count += 1
        elif start is not None:
            out.append(_outage(host, start, at, count, error, False))
            start = None
    if start is not None:
        out.append(_outage(host, start, max(start, end), count, error, True))
    return out


def _outage(host: str, start: float, stop: float, runs: int, error: str | None, ongoing: bool) -> dict[str, Any]:
    return {"host": host, "from": iso_utc(start), "to": iso_utc(stop), "duration_s": round(stop - start, 3),
            "runs": runs, "ongoing": ongoing, "error": error}


def _samples(store: HistoryStore, host: str, period: Period) -> dict[str, list[tuple[float, float]]]:
    """The host's disk, memory, updates and reboot series within the period (oldest first)."""
    out: dict[str, list[tuple[float, float]]] = {}
    for prefix in ("disk", "memory.used_pct", "updates", "reboot.required"):
        for at, name, value in store.samples(host, prefix, since=period.start, limit=100_000):
            if at < period.end:
                out.setdefault(name, []).append((at, value))
    return out


def _trends(host: str, samples: Mapping[str, list[tuple[float, float]]]) -> list[dict[str, Any]]:
    disks = [(name[len("disk."):-len(".used_pct")], pts) for name, pts in samples.items()
             if name.startswith("disk.") and name.endswith(".used_pct") and pts]
    disks.sort(key=lambda d: (-d[1][-1][1], d[0]))
    out = [_series(host, "disk", f"disk.{mount}.used_pct", mount, pts) for mount, pts in disks[:MAX_MOUNTS]]
    if samples.get("memory.used_pct"):
        out.append(_series(host, "memory", "memory.used_pct", "memory", samples["memory.used_pct"]))
    return out


def _series(host: str, kind: str, metric: str, label: str, pts: Sequence[tuple[float, float]]) -> dict[str, Any]:
    fit = trend(pts)
    full = days_until(pts) if kind == "disk" else None
    slope = round(fit.slope_per_day, 3) if fit.span_days * DAY_S >= MIN_SPAN_S else None  # too short to say
    return {"host": host, "kind": kind, "metric": metric, "label": label,
            "points": [[iso_utc(at), round(v, 2)] for at, v in pts], "last": round(fit.last, 2),
            "min": round(fit.min, 2), "max": round(fit.max, 2), "slope_per_day": slope,
            "full_in_days": None if full is None else round(full, 1)}


def _updates(host: str, samples: Mapping[str, list[tuple[float, float]]]) -> dict[str, Any] | None:
    latest = {k: samples[k][-1] for k in ("updates.pending", "updates.security", "reboot.required") if samples.get(k)}
    if not latest:
        return None
    at = max(t for t, _ in latest.values())
    value = lambda k: latest[k][1] if k in latest else None  # noqa: E731
    reboot = value("reboot.required")
    return {"host": host, "at": iso_utc(at),
            "pending": None if value("updates.pending") is None else int(value("updates.pending")),
            "security": None if value("updates.security") is None else int(value("updates.security")),
            "reboot_required": None if reboot is None else reboot >= 0.5}


def _maintenance(store: HistoryStore, runs: Iterable[Mapping[str, Any]], wanted: set[str]) -> list[dict[str, Any]]:
    """The play runs of the period (on the report's hosts): outcome per host, failed tasks, backup checks."""
    out = []
    for run in runs:
        if run["command"] != "play":
            continue
        full = store.run(run["id"]) or {}
        hosts = [h for h in full.get("hosts", []) if h["host"] in wanted]
        if not hosts:
            continue
        tasks = [t for t in store.task_results(run["id"]) if t["host"] in wanted]
        out.append({
            "run_id": run["id"], "playbook": _book(run.get("playbook")), "started_at": _iso(run["started_at"]),
            "duration_s": None if run.get("duration_s") is None else round(run["duration_s"], 3),
            "status": run["status"], "exit_code": run.get("exit_code"),
            "hosts": [{"host": h["host"], "status": h["status"], "error": h.get("error_message"),
                       "recap": {k: int(v) for k, v in ((h.get("data") or {}).get("recap") or {}).items()},
                       "failed_tasks": [f"{t['name']}: {t['message']}".strip(": ") for t in tasks
                                        if t["host"] == h["host"] and t["status"] == "failed"]} for h in hosts],
            "backup_tasks": [{"host": t["host"], "name": t["name"], "status": t["status"], "message": t["message"]}
                             for t in tasks if t["module"] == "backup_verify"],
        })
    return out


def _backups(store: HistoryStore, history: Sequence[Mapping[str, Any]],
             plays: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Backup verification results: backup_verify tasks of the period's plays, then backup.* findings."""
    out: list[dict[str, Any]] = []
    for play in plays:
        for t in play["backup_tasks"]:
            out.append({"host": t["host"], "source": "backup_verify", "at": play["started_at"],
                        "result": "failed" if t["status"] == "failed" else "ok",
                        "detail": f"{t['name']}: {t['message']}".strip(": "), "run_id": play["run_id"]})
    for f in history:
        if f["check_id"].split(".")[0] == "backup":
            out.append({"host": f["host"], "source": f["check_id"], "at": f["resolved_at"] or f["last_seen"],
                        "result": "resolved" if not f["open_at_end"] else f["severity"],
                        "detail": f["title"], "run_id": None})
    return out
