"""The Linux prober's pure half: the section -> parser table and the framed output -> Facts."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from rmmctl.facts import Facts, unavailable
from rmmctl.probes import ParseError
from rmmctl.probes.linux.bundle import UNAVAILABLE_RC, reason_of, script_blocks, split_sections
from rmmctl.probes.linux.files import parse_av, parse_backup
from rmmctl.probes.linux.logs import parse_logs
from rmmctl.probes.linux.packages import parse_reboot, parse_updates
from rmmctl.probes.linux.printers import parse_printers
from rmmctl.probes.linux.storage import parse_filesystems, parse_processes
from rmmctl.probes.linux.system import (
    parse_cpu,
    parse_host,
    parse_memory,
    parse_os,
    parse_services,
    parse_time,
    parse_uptime,
)

PARSERS: dict[str, Callable[[str], Mapping[str, Any]]] = {
    "time": parse_time,
    "host": parse_host,
    "os": parse_os,
    "uptime": parse_uptime,
    "memory": parse_memory,
    "filesystems": parse_filesystems,
    "services": parse_services,
    "logs": parse_logs,
    "reboot": parse_reboot,
    "updates": parse_updates,
    "backup": parse_backup,
    "av": parse_av,
    "printers": parse_printers,
    "cpu": parse_cpu,
    "processes": parse_processes,
}
"""Section -> pure parser (section body text -> JSON-safe facts dict)."""

SECTIONS: tuple[str, ...] = tuple(script_blocks()[1])
"""Every section, in the order the script runs them (time first for the skew, cpu/processes last)."""

FAST_SECTIONS: tuple[str, ...] = tuple(s for s in SECTIONS if s != "updates")
"""All sections but `updates` (apt list costs about 1 s): well under 0.5 s in total."""


def parse_section(name: str, rc: int | None, body: str) -> Any:
    """One section's facts: `{"unavailable": reason}` for rc 3, else its parser's result (may raise ParseError)."""
    if rc == UNAVAILABLE_RC:
        return unavailable(reason_of(body))
    try:
        return PARSERS[name](body)
    except ParseError:
        raise
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise ParseError(f"{name}: cannot parse the probe output ({type(exc).__name__}: {exc})") from exc


def parse_output(stdout: str, nonce: str, sections: Sequence[str], *, controller_time: float) -> Facts:
    """Framed probe output -> Facts; a missing, cut-off or unparsable section lands in `errors`.

    controller_time: the controller's unix time just before the exec started. The time section runs
    first, so time.skew_s = host epoch - controller_time is off by the one-way latency plus the
    shell's start-up (milliseconds on a LAN); treat a skew below about 2 s as none.
    """
    unknown = [s for s in sections if s not in PARSERS]
    if unknown:
        raise ValueError(f"unknown probe section(s) {', '.join(unknown)}; known: {', '.join(SECTIONS)}")
    raw = split_sections(stdout, nonce)
    data: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for name in sections:
        section = raw.get(name)
        if section is None:
            errors[name] = f"{name}: no output (the probe stopped before this section)"
        elif section.truncated:
            errors[name] = f"{name}: output cut off before the section ended"
        else:
            try:
                data[name] = parse_section(name, section.rc, section.body)
            except ParseError as exc:
                errors[name] = str(exc)
    _add_skew(data, controller_time)
    return Facts(data, errors)


def _add_skew(data: Mapping[str, Any], controller_time: float) -> None:
    time_facts = data.get("time")
    if isinstance(time_facts, dict) and "epoch" in time_facts:
        time_facts["skew_s"] = round(time_facts["epoch"] - controller_time, 3)
