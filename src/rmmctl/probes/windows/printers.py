"""Parser of the Windows `printers` section (ps/printers.ps1) into the OS-neutral PrintersFacts.

The scheduler is the Spooler service; printers come from Get-Printer (+ Get-PrinterPort's host address),
jobs from Get-PrintJob, the log from the PrintService/Admin events 808/215/372/99 and the Spooler's
crashes (SCM 7031/7034, Application Error 1000 for spoolsv.exe). What only Windows has (the start mode,
drivers and their load failures, the spool folder) sits in `windows`. Ages are against the host's own
clock at the probe (`now`), the controller's when the host gave none, so a skewed clock ages nothing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from rmmctl.facts import (
    PrinterFacts,
    PrinterLogEntry,
    PrintersFacts,
    PrintJob,
    WindowsDriverFailure,
    WindowsPrintDriver,
    WindowsPrintFacts,
)
from rmmctl.probes.windows.prober import ParseContext, parser
from rmmctl.probes.windows.shapes import as_dict, as_list, epoch, integer, iso, text

PRINTER_STATUS = ("Normal", "Paused", "Error", "PendingDeletion", "PaperJam", "PaperOut", "ManualFeed",
                  "PaperProblem", "Offline", "IOActive", "Busy", "Printing", "OutputBinFull", "NotAvailable",
                  "Waiting", "Processing", "Initializing", "WarmingUp", "TonerLow", "NoToner", "PagePunt",
                  "UserIntervention", "OutOfMemory", "DoorOpen", "ServerUnknown", "PowerSave")
"""MSFT_Printer.PrinterStatus by its value (what an uncast enum prints as)."""
PROCESSING = {"printing", "processing", "busy", "ioactive", "warmingup", "initializing", "waiting"}
NOT_STOPPING = {"normal", "tonerlow", "powersave", "pagepunt", *PROCESSING}
"""Statuses that leave the queue printing; every other one stops it (paused, offline, paper jam ...)."""
JOB_FLAGS = ((1, "Paused"), (2, "Error"), (4, "Deleting"), (8, "Spooling"), (16, "Printing"), (32, "Offline"),
             (64, "PaperOut"), (128, "Printed"), (256, "Deleted"), (512, "Blocked"), (1024, "UserIntervention"),
             (2048, "Restarted"), (4096, "Complete"), (8192, "Retained"), (16384, "RenderLocally"))
"""PrintJobStatus flags (what an uncast JobStatus prints as)."""
JOB_STOPPED = {"error", "offline", "paper-out", "blocked", "user-intervention"}
START_MODES = {"automatic": "auto", "auto": "auto", "manual": "manual", "disabled": "disabled",
               "boot": "boot", "system": "system", "0": "boot", "1": "system", "2": "auto", "3": "manual",
               "4": "disabled"}
"""StartType as printed, or as its ServiceStartMode int (the uncast trap) -> the neutral start_mode."""
SERVICE_STATES = {"1": "Stopped", "2": "StartPending", "3": "StopPending", "4": "Running", "5": "ContinuePending",
                  "6": "PausePending", "7": "Paused"}
ISOLATION = {0: "none", 1: "shared", 2: "isolated"}
_DLL = re.compile(r"([\w.-]+\.dll)\b", re.IGNORECASE)
_LEVELS = {1: "crit", 2: "err", 3: "warning", 4: "info", 5: "debug"}


def kebab(word: str) -> str:
    """`PaperJam` -> `paper-jam`, `IOActive` -> `io-active` (the reasons' CUPS-like spelling)."""
    return re.sub(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "-", word.strip()).lower()


def _words(value: Any, names: Sequence[str] | None = None, flags: Sequence[tuple[int, str]] = ()) -> list[str]:
    """An enum as printed ("Paused, Offline") or as its int (the uncast trap) -> its names."""
    n = integer(value) if not isinstance(value, str) or value.strip().lstrip("-").isdigit() else None
    if n is not None:
        if flags:
            return [name for bit, name in flags if n & bit]
        return [names[n]] if names and 0 <= n < len(names) else [str(n)]
    return [w.strip() for w in str(value or "").split(",") if w.strip()]


def _age(t: float | None, now: float) -> int | None:
    return None if t is None else max(0, int(now - t))


def _printer(p: Mapping[str, Any]) -> PrinterFacts:
    name = text(p.get("name")) or ""
    words = _words(p.get("status"), PRINTER_STATUS) or ["Normal"]
    low = {w.lower() for w in words}
    if low <= {"normal", "tonerlow", "powersave", "pagepunt"}:
        state = "idle"
    elif low <= NOT_STOPPING:
        state = "processing"
    else:
        state = "stopped"
    reasons = [kebab(w) for w in words if w.lower() != "normal"]
    port, host = text(p.get("port")), text(p.get("port_host"))
    uri = None if port is None else f"port:{port} ({host})" if host and host != port else f"port:{port}"
    status = ", ".join(words)
    return {
        "name": name,
        "state": state,
        "accepting": "pendingdeletion" not in low,
        "state_reasons": reasons,
        "message": None if low == {"normal"} else status,
        "device_uri": uri,
        "make_and_model": text(p.get("driver")),
        "is_raw": False,
        "ppd": None,
        "info": text(p.get("comment")),
        "location": text(p.get("location")),
        "status_line": f"Get-Printer: {name} PrinterStatus={status} JobCount={integer(p.get('jobs')) or 0} "
                       f"PortName={port or ''} DriverName={text(p.get('driver')) or ''}",
    }


def _job(j: Mapping[str, Any], now: float) -> PrintJob:
    words = _words(j.get("status"), flags=JOB_FLAGS)
    reasons = [kebab(w) for w in words if w.lower() != "normal"]
    rs = set(reasons)
    if rs & {"printed", "complete", "deleted"}:
        state = "completed"
    elif "paused" in rs:
        state = "pending-held"
    elif rs & JOB_STOPPED:
        state = "processing-stopped"
    elif rs & {"printing", "deleting"}:
        state = "processing"
    else:
        state = "pending"
    jid = integer(j.get("id")) or 0
    printer = text(j.get("printer")) or ""
    submitted = iso(j.get("submitted"))
    doc = text(j.get("document")) or ""
    user = text(j.get("user")) or ""
    size = integer(j.get("size")) or 0
    status = ", ".join(words) or "Normal"
    return {
        "id": jid, "job": f"{printer}-{jid}", "printer": printer, "user": user, "size": size,
        "submitted": submitted, "age_s": _age(epoch(j.get("submitted")), now), "state": state,
        "reasons": reasons, "message": None,
        "line": f"Get-PrintJob: {printer} job {jid} \"{doc}\" by {user}, {size} bytes, "
                f"{integer(j.get('pages')) or 0} page(s), JobStatus={status}, submitted {submitted or 'unknown'}",
    }


def _driver(d: Mapping[str, Any]) -> WindowsPrintDriver:
    iso_raw = d.get("isolation")
    n = integer(iso_raw)
    return {
        "name": text(d.get("name")) or "",
        "version": text(d.get("version")),
        "manufacturer": text(d.get("manufacturer")),
        "major_version": integer(d.get("major_version")),
        "environment": text(d.get("environment")),
        "inf_path": text(d.get("inf_path")),
        "isolation": ISOLATION.get(n, str(n)) if n is not None else text(iso_raw),
        "files": [f for f in (text(x) for x in as_list(d.get("files"))) if f],
    }


def _named(haystack: str, names: Sequence[str]) -> str | None:
    """The longest of `names` the text mentions (a printer or driver name in an event's message)."""
    low = haystack.lower()
    hits = [n for n in names if n and n.lower() in low]
    return max(hits, key=len) if hits else None


def _failure(e: Mapping[str, Any], now: float, printers: Sequence[PrinterFacts],
             drivers: Sequence[WindowsPrintDriver]) -> WindowsDriverFailure:
    message = text(e.get("message")) or ""
    params = [text(x) or "" for x in as_list(e.get("params"))]
    hay = " ".join([message, *params])
    dll = next((m.group(1) for m in [_DLL.search(hay)] if m), None)
    driver = _named(hay, [d["name"] for d in drivers])
    if driver is None and dll:
        owners = [d["name"] for d in drivers if dll.lower() in (f.lower() for f in d["files"])]
        driver = owners[0] if len(owners) == 1 else None
    printer = _named(hay, [p["name"] for p in printers])
    return {"time": iso(e.get("time")), "id": integer(e.get("id")) or 0, "driver": driver, "module": dll,
            "printer": printer, "message": message}


@parser("printers")
def parse_printers(data: Any, ctx: ParseContext) -> PrintersFacts:
    d = as_dict(data, "printers")
    host_now = epoch(d.get("now"))
    now = host_now if host_now is not None else ctx.controller_time
    spooler = d.get("spooler")
    sv = as_dict(spooler, "printers.spooler") if spooler is not None else {}
    status = text(sv.get("status"))
    status = SERVICE_STATES.get(status or "", status)
    start = text(sv.get("start_type"))
    start_mode = START_MODES.get((start or "").lower().replace(" ", ""), kebab(start) if start else None)
    running = (status or "").lower() == "running"
    if spooler is None:
        message = "Get-Service Spooler: the service could not be read"
    else:
        message = f"Get-Service Spooler: Status={status or 'unknown'} StartType={start or 'unknown'}"
    printers = [_printer(as_dict(p, "printers.printers[]")) for p in as_list(d.get("printers"))]
    drivers = [_driver(as_dict(x, "printers.drivers[]")) for x in as_list(d.get("drivers"))]
    jobs = [j for j in (_job(as_dict(x, "printers.jobs[]"), now) for x in as_list(d.get("jobs")))
            if j["state"] != "completed"]
    crashes = [{"time": iso(c.get("time")), "id": integer(c.get("id")) or 0, "source": text(c.get("source")) or "",
                "message": text(c.get("message")) or ""}
               for c in (as_dict(x, "printers.crashes[]") for x in as_list(d.get("crashes")))]
    crashes.sort(key=lambda c: c["time"] or "")
    events = [as_dict(x, "printers.events[]") for x in as_list(d.get("events"))]
    failures = sorted((_failure(e, now, printers, drivers) for e in events), key=lambda f: f["time"] or "")
    levels = {integer(e.get("id")): _LEVELS.get(integer(e.get("level")) or 2, "err") for e in events}
    log: list[PrinterLogEntry] = [
        {"time": c["time"], "age_s": _age(epoch(c["time"]), now), "level": "err", "printer": None, "job": None,
         "message": " ".join(f"{c['source']} {c['id']}: {c['message']}".split())} for c in crashes]
    log += [{"time": f["time"], "age_s": _age(epoch(f["time"]), now), "level": levels.get(f["id"], "err"),
             "printer": f["printer"], "job": None,
             "message": " ".join(f"PrintService/Admin {f['id']}: {f['message']}".split())}
            for f in failures]
    log.sort(key=lambda e: e["time"] or "")
    sp = d.get("spool")
    spool = None
    if sp is not None:
        s = as_dict(sp, "printers.spool")
        spool = {"files": integer(s.get("files")) or 0, "bytes": integer(s.get("bytes")) or 0,
                 "oldest_age_s": _age(epoch(s.get("oldest")), now)}
    windows: WindowsPrintFacts = {
        "spooler": {"state": kebab(status) if status else "unknown", "start_mode": start_mode,
                    "started": iso(sv.get("started")) if running else None},
        "crashes": crashes,  # type: ignore[typeddict-item]
        "drivers": drivers,
        "driver_failures": failures,
        "spool": spool,  # type: ignore[typeddict-item]
    }
    error = text(d.get("printers_error"))
    return {
        "epoch": None if host_now is None else int(host_now),
        "scheduler": {"running": running, "message": message},
        "printers": printers,
        "jobs": jobs,
        "log": log,
        "log_error": None if d.get("printers") is not None or error is None else error,
        "windows": windows,
    }
