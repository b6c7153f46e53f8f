"""Printer checks over the `printers` probe section: CUPS queues, or the Windows spooler (the section's
`windows` sub-dict is not null). Pure: no I/O, no clock.

Each finding names the queue, quotes the host's own lines (lpstat, lpoptions, the error_log; on Windows
Get-Service, Get-Printer, Get-PrintJob and the events) and gives the command that fixes it. Inventory
vars: `printer_stuck_minutes` (default 15), `printer_log_hours` (error_log lines and PrintService events
older than this are ignored, default 24), `printer_models` ({QUEUE: "model substring"}: the driver each
queue must have), `print_server` (true: a CUPS scheduler that is down is critical; set to false on a Windows
host, e.g. a domain controller whose spooler is off on purpose, it keeps quiet about the spooler),
`spooler_crash_hours` (168: the window of Spooler crashes counted) and `spooler_crashes_critical` (3).

Windows findings carry no `Finding.playbook` yet: their fixes name the playbook windows-spooler-repair in
the text until it is shipped and part of checks.base.PLAYBOOK_NAMES (tests/unit/test_finding_playbooks.py).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator, Mapping
from typing import Any

from rmmctl.checks.base import Finding, Rule, RuleCheck, Severity, capped_evidence
from rmmctl.errors import ConfigError
from rmmctl.facts import section

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
_HELD = ("job-hold-until-specified", "job-held-by-user", "job-hold-until-resources")


def _cups(facts: Mapping[str, Any]) -> Mapping[str, Any] | None:
    return section(facts, "printers")


def _win(facts: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The Windows detail of the printers section (None on CUPS hosts)."""
    cups = _cups(facts)
    return cups.get("windows") if cups else None


def _printers(facts: Mapping[str, Any]) -> list[Printer]:
    cups = _cups(facts)
    return list(cups.get("printers") or []) if cups and cups.get("scheduler", {}).get("running") else []


def _jobs(facts: Mapping[str, Any], name: str) -> list[Mapping[str, Any]]:
    return [j for j in (_cups(facts) or {}).get("jobs") or [] if j.get("printer") == name]


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
    active = [j for j in _jobs(facts, name) if not _held(j)]
    if not active:
        return ()
    oldest = max(active, key=lambda j: j.get("age_s") or 0)
    return (f"{len(active)} job(s) waiting, oldest: {oldest['line']}",)


def held_job(job: Mapping[str, Any]) -> bool:
    """A job someone held on purpose (never stuck, never cancelled by the printer module)."""
    return job.get("state") == "pending-held" or any(r in _HELD for r in job.get("reasons") or ())


_held = held_job


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
        active = [j for j in _jobs(facts, p["name"]) if not _held(j) and j.get("age_s") is not None]
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


def expected_models(hv: Mapping[str, Any]) -> dict[str, str]:
    """The `printer_models` inventory var ({QUEUE: "model substring"}), checked."""
    value = hv.get("printer_models") or {}
    if not isinstance(value, Mapping) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise ConfigError(f"vars.printer_models must map queue names to model text (QUEUE: \"HP LaserJet\"), "
                          f"got {value!r}")
    return dict(value)


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

WIN_REPAIR = "windows-spooler-repair"
"""The Windows playbook the fixes name in their text (not as Finding.playbook until it is shipped)."""
_DEVICE_FIX = {
    "paper-jam": "clear the paper jam at the device", "paper-out": "load paper", "paper-problem": "check the paper",
    "manual-feed": "feed the sheet the device waits for", "door-open": "close the device's door",
    "no-toner": "replace the toner", "output-bin-full": "empty the output tray",
    "user-intervention": "see the device's panel: it waits for someone",
    "out-of-memory": "the device ran out of memory: power-cycle it or print smaller jobs",
    "not-available": "the device is not available: check it is powered on and connected",
    "server-unknown": "the print server is unknown: check the connection to it",
    "error": "see the device's panel for the error",
}
_JOB_STUCK = {"error", "deleting", "blocked", "offline", "paper-out", "user-intervention"}


def ps_quote(value: str) -> str:
    """A PowerShell single-quoted string ('Bob''s HP')."""
    return "'" + value.replace("'", "''") + "'"


def _one_line(text: str, limit: int = 300) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _win_printers(facts: Mapping[str, Any]) -> list[Printer]:
    return list((_cups(facts) or {}).get("printers") or [])


def _win_recent(items: list[Mapping[str, Any]], hours: float, facts: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """Events no older than `hours` by the host's clock at the probe (`epoch`); kept when either is unknown."""
    now = (_cups(facts) or {}).get("epoch")

    def age(item: Mapping[str, Any]) -> float | None:
        try:
            when = dt.datetime.fromisoformat(str(item.get("time")).replace("Z", "+00:00")).timestamp()
        except ValueError:
            return None
        return None if now is None else now - when

    return [i for i in items if (a := age(i)) is None or a <= hours * 3600]


def _spool_line(win: Mapping[str, Any]) -> tuple[str, ...]:
    spool = win.get("spool")
    if not spool or not spool.get("files"):
        return ()
    age = spool.get("oldest_age_s")
    oldest = f", oldest {age // 60} min old" if age is not None else ""
    line = (f"spool folder %SystemRoot%\\System32\\spool\\PRINTERS: {spool['files']} file(s), "
            f"{spool.get('bytes', 0)} bytes{oldest}")
    return (line,)


def _win_backlog(facts: Mapping[str, Any], name: str) -> tuple[str, ...]:
    jobs = [j for j in _jobs(facts, name) if not _held(j)]
    if not jobs:
        return ()
    oldest = max(jobs, key=lambda j: j.get("age_s") or 0)
    return (f"{len(jobs)} job(s) waiting, oldest: {oldest['line']}",)


def win_spooler_rule(facts: Mapping[str, Any], t: Mapping[str, float], hv: Mapping[str, Any]) -> Iterator[Finding]:
    cups, win = _cups(facts) or {}, _win(facts) or {}
    spooler = win.get("spooler") or {}
    state, mode = spooler.get("state") or "unknown", spooler.get("start_mode")
    if state == "unknown" or (state == "running" and mode != "disabled"):
        return
    if "print_server" in hv and not hv["print_server"]:
        return  # said to print nothing (a domain controller whose spooler is off against PrintNightmare)
    what = "stopped" if state != "running" else "running but disabled (it will not start again)"
    if state != "running" and mode == "disabled":
        what = "stopped and disabled"
    evidence = [cups["scheduler"]["message"]]
    if cups.get("log_error"):
        evidence.append(f"Get-Printer: {cups['log_error']}")
    evidence += _spool_line(win)
    yield Finding("printers.scheduler_down", Severity.CRITICAL, f"the Print Spooler is {what}", tuple(evidence),
                  "`Set-Service Spooler -StartupType Automatic; Start-Service Spooler` (or the playbook "
                  f"{WIN_REPAIR}); if it stops again see the spooler crash and driver findings. A spooler "
                  "off on purpose (a domain controller): set `print_server: false` for this host")


def spooler_crash_rule(facts: Mapping[str, Any], t: Mapping[str, float], hv: Mapping[str, Any]) -> Iterator[Finding]:
    win = _win(facts)
    if win is None:
        return
    hours = t.get("spooler_crash_hours", 168.0)
    crashes = _win_recent(list(win.get("crashes") or []), hours, facts)
    fatal = _win_recent([f for f in win.get("driver_failures") or [] if f.get("id") == 99], hours, facts)
    count = len([c for c in crashes if c.get("id") in (7031, 7034)]) or len(crashes)
    if not crashes and not fatal:
        return
    modules = list(dict.fromkeys(m.group(1) for c in crashes
                                 for m in [re.search(r"Faulting module name: ([^,\s]+)", c.get("message") or "")] if m))
    loads = list(dict.fromkeys(f.get("module") for f in win.get("driver_failures") or []
                               if f.get("id") == 808 and f.get("module")))
    suspects = modules + [m for m in loads if m not in modules]
    where = (f" (faulting module {', '.join(modules)})" if modules
             else f" (a plug-in failed to load: {', '.join(loads)})" if loads else "")
    owners = [d["name"] for d in win.get("drivers") or [] for m in suspects
              if m.lower() in (x.lower() for x in d.get("files") or ())]
    severity = Severity.CRITICAL if count >= t.get("spooler_crashes_critical", 3.0) else Severity.WARNING
    title = f"the Print Spooler crashed {count} time(s) in {hours:g} h{where}"
    evidence = [f"{c.get('time')} {c.get('source')} {c.get('id')}: {_one_line(c.get('message') or '')}"
                for c in crashes] + [f"{f.get('time')} PrintService/Admin 99: {_one_line(f.get('message') or '')}"
                                     for f in fatal]
    driver = f"update or remove the driver {', '.join(dict.fromkeys(owners))} that ships it" if owners else \
        "find the driver behind the crash (the printers.driver_failing finding; `Get-PrinterDriver | Where-Object " \
        "DependentFiles -match 'MODULE.dll'`) and update or remove it"
    yield Finding("printers.spooler_crashing", severity, title, capped_evidence(evidence, limit=12),
                  f"{driver} (win_printer module: replace the driver from a driver store path), or set its "
                  "isolation to Isolated in printmanagement.msc so it cannot take the spooler down; the "
                  f"playbook {WIN_REPAIR} restarts the spooler and clears the queue meanwhile")


def driver_failing_rule(facts: Mapping[str, Any], t: Mapping[str, float], hv: Mapping[str, Any]) -> Iterator[Finding]:
    win = _win(facts)
    if win is None:
        return
    fails = _win_recent([f for f in win.get("driver_failures") or [] if f.get("id") in (808, 215)],
                        t.get("printer_log_hours", 24.0), facts)
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for f in fails:
        groups.setdefault(f.get("driver") or f.get("module") or "(not named in the event)", []).append(f)
    drivers = {d["name"]: d for d in win.get("drivers") or []}
    for name, events in groups.items():
        users = [p["name"] for p in _win_printers(facts) if p.get("make_and_model") == name]
        driver = drivers.get(name)
        modules = sorted({f["module"] for f in events if f.get("module")})
        what = "fails to load" if any(f.get("id") == 808 for f in events) else "failed to install"
        known = any(f.get("driver") for f in events)
        if known:
            title = f"printer driver {name} {what}" + (f" ({', '.join(modules)})" if modules else "")
        elif modules:
            title = f"a printer driver's module {name} {what} (driver not identified)"
        else:
            title = f"a printer driver {what} (the events name neither the driver nor its module)"
        title += f", {len(events)} event(s)"
        evidence = [f"{f.get('time')} PrintService/Admin {f.get('id')}: {_one_line(f.get('message') or '')}"
                    for f in events[-4:]]
        if driver:
            evidence.append(f"Get-PrinterDriver: {name} version {driver.get('version')} ({driver.get('environment')}, "
                            f"v{driver.get('major_version')}, isolation {driver.get('isolation') or 'default'}) "
                            f"INF {driver.get('inf_path')}")
        if known:
            evidence.append(f"printers using it: {', '.join(users)}" if users else "no printer uses it")
        if not known:
            yield Finding("printers.driver_failing", Severity.WARNING, title, tuple(evidence),
                          ("find the driver that ships it: `Get-PrinterDriver | Where-Object DependentFiles -match "
                           f"{ps_quote(re.escape(name))}`" if modules else "find the driver in the events' details "
                           "(Event Viewer, PrintService/Admin)") + ", then reinstall or replace that driver (win_printer module) "
                          f"and restart the spooler (the playbook {WIN_REPAIR})")
            continue
        yield Finding("printers.driver_failing", Severity.CRITICAL if users else Severity.WARNING, title,
                      tuple(evidence),
                      f"reinstall or replace the driver {name} from the vendor's current package (win_printer "
                      f"module: driver from a driver store path; by hand `pnputil /add-driver NEW.inf /install`, "
                      f"`Add-PrinterDriver -Name {ps_quote(name)}`"
                      + (f", `Set-Printer -Name {ps_quote(users[0])} -DriverName NEWNAME`" if users else "")
                      + f"), then restart the spooler (the playbook {WIN_REPAIR})")


def win_print_failure_rule(facts: Mapping[str, Any], t: Mapping[str, float],
                           hv: Mapping[str, Any]) -> Iterator[Finding]:
    win = _win(facts) or {}
    fails = _win_recent([f for f in win.get("driver_failures") or [] if f.get("id") == 372],
                        t.get("printer_log_hours", 24.0), facts)
    for p in _win_printers(facts):
        mine = [f for f in fails if f.get("printer") == p["name"]]
        if not mine:
            continue
        yield Finding("printers.driver_crash", Severity.CRITICAL,
                      f"printer {p['name']}: {len(mine)} document(s) failed to print (driver {p.get('make_and_model')})",
                      (p["status_line"], *(f"{f.get('time')} PrintService/Admin 372: {_one_line(f.get('message') or '')}"
                                           for f in mine[-3:])),
                      f"the driver {p.get('make_and_model')} or its print processor fails on {p['name']}'s jobs: "
                      f"update or reinstall the driver (win_printer module), check the port {p.get('device_uri')}; "
                      f"then `Get-PrintJob -PrinterName {ps_quote(p['name'])} | Restart-PrintJob`")


def win_paused_rule(facts: Mapping[str, Any], t: Mapping[str, float], hv: Mapping[str, Any]) -> Iterator[Finding]:
    for p in _win_printers(facts):
        if "paused" in (p.get("state_reasons") or ()):
            yield Finding("printers.paused", Severity.WARNING, f"printer {p['name']} is paused",
                          (p["status_line"], *_win_backlog(facts, p["name"])),
                          f"resume it: `Get-CimInstance Win32_Printer | Where-Object Name -eq {ps_quote(p['name'])} | "
                          f"Invoke-CimMethod -MethodName Resume` (or the win_printer module, state resumed)")


def win_offline_rule(facts: Mapping[str, Any], t: Mapping[str, float], hv: Mapping[str, Any]) -> Iterator[Finding]:
    for p in _win_printers(facts):
        if "offline" not in (p.get("state_reasons") or ()):
            continue
        backlog = _win_backlog(facts, p["name"])
        uri = p.get("device_uri") or ""
        host = uri.partition("(")[2].rstrip(")") if "(" in uri else None
        port = uri.removeprefix("port:").partition(" (")[0]
        reach = (f"`Test-NetConnection {host} -Port 9100` (power, network, address)" if host
                 else f"the device behind port {port} (power, cable, address)")
        wsd = "; a WSD port goes offline when the device's address changes: use a Standard TCP/IP port" \
            if port.upper().startswith("WSD") else ""
        yield Finding("printers.unreachable", Severity.CRITICAL if backlog else Severity.WARNING,
                      f"printer {p['name']} is offline: {uri}", (p["status_line"], f"port: {uri}", *backlog),
                      f"check {reach}{wsd}; if the device answers, the Offline status comes from the port's SNMP "
                      "status: check its SNMP community or turn SNMP status off on the port (printmanagement.msc)")


def device_error_rule(facts: Mapping[str, Any], t: Mapping[str, float], hv: Mapping[str, Any]) -> Iterator[Finding]:
    if _win(facts) is None:
        return
    for p in _win_printers(facts):
        wrong = [r for r in p.get("state_reasons") or () if r in _DEVICE_FIX]
        if not wrong or p.get("state") != "stopped":
            continue
        fixes = "; ".join(_DEVICE_FIX[r] for r in wrong)
        yield Finding("printers.device_error", Severity.WARNING,
                      f"printer {p['name']} reports {p.get('message') or ', '.join(wrong)}",
                      (p["status_line"], f"port: {p.get('device_uri')}", *_win_backlog(facts, p["name"])),
                      f"at the device ({p.get('location') or p.get('device_uri')}): {fixes}; the queue prints once "
                      f"it is cleared (`Get-PrintJob -PrinterName {ps_quote(p['name'])} | Restart-PrintJob` for a "
                      "job in error)")


def win_stuck_rule(facts: Mapping[str, Any], t: Mapping[str, float], hv: Mapping[str, Any]) -> Iterator[Finding]:
    limit = t["printer_stuck_minutes"] * 60
    win = _win(facts) or {}
    any_old = False
    for p in _win_printers(facts):
        jobs = [j for j in _jobs(facts, p["name"]) if not _held(j) and j.get("age_s") is not None]
        old = [j for j in jobs if j["age_s"] > limit]
        if not old:
            continue
        any_old = True
        oldest = max(old, key=lambda j: j["age_s"])
        bad = [j for j in old if set(j.get("reasons") or ()) & _JOB_STUCK]
        yield Finding("printers.stuck_queue", Severity.WARNING,
                      f"printer {p['name']}: a job has waited {oldest['age_s'] // 60} min "
                      f"(limit {t['printer_stuck_minutes']:g} min)",
                      (p["status_line"], *(f"{j['line']} (age {j['age_s'] // 60} min)" for j in old[:5]),
                       *_spool_line(win)),
                      f"remove the job: `Remove-PrintJob -PrinterName {ps_quote(p['name'])} -ID {(bad or [oldest])[0]['id']}`"
                      f", or the playbook {WIN_REPAIR} (stops the spooler, clears the spool folder, starts it)")
    spool = win.get("spool") or {}
    age = spool.get("oldest_age_s")
    cups = _cups(facts) or {}
    if (not any_old and age is not None and age > limit and cups.get("scheduler", {}).get("running")
            and cups.get("log_error") is None):
        yield Finding("printers.stuck_queue", Severity.WARNING,
                      f"spool folder: {spool.get('files')} file(s) older than {t['printer_stuck_minutes']:g} min "
                      f"without a job waiting that long", (*_spool_line(win), cups["scheduler"]["message"]),
                      f"orphaned spool files (left by a crash): the playbook {WIN_REPAIR} stops the spooler, "
                      "clears %SystemRoot%\\System32\\spool\\PRINTERS and starts it")


def win_raw_rule(facts: Mapping[str, Any], t: Mapping[str, float], hv: Mapping[str, Any]) -> Iterator[Finding]:
    models = expected_models(hv)
    for p in _win_printers(facts):
        want, model = models.get(p["name"]), p.get("make_and_model") or ""
        if want is None or want.lower() in model.lower():
            continue
        yield Finding("printers.raw_queue", Severity.WARNING, f"printer {p['name']} uses driver \"{model}\"; "
                      f"expected \"{want}\"", (p["status_line"], f"inventory printer_models.{p['name']}: {want}"),
                      f"install the driver for \"{want}\" and switch the queue to it: `Set-Printer -Name "
                      f"{ps_quote(p['name'])} -DriverName {ps_quote(want)}` (the exact name from Get-PrinterDriver)")


def _printer(check_id: str, title: str, rule: Rule, thresholds: Mapping[str, float] | None = None,
             vars: Mapping[str, Any] | None = None, playbooks: tuple[str, ...] = ()) -> RuleCheck:
    return RuleCheck(check_id, title, ("printers",), rule, thresholds or {}, vars=vars or {}, playbooks=playbooks)


_LOG_T = {"printer_log_hours": 24.0}
PRINTER_CHECKS: tuple[RuleCheck, ...] = (
    _printer("printers.scheduler_down", "CUPS scheduler not running on a print server; the Windows Print Spooler "
             "stopped or disabled", scheduler_rule, vars={"print_server": False, "printer_models": {}},
             playbooks=(REPAIR,)),
    _printer("printers.spooler_crashing", "Windows Print Spooler crashing (SCM 7031/7034, spoolsv.exe faults)",
             spooler_crash_rule, {"spooler_crash_hours": 168.0, "spooler_crashes_critical": 3.0}),
    _printer("printers.driver_failing", "Windows printer driver failing to load or install (PrintService 808/215)",
             driver_failing_rule, _LOG_T),
    _printer("printers.paused", "printer paused (disabled), with the reason", paused_rule, _LOG_T,
             playbooks=(REPAIR,)),
    _printer("printers.rejecting", "printer rejecting new jobs", rejecting_rule, playbooks=(REPAIR,)),
    _printer("printers.driver_missing", "driver filter missing", driver_missing_rule, _LOG_T),
    _printer("printers.driver_crash", "driver filter failing on jobs (Windows: PrintService 372)", driver_crash_rule,
             _LOG_T),
    _printer("printers.unreachable", "printer device unreachable (Windows: Offline)", unreachable_rule, _LOG_T),
    _printer("printers.device_error", "Windows printer reporting a device error (paper jam, paper out, door open ...)",
             device_error_rule),
    _printer("printers.stuck_queue", "jobs waiting longer than printer_stuck_minutes", stuck_rule,
                 {"printer_stuck_minutes": 15.0}, playbooks=(REPAIR,)),
    _printer("printers.raw_queue", "queue lost its driver (raw where printer_models names a model)",
             raw_rule, vars={"printer_models": {}}),
)
