"""The Windows printer rules ("the spooler first") over the printers section's `windows` part (the Print
Spooler, its crashes, drivers and their load failures, the spool folder) and the queues and jobs of
Get-Printer and Get-PrintJob. Pure. The rule table and the CUPS rules are in checks.printers, which hands
a Windows host's facts to these rules. Findings name the shipped playbooks windows-spooler-repair (the
spooler, stuck jobs and spool files, paused printers) and windows-printer-driver (a driver that fails to
load, reinstalled from its own INF in the driver store, then the spooler restarted).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator, Mapping
from typing import Any

from rmmctl.checks.base import Finding, Severity, capped_evidence
from rmmctl.checks.printers_common import expected_models, held_job
from rmmctl.checks.printers_common import jobs_of as _jobs
from rmmctl.checks.printers_common import printers_section as _cups
from rmmctl.checks.printers_common import windows_part as _win

Printer = Mapping[str, Any]

WIN_REPAIR = "windows-spooler-repair"
"""Restarts the spooler, clears stuck spool files, resumes paused printers."""
WIN_DRIVER = "windows-printer-driver"
"""Reinstalls each driver that failed to load since the spooler started, from its INF, and restarts the spooler."""
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


def _since_start(items: list[Mapping[str, Any]], win: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """Events since spoolsv.exe last started: a driver loads when the spooler starts, so a failure from before
    is history once it restarted (after a repair); all of them when the start time is unknown."""
    started = (win.get("spooler") or {}).get("started")
    if not started:
        return items
    return [i for i in items if not i.get("time") or str(i["time"]) >= str(started)]


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
    jobs = [j for j in _jobs(facts, name) if not held_job(j)]
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
                  "off on purpose (a domain controller): set `print_server: false` for this host", playbook=WIN_REPAIR)


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
                  f"playbook {WIN_REPAIR} restarts the spooler and clears the queue meanwhile", playbook=WIN_REPAIR)


def driver_failing_rule(facts: Mapping[str, Any], t: Mapping[str, float], hv: Mapping[str, Any]) -> Iterator[Finding]:
    win = _win(facts)
    if win is None:
        return
    fails = _since_start(_win_recent([f for f in win.get("driver_failures") or [] if f.get("id") in (808, 215)],
                                     t.get("printer_log_hours", 24.0), facts), win)
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
                      + f"), then restart the spooler; the playbook {WIN_DRIVER} reinstalls it from its own INF "
                      "in the driver store and restarts the spooler", playbook=WIN_DRIVER)


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
                          f"Invoke-CimMethod -MethodName Resume` (or the playbook {WIN_REPAIR}, which resumes "
                          "paused printers)", playbook=WIN_REPAIR)


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
        jobs = [j for j in _jobs(facts, p["name"]) if not held_job(j) and j.get("age_s") is not None]
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
                      f", or the playbook {WIN_REPAIR} (stops the spooler, clears the spool folder, starts it)", playbook=WIN_REPAIR)
    spool = win.get("spool") or {}
    age = spool.get("oldest_age_s")
    cups = _cups(facts) or {}
    if (not any_old and age is not None and age > limit and cups.get("scheduler", {}).get("running")
            and cups.get("log_error") is None):
        yield Finding("printers.stuck_queue", Severity.WARNING,
                      f"spool folder: {spool.get('files')} file(s) older than {t['printer_stuck_minutes']:g} min "
                      f"without a job waiting that long", (*_spool_line(win), cups["scheduler"]["message"]),
                      f"orphaned spool files (left by a crash): the playbook {WIN_REPAIR} stops the spooler, "
                      "clears %SystemRoot%\\System32\\spool\\PRINTERS and starts it", playbook=WIN_REPAIR)


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
