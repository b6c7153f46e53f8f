"""Printer checks over the `printers` probe section: CUPS queues, or the Windows spooler (the section's
`windows` sub-dict is not null). Pure: no I/O, no clock.

Each finding names the queue, quotes the host's own lines (lpstat, lpoptions, the error_log; on Windows
Get-Service, Get-Printer, Get-PrintJob and the events) and gives the command that fixes it. Inventory
vars: `printer_stuck_minutes` (default 15), `printer_log_hours` (error_log lines and PrintService events
older than this are ignored, default 24), `printer_models` ({QUEUE: "model substring"}: the driver each
queue must have), `print_server` (true: a CUPS scheduler that is down is critical; set to false on a Windows
host, e.g. a domain controller whose spooler is off on purpose, it keeps quiet about the spooler),
`spooler_crash_hours` (168: the window of Spooler crashes counted) and `spooler_crashes_critical` (3).

The Windows rules are in checks.printers_windows (shared accessors: checks.printers_common).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from rmmctl.checks.base import Finding, Rule, RuleCheck, Severity
from rmmctl.checks.printers_common import expected_models, held_job
from rmmctl.checks.printers_common import jobs_of as _jobs
from rmmctl.checks.printers_common import printers_section as _cups
from rmmctl.checks.printers_common import windows_part as _win
from rmmctl.checks.printers_windows import (
    WIN_DRIVER,
    WIN_REPAIR,
    device_error_rule,
    driver_failing_rule,
    spooler_crash_rule,
    win_offline_rule,
    win_paused_rule,
    win_print_failure_rule,
    win_raw_rule,
    win_spooler_rule,
    win_stuck_rule,
)

Printer = Mapping[str, Any]

BACKEND_TROUBLE = re.compile(
    r"not responding|may not exist|unavailable at this time|unable to connect|connection refused|"
    r"network host|no route|unreachable|timed out|could not open the output",
    re.IGNORECASE,
)
_MISSING_FILTER_RES = (re.compile(r'File "(?:[^"]*/)?([^"/]+)" not available'),
                       re.compile(r'Unable to start filter "([^"]+)"'))
_CRASHED_FILTER_RE = re.compile(r"PID \d+ \((?:[^)]*/)?([^)/]+)\) (?:stopped with status|crashed on signal)")
REPAIR = "printer-repair"  # re-enables, accepts, cancels stuck jobs, starts the scheduler; not a driver or a device


def _printers(facts: Mapping[str, Any]) -> list[Printer]:
    cups = _cups(facts)
    return list(cups.get("printers") or []) if cups and cups.get("scheduler", {}).get("running") else []


def _log(facts: Mapping[str, Any], name: str, t: Mapping[str, float]) -> list[Mapping[str, Any]]:
    limit = t.get("printer_log_hours", 24.0) * 3600
    return [e for e in (_cups(facts) or {}).get("log") or []
            if e.get("printer") == name and (e.get("age_s") is None or e["age_s"] <= limit)]


def _log_line(entry: Mapping[str, Any]) -> str:
    job = f"[Job {entry['job']}] " if entry.get("job") is not None else ""
    return f"error_log {entry.get('time') or ''} {job}{entry['message']}".replace("  ", " ")


def _state_lines(p: Printer) -> tuple[str, ...]:
    lines = [p.get("status_line") or f"printer {p['name']} state={p['state']}"]
    if p.get("message"):
        lines.append(f"message: {p['message']}")
    if p.get("state_reasons"):
        lines.append(f"printer-state-reasons={','.join(p['state_reasons'])}")
    return tuple(lines)


def _backlog(facts: Mapping[str, Any], name: str) -> tuple[str, ...]:
    active = [j for j in _jobs(facts, name) if not held_job(j)]
    if not active:
        return ()
    oldest = max(active, key=lambda j: j.get("age_s") or 0)
    return (f"{len(active)} job(s) waiting, oldest: {oldest['line']}",)


def _backend_stopped(p: Printer, facts: Mapping[str, Any], t: Mapping[str, float]) -> bool:
    if BACKEND_TROUBLE.search(p.get("message") or ""):
        return True
    return any("stopped due to backend errors" in e["message"] for e in _log(facts, p["name"], t))


def scheduler_rule(facts: Mapping[str, Any], t: Mapping[str, float], hv: Mapping[str, Any]) -> Iterator[Finding]:
    if _win(facts) is not None:
        yield from win_spooler_rule(facts, t, hv)
        return
    cups = _cups(facts)
    if not cups or cups.get("scheduler", {}).get("running"):
        return
    expected = bool(hv.get("print_server")) or bool(hv.get("printer_models"))
    if expected:
        yield Finding("printers.scheduler_down", Severity.CRITICAL, "the CUPS scheduler is not running",
                      (f"lpstat -r: {cups['scheduler'].get('message') or '(no output)'}",),
                      "start it: `systemctl start cups` (or `service cups start`), then "
                      "`journalctl -u cups` / /var/log/cups/error_log if it stops again", REPAIR)


def paused_rule(facts: Mapping[str, Any], t: Mapping[str, float], hv: Mapping[str, Any]) -> Iterator[Finding]:
    if _win(facts) is not None:
        yield from win_paused_rule(facts, t, hv)
        return
    for p in _printers(facts):
        if p["state"] == "stopped" and not _backend_stopped(p, facts, t):
            reason = p.get("message") or "no reason given"
            yield Finding("printers.paused", Severity.WARNING, f"printer {p['name']} is paused: {reason}",
                          _state_lines(p) + _backlog(facts, p["name"]),
                          f"cupsenable {p['name']}  (once the reason above is dealt with)", REPAIR)


def rejecting_rule(facts: Mapping[str, Any], t: Mapping[str, float], hv: Mapping[str, Any]) -> Iterator[Finding]:
    if _win(facts) is not None:
        return  # Windows queues do not reject jobs
    for p in _printers(facts):
        if not p.get("accepting", True):
            reason = p.get("message") or "no reason given"
            yield Finding("printers.rejecting", Severity.WARNING, f"printer {p['name']} rejects new jobs: {reason}",
                          (f"{p['name']}: printer-is-accepting-jobs=false", *_state_lines(p)),
                          f"cupsaccept {p['name']}  (or remove the queue if it was decommissioned: "
                          f"lpadmin -x {p['name']})", REPAIR)


def _missing_filter(p: Printer, log: list[Mapping[str, Any]]) -> tuple[str | None, list[str]]:
    texts = [p.get("message") or ""] + [e["message"] for e in log]
    lines: list[str] = []
    name = None
    for text, entry in zip(texts, [None, *log]):
        for regex in _MISSING_FILTER_RES:
            match = regex.search(text)
            if match:
                name = name or match.group(1)
                if entry is not None:
                    lines.append(_log_line(entry))
    return name, lines


def driver_missing_rule(facts: Mapping[str, Any], t: Mapping[str, float],
                        hv: Mapping[str, Any]) -> Iterator[Finding]:
    if _win(facts) is not None:
        return  # a Windows queue cannot exist without its driver; a driver that fails is printers.driver_failing
    for p in _printers(facts):
        name, lines = _missing_filter(p, _log(facts, p["name"], t))
        if "cups-missing-filter-warning" in p.get("state_reasons", ()) or name:
            shown = name or "(name not in the output)"
            yield Finding("printers.driver_missing", Severity.CRITICAL,
                          f"printer {p['name']}: driver filter {shown} is missing",
                          (*_state_lines(p), f"make-and-model: {p.get('make_and_model')}",
                           *list(dict.fromkeys(lines))[-3:],
                           *_backlog(facts, p["name"])),
                          f"reinstall the driver package that provides the filter {shown} for "
                          f"\"{p.get('make_and_model')}\" (`dpkg -S {shown}` / `rpm -qf` on a working host, "
                          f"or the vendor's package), then `cupsenable {p['name']}` and restart the stopped jobs")


def driver_crash_rule(facts: Mapping[str, Any], t: Mapping[str, float], hv: Mapping[str, Any]) -> Iterator[Finding]:
    if _win(facts) is not None:
        yield from win_print_failure_rule(facts, t, hv)
        return
    for p in _printers(facts):
        failed = [j for j in _jobs(facts, p["name"]) if "job-completed-with-errors" in (j.get("reasons") or ())]
        log = [e for e in _log(facts, p["name"], t)
               if "stopped due to filter errors" in e["message"] or _CRASHED_FILTER_RE.search(e["message"])]
        if not failed and not log:
            continue
        filters = {m.group(1) for e in log for m in [_CRASHED_FILTER_RE.search(e["message"])] if m}
        shown = ", ".join(sorted(filters)) or "its filter"
        errors = [e for e in _log(facts, p["name"], t) if e["level"] == "err" and e not in log][-2:]
        evidence = [f"{j['line']}  state={j.get('state')} reasons={','.join(j['reasons'])} "
                    f"message: {j.get('message') or ''}".rstrip() for j in failed[:3]]
        evidence += [_log_line(e) for e in (errors + log)[-4:]]
        yield Finding("printers.driver_crash", Severity.CRITICAL,
                      f"printer {p['name']}: driver {shown} fails on jobs", tuple(evidence),
                      f"reinstall or update the driver for \"{p.get('make_and_model')}\" (filter {shown}); "
                      f"the job messages above name what it lacks. Then `cupsenable {p['name']}` and "
                      f"`cancel -a {p['name']}` or restart the jobs")


def unreachable_rule(facts: Mapping[str, Any], t: Mapping[str, float], hv: Mapping[str, Any]) -> Iterator[Finding]:
    if _win(facts) is not None:
        yield from win_offline_rule(facts, t, hv)
        return
    for p in _printers(facts):
        stopped = p["state"] == "stopped" and _backend_stopped(p, facts, t)
        retrying = p["state"] != "stopped" and BACKEND_TROUBLE.search(p.get("message") or "")
        if not stopped and not retrying:
            continue
        log = [e for e in _log(facts, p["name"], t) if BACKEND_TROUBLE.search(e["message"])
               or "backend" in e["message"].lower()][-3:]
        how = "stopped after backend errors" if stopped else "the backend keeps retrying"
        yield Finding("printers.unreachable", Severity.CRITICAL if stopped else Severity.WARNING,
                      f"printer {p['name']} is unreachable ({how}): {p.get('device_uri')}",
                      (*_state_lines(p), f"device-uri={p.get('device_uri')}", *_backlog(facts, p["name"]),
                       *(_log_line(e) for e in log)),
                      f"check the device at {p.get('device_uri')} (power, network, address), then "
                      f"`cupsenable {p['name']}`" + ("" if stopped else "; the queued jobs print once it answers"))


def stuck_rule(facts: Mapping[str, Any], t: Mapping[str, float], hv: Mapping[str, Any]) -> Iterator[Finding]:
    if _win(facts) is not None:
        yield from win_stuck_rule(facts, t, hv)
        return
    limit = t["printer_stuck_minutes"] * 60
    for p in _printers(facts):
        if p["state"] == "stopped":
            continue  # paused / unreachable report a stopped queue and its backlog
        active = [j for j in _jobs(facts, p["name"]) if not held_job(j) and j.get("age_s") is not None]
        old = [j for j in active if j["age_s"] > limit]
        if old:
            oldest = max(old, key=lambda j: j["age_s"])
            yield Finding("printers.stuck_queue", Severity.WARNING,
                          f"printer {p['name']}: a job has waited {oldest['age_s'] // 60} min "
                          f"(limit {t['printer_stuck_minutes']:g} min)",
                          (*_state_lines(p), f"{len(active)} job(s) not completed; oldest: {oldest['line']}  "
                           f"state={oldest.get('state')} message: {oldest.get('message') or ''}".rstrip()),
                          f"look at the printer's message above and the device at {p.get('device_uri')}; "
                          f"`cupsenable {p['name']}`, or `cancel {oldest['job']}` to let the queue move", REPAIR)


def raw_rule(facts: Mapping[str, Any], t: Mapping[str, float], hv: Mapping[str, Any]) -> Iterator[Finding]:
    if _win(facts) is not None:
        yield from win_raw_rule(facts, t, hv)
        return
    models = expected_models(hv)
    for p in _printers(facts):
        want = models.get(p["name"])
        model = p.get("make_and_model") or ""
        if want is None or (not p.get("is_raw") and want.lower() in model.lower()):
            continue
        what = "is a raw queue (no driver)" if p.get("is_raw") else f"uses driver \"{model}\""
        yield Finding("printers.raw_queue", Severity.WARNING,
                      f"printer {p['name']} {what}; expected \"{want}\"",
                      (f"{p['name']}: printer-make-and-model='{model}'", f"PPD: {p.get('ppd') or 'none'}",
                       f"inventory printer_models.{p['name']}: {want}"),
                      f"reinstall the driver for \"{want}\": `lpinfo -m | grep -i '{want}'`, then "
                      f"`lpadmin -p {p['name']} -m MODEL` (a raw queue sends jobs to the printer unconverted)")


# --- Windows (the Spooler, Get-Printer, PrintService/Admin events) -------------------------------------------


def _printer(check_id: str, title: str, rule: Rule, thresholds: Mapping[str, float] | None = None,
             vars: Mapping[str, Any] | None = None, playbooks: tuple[str, ...] = ()) -> RuleCheck:
    return RuleCheck(check_id, title, ("printers",), rule, thresholds or {}, vars=vars or {}, playbooks=playbooks)


_LOG_T = {"printer_log_hours": 24.0}
PRINTER_CHECKS: tuple[RuleCheck, ...] = (
    _printer("printers.scheduler_down", "CUPS scheduler not running on a print server; the Windows Print Spooler "
             "stopped or disabled", scheduler_rule, vars={"print_server": False, "printer_models": {}},
             playbooks=(REPAIR, WIN_REPAIR)),
    _printer("printers.spooler_crashing", "Windows Print Spooler crashing (SCM 7031/7034, spoolsv.exe faults)",
             spooler_crash_rule, {"spooler_crash_hours": 168.0, "spooler_crashes_critical": 3.0},
             playbooks=(WIN_REPAIR,)),
    _printer("printers.driver_failing", "Windows printer driver failing to load or install (PrintService 808/215)",
             driver_failing_rule, _LOG_T, playbooks=(WIN_DRIVER,)),
    _printer("printers.paused", "printer paused (disabled), with the reason", paused_rule, _LOG_T,
             playbooks=(REPAIR, WIN_REPAIR)),
    _printer("printers.rejecting", "printer rejecting new jobs", rejecting_rule, playbooks=(REPAIR,)),
    _printer("printers.driver_missing", "driver filter missing", driver_missing_rule, _LOG_T),
    _printer("printers.driver_crash", "driver filter failing on jobs (Windows: PrintService 372)", driver_crash_rule,
             _LOG_T),
    _printer("printers.unreachable", "printer device unreachable (Windows: Offline)", unreachable_rule, _LOG_T),
    _printer("printers.device_error", "Windows printer reporting a device error (paper jam, paper out, door open ...)",
             device_error_rule),
    _printer("printers.stuck_queue", "jobs waiting longer than printer_stuck_minutes", stuck_rule,
                 {"printer_stuck_minutes": 15.0}, playbooks=(REPAIR, WIN_REPAIR)),
    _printer("printers.raw_queue", "queue lost its driver (raw where printer_models names a model)",
             raw_rule, vars={"printer_models": {}}),
)
