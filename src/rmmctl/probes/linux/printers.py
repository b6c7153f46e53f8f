"""Parser for the `printers` probe section (CUPS): scheduler, printers, unfinished jobs, error_log lines.

Sources (LC_ALL=C, see linux.sh): `lpstat -r`; per printer `lpoptions -p NAME` (one shell-quoted line
of IPP attributes); `lpstat -l -p` (message, Alerts, Interface); `lpstat -l -o` (unfinished jobs with
their submit time, status and reasons); `ipptool` Get-Jobs (true job states, when installed); the
E/W lines of /var/log/cups/error_log. Pure: no clock; ages come from the host's own `epoch`.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
import shlex
from collections.abc import Mapping, Sequence
from typing import Any

from rmmctl.facts import iso_utc
from rmmctl.probes.linux.bundle import parse_kv, split_parts

STATES = {"3": "idle", "4": "processing", "5": "stopped"}
"""IPP printer-state -> name."""
RAW_MODEL = "Local Raw Printer"
_JOB_RE = re.compile(r"^(\S+)-(\d+)\s+(\S+)\s+(\d+)\s+(\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4})$")
_PRINTER_RE = re.compile(r"^printer (\S+) ")
_LOG_RE = re.compile(r"^([EWID]) \[(\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4})\] (.*)$")
_LOG_LEVELS = {"E": "err", "W": "warning", "I": "info", "D": "debug"}
_LOG_PRINTER_RES = (re.compile(r"^([^\s:\[]+): "), re.compile(r'[Pp]rinter "([^"]+)"'),
                    re.compile(r"/printers/([^)\s/]+)"))


def parse_printers(body: str) -> dict[str, Any]:
    """The section body -> PrintersFacts (see rmmctl.facts.PrintersFacts)."""
    head, parts = split_parts(body)
    kv = parse_kv(head)
    epoch = int(kv["epoch"]) if kv.get("epoch", "").isdigit() else None
    offset = kv.get("utc_offset", "+0000")
    sched = parts.get("scheduler")
    sched_text = sched.text.strip() if sched else ""
    running = "scheduler is running" in sched_text
    jobs = parse_jobs(parts["jobs"].text if "jobs" in parts else "", offset, epoch)
    _merge_ipp(jobs, parts["ipp"].text if "ipp" in parts and parts["ipp"].rc == 0 else "")
    log_part = parts.get("log")
    log_ok = log_part is not None and log_part.rc == 0
    return {
        "epoch": epoch,
        "scheduler": {"running": running, "message": sched_text.splitlines()[0] if sched_text else ""},
        "printers": parse_printer_list(parts["options"].text if "options" in parts else "",
                                       parts["status"].text if "status" in parts else ""),
        "jobs": jobs,
        "log": parse_log(log_part.text, jobs, epoch) if log_ok and log_part else [],
        "log_error": None if log_ok or log_part is None else (log_part.text.strip() or "error_log not read"),
        "windows": None,
    }


def parse_options(line: str) -> dict[str, str]:
    """One `lpoptions -p NAME` line -> attribute dict (a bare key means an empty value)."""
    out: dict[str, str] = {}
    for token in shlex.split(line):
        key, _, value = token.partition("=")
        out[key] = value
    return out


def parse_status(text: str) -> dict[str, dict[str, Any]]:
    """`lpstat -l -p` (filtered by the probe) -> printer -> {message, alerts, interface}."""
    out: dict[str, dict[str, Any]] = {}
    current: dict[str, Any] | None = None
    for line in text.splitlines():
        match = _PRINTER_RE.match(line)
        if match:
            current = out.setdefault(match.group(1), {"message": None, "alerts": [], "interface": None,
                                                      "line": line.strip()})
            continue
        if current is None or not line.startswith("\t"):
            continue
        item = line.strip()
        if item.startswith("Alerts:"):
            current["alerts"] = [a for a in item[7:].split() if a != "none"]
        elif item.startswith("Interface:"):
            current["interface"] = item[10:].strip() or None
        elif current["message"] is None and item:
            current["message"] = item
    return out


def parse_printer_list(options_text: str, status_text: str) -> list[dict[str, Any]]:
    """`@@printer NAME` + lpoptions lines, joined with the lpstat status -> PrinterFacts list."""
    status = parse_status(status_text)
    printers: list[dict[str, Any]] = []
    name: str | None = None
    for line in options_text.splitlines():
        if line.startswith("@@printer "):
            name = line[10:].strip()
        elif name is not None and line.strip():
            printers.append(_printer(name, parse_options(line), status.get(name, {})))
            name = None
    return printers


def _printer(name: str, attrs: Mapping[str, str], status: Mapping[str, Any]) -> dict[str, Any]:
    model = attrs.get("printer-make-and-model") or None
    reasons = [r for r in attrs.get("printer-state-reasons", "").split(",") if r and r != "none"]
    return {
        "name": name,
        "state": STATES.get(attrs.get("printer-state", ""), "unknown"),
        "accepting": attrs.get("printer-is-accepting-jobs", "true") != "false",
        "state_reasons": reasons or list(status.get("alerts") or []),
        "message": status.get("message"),
        "device_uri": attrs.get("device-uri") or None,
        "make_and_model": model,
        "is_raw": model == RAW_MODEL or (model is None and status.get("interface") is None),
        "ppd": status.get("interface"),
        "info": attrs.get("printer-info") or None,
        "location": attrs.get("printer-location") or None,
        "status_line": status.get("line"),
    }


def _local_time(text: str, fmt: str, offset: str) -> float | None:
    try:
        stamp = dt.datetime.strptime(text, fmt)
        tz = dt.datetime.strptime(offset, "%z").tzinfo
    except ValueError:
        return None
    return (stamp if stamp.tzinfo else stamp.replace(tzinfo=tz)).timestamp()


def parse_jobs(text: str, offset: str, epoch: int | None) -> list[dict[str, Any]]:
    """`lpstat -l -o` -> PrintJob list (submit time in the host's zone, `offset` like +0100)."""
    jobs: list[dict[str, Any]] = []
    for line in text.splitlines():
        match = _JOB_RE.match(line.strip()) if not line.startswith("\t") else None
        if match:
            submitted = _local_time(" ".join(match.group(5).split()), "%a %b %d %H:%M:%S %Y", offset)
            jobs.append({
                "id": int(match.group(2)), "job": f"{match.group(1)}-{match.group(2)}", "printer": match.group(1),
                "user": match.group(3), "size": int(match.group(4)), "line": line.strip(),
                "submitted": iso_utc(submitted) if submitted is not None else None,
                "age_s": int(epoch - submitted) if submitted is not None and epoch is not None else None,
                "state": None, "reasons": [], "message": None,
            })  # fmt: skip
        elif jobs and line.startswith("\t"):
            _job_detail(jobs[-1], line.strip())
    return jobs


def _job_detail(job: dict[str, Any], item: str) -> None:
    if item.startswith("Status:"):
        job["message"] = item[7:].strip() or None
    elif item.startswith("Alerts:"):
        job["reasons"] = [r for r in item[7:].split() if r != "none"]
    elif item.startswith("queued for "):
        job["printer"] = item[11:].strip()  # the queue itself (the id prefix may be a class or an old name)


def _merge_ipp(jobs: Sequence[dict[str, Any]], text: str) -> None:
    """ipptool -c Get-Jobs CSV -> each job's true state (pending, processing-stopped, ...)."""
    by_id = {job["id"]: job for job in jobs}
    rows = list(csv.reader(text.splitlines()))
    for row in rows[1:]:
        if len(row) >= 2 and row[0].isdigit() and int(row[0]) in by_id:
            job = by_id[int(row[0])]
            job["state"] = row[1] or None
            if len(row) >= 3 and row[2]:
                job["reasons"] = [r for r in row[2].split(",") if r != "none"]
            if len(row) >= 4 and row[3]:
                job["message"] = row[3]


def parse_log(text: str, jobs: Sequence[Mapping[str, Any]], epoch: int | None) -> list[dict[str, Any]]:
    """error_log lines `L [dd/Mon/yyyy:HH:MM:SS +zzzz] msg` -> PrinterLogEntry list (oldest first).

    The probe keeps E and W lines, and the I/D lines that tell a backend stop or a filter's exit status.
    """
    job_printer = {job["id"]: job["printer"] for job in jobs}
    out: list[dict[str, Any]] = []
    for line in text.splitlines():
        match = _LOG_RE.match(line)
        if not match:
            continue
        stamp = _local_time(match.group(2), "%d/%b/%Y:%H:%M:%S %z", "+0000")
        message = match.group(3).replace('\\"', '"')
        job = re.match(r"^\[Job (\d+)\] ", message)
        job_id = int(job.group(1)) if job else None
        out.append({
            "time": iso_utc(stamp) if stamp is not None else None,
            "age_s": int(epoch - stamp) if stamp is not None and epoch is not None else None,
            "level": _LOG_LEVELS[match.group(1)],
            "printer": job_printer.get(job_id) if job_id is not None else _log_printer(message),
            "job": job_id, "message": message[job.end():] if job else message,
        })  # fmt: skip
    return out


def _log_printer(message: str) -> str | None:
    if message.startswith("["):
        match = _LOG_PRINTER_RES[2].search(message)
        return match.group(1) if match else None
    for regex in _LOG_PRINTER_RES:
        match = regex.search(message)
        if match:
            return match.group(1)
    return None
