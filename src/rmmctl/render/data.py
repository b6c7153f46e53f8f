"""Machine-readable output: the versioned JSON envelope (docs/json.md), ndjson, YAML and CSV. No rich here."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence, TextIO

import yaml

from rmmctl.errors import exit_code_for
from rmmctl.formats import iso_utc, to_jsonable  # noqa: F401 - re-exported
from rmmctl.models import HostResult, RunReport, Status
from rmmctl.render.values import iso_out

SCHEMA = "rmmctl/v1"
STATUS_KEYS = tuple(s.value for s in Status)


Getter = Callable[[HostResult], object]


@dataclass(frozen=True)
class Column:
    """One command-specific column: a table cell for people and raw CSV cells for machines.

    `get` gives the raw value (what JSON holds: numbers as measured); `show` turns it into the table's
    display form (default: the raw value as text). `key` is the CSV header (default: the table header in
    snake_case); `csv` replaces the single (key, get) pair when one table cell holds several raw values,
    e.g. Updates "133 (91 sec)" -> `updates_pending`, `updates_security`. `style_of` colours the cell;
    `priority` says which columns a narrow terminal keeps (highest first, then the leftmost)."""

    header: str
    get: Getter
    justify: str = "left"
    style_of: Callable[[HostResult], str | None] | None = None
    key: str | None = None
    show: Callable[[Any], object] | None = None
    csv: tuple[tuple[str, Getter], ...] | None = None
    priority: int = 0

    def value(self, result: HostResult) -> object:
        """The raw value; a getter that fails on a host without that data gives None (an empty cell)."""
        return _safe_get(self.get, result)

    def display(self, result: HostResult) -> object:
        """The table's form of the value (None: no value)."""
        value = self.value(result)
        if value is None or self.show is None:
            return value
        try:
            return self.show(value)
        except (LookupError, TypeError, AttributeError, ValueError):
            return value

    def fields(self) -> tuple[tuple[str, Getter], ...]:
        """The CSV columns: (header, raw getter) pairs."""
        return self.csv if self.csv is not None else ((self.key or snake(self.header), self.get),)


def _safe_get(get: Getter, result: HostResult) -> object:
    try:
        return get(result)
    except (LookupError, TypeError, AttributeError):
        return None


def snake(header: str) -> str:
    """A machine-friendly header: "Remote host" -> "remote_host", "CPU %" -> "cpu_pct", "RTT ms" -> "rtt_ms"."""
    text = header.replace("%", " pct ").replace("/", " ").lower()
    return "_".join("".join(ch if ch.isalnum() else " " for ch in text).split()) or "value"


def host_dict(result: HostResult) -> dict[str, Any]:
    """One host of the envelope: name, address, status, error (null or kind+message), duration_s, data."""
    error = {"kind": result.error.kind, "message": result.error.message} if result.error else None
    return {
        "name": result.name,
        "address": result.address,
        "status": result.status.value,
        "error": error,
        "duration_s": round(result.duration_s, 3),
        "data": to_jsonable(result.data),
    }


def summary(report: RunReport, exit_code: int) -> dict[str, Any]:
    """Counts per status (every status present), the host total, the exit code and run_interrupted (a play:
    batches, stopped_after_batch, stop_reason)."""
    counts = report.counts()
    out: dict[str, Any] = {key: counts.get(key, 0) for key in STATUS_KEYS}
    out.update(hosts=len(report.hosts), exit_code=int(exit_code), run_interrupted=report.interrupted)
    if report.batches:  # a play: its batches (`serial`), and whether max_fail_percentage stopped it
        out.update(batches=report.batches, stopped_after_batch=report.stopped_after_batch,
                   stop_reason=report.stop_reason or None)
    return out


def envelope(report: RunReport, exit_code: int) -> dict[str, Any]:
    """The whole `-o json` document of a run (schema rmmctl/v1)."""
    return {
        "schema": SCHEMA,
        "command": report.command,
        "started_at": iso_utc(report.started_at),
        "duration_s": round(report.duration_s, 3),
        "hosts": [host_dict(h) for h in report.hosts],
        "summary": summary(report, exit_code),
    }


def summary_line(report: RunReport, exit_code: int | None = None) -> dict[str, Any]:
    """The last ndjson line; exit_code defaults to exit_code_for(report)."""
    code = exit_code_for(report) if exit_code is None else exit_code
    return {
        "type": "summary",
        "schema": SCHEMA,
        "command": report.command,
        "started_at": iso_utc(report.started_at),
        "duration_s": round(report.duration_s, 3),
        "summary": summary(report, code),
    }


def write_json(doc: Mapping[str, Any], stream: TextIO) -> None:
    """One JSON document with sorted keys, then a newline: indented on a terminal, on one line otherwise.

    One line is what a script or `jq` reads anyway, and it is ~10x cheaper: Python's json module has a
    C encoder only for documents without indentation (a 100-host status document: ~1 ms per host saved).
    """
    indent = 2 if _isatty(stream) else None
    stream.write(json.dumps(doc, sort_keys=True, indent=indent, ensure_ascii=False) + "\n")
    stream.flush()


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError, OSError):
        return False


def _write_line(doc: Mapping[str, Any], stream: TextIO) -> None:
    stream.write(json.dumps(doc, sort_keys=True, ensure_ascii=False, separators=(",", ":")) + "\n")
    stream.flush()


def write_ndjson_host(result: HostResult, stream: TextIO) -> None:
    """One `{"type": "host", ...}` line, flushed at once: ndjson streams hosts as they finish."""
    _write_line({"type": "host", **host_dict(result)}, stream)


def write_ndjson_event(event: Mapping[str, Any], stream: TextIO) -> None:
    """One event line as it happens (a play's `{"type": "task", ...}`), flushed at once."""
    _write_line(dict(event), stream)


def write_ndjson_summary(report: RunReport, exit_code: int, stream: TextIO) -> None:
    """The closing `{"type": "summary", ...}` line of an ndjson stream."""
    _write_line(summary_line(report, exit_code), stream)


def write_yaml(doc: Mapping[str, Any], stream: TextIO) -> None:
    """The same document as JSON, as YAML (safe_dump, sorted keys, block style)."""
    yaml.safe_dump(to_jsonable(doc), stream, sort_keys=True, allow_unicode=True, default_flow_style=False)
    stream.flush()


CSV_FIXED = ("name", "address", "status", "error_kind", "error_message")


def flatten(value: object) -> str:
    """A CSV cell: None -> "", booleans lower-case, lists joined with ';', mappings as compact JSON."""
    value = to_jsonable(value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ";".join(flatten(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return str(value)


def write_csv(report: RunReport, columns: Sequence[Column], stream: TextIO) -> None:
    """One header row, then one row per host: the fixed fields, then each column's raw fields."""
    writer = csv.writer(stream, lineterminator="\n")
    fields = [f for c in columns for f in c.fields()]
    writer.writerow([*CSV_FIXED, *(key for key, _ in fields)])
    for h in report.hosts:
        kind, message = (h.error.kind, h.error.message) if h.error else ("", "")
        cells = [flatten(_safe_get(get, h)) for _, get in fields]
        writer.writerow([h.name, h.address, h.status.value, kind, message, *cells])
    stream.flush()


def write_csv_rows(rows: Sequence[Mapping[str, Any]], stream: TextIO) -> None:
    """CSV for documents that are not per-host runs: the union of the rows' keys as header."""
    header: list[str] = []
    for row in rows:
        header.extend(k for k in row if k not in header)
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([flatten(row.get(k, "")) for k in header])
    stream.flush()


TIME_FIELDS = frozenset({"started_at", "finished_at", "at", "first_seen", "last_seen", "resolved_at", "checked_at",
                         "since"})


def stored_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """A history row as scripts see it: its timestamps in the one format (formats.iso_utc: milliseconds and
    Z, whatever the store keeps internally) and durations rounded to milliseconds, like every document."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        if key in TIME_FIELDS:
            value = iso_out(value)
        elif key == "duration_s" and isinstance(value, float):
            value = round(value, 3)
        elif key == "hosts" and isinstance(value, list):
            value = [stored_row(v) if isinstance(v, Mapping) else v for v in value]
        out[key] = value
    return out
