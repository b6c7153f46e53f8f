"""The Linux prober: one POSIX sh script per host over stdin in one exec, pure parsers to Facts.

    bundle.py   builds the script from linux.sh (only the requested sections) and splits its framed output
    system.py   time, host, os, uptime, memory, cpu, services   storage.py  filesystems, processes
    logs.py     logs (and the syslog levels)   packages.py  updates, reboot   printers.py  printers
    files.py    backup, av

`PROBER.collect(ctx, sections, params)` is what rmmctl.probes.collect() calls for a `linux` host: ::

    nonce = bundle.new_nonce()
    script = bundle.build_script(sections, nonce=nonce, since=since, params=params)
    result = ctx.run(bundle.COMMAND, stdin=script)         # audited, within the host's deadline
    facts = parse_result(result, nonce, sections, controller_time=started)

To add a section: an `s_NAME` block in linux.sh (`#@ section NAME`), a parser `parse_NAME(body) -> dict`
registered in PARSERS, its TypedDict in rmmctl.facts, fixtures under tests/fixtures/probes/NAME/, and
its keys in docs/facts.md.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from rmmctl.facts import Facts, unavailable
from rmmctl.models import CommandResult
from rmmctl.probes import ParamValue, ParseError, ProbeError
from rmmctl.probes.linux import bundle
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

if TYPE_CHECKING:
    from rmmctl.executor import HostContext

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


def parse_result(result: CommandResult, nonce: str, sections: Sequence[str], *, controller_time: float) -> Facts:
    """The probe's CommandResult -> Facts (see parse_output); ProbeError when no section came back framed."""
    reason = unreadable_reason(result, nonce)
    if reason:
        raise ProbeError(reason)
    return parse_output(result.stdout, nonce, sections, controller_time=controller_time)


def unreadable_reason(result: CommandResult, nonce: str) -> str | None:
    """One line saying why the output holds no section at all, or None when at least one was framed.

    No marker of this run anywhere: the shell never ran the script (a login shell or `sh` that prints
    garbage, a missing `sh`); the START marker but no section: the script died before its first one.
    """
    out = result.stdout
    if f"@@{nonce} BEGIN " in out:
        return None
    detail = f" (exit {result.exit_code}{': ' + _first_line(result.stderr) if _first_line(result.stderr) else ''})"
    if f"@@{nonce} START" in out:
        return f"probe stopped before its first section{detail}"
    if not out.strip():
        return f"probe produced no output{detail}"
    return f"probe output unreadable: no section markers in {_size(len(out))} of output{detail}"


def _first_line(text: str) -> str:
    line = next((x.strip() for x in text.split("\n") if x.strip()), "")
    return line if len(line) <= 120 else line[:117] + "..."


def _size(n: int) -> str:
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.0f} {unit}" if n >= 10 * scale else f"{n / scale:.1f} {unit}"
    return f"{n} bytes"


class LinuxProber:
    """The `linux` platform: the sh probe through the host's transport context (one exec)."""

    platform = "linux"
    sections = SECTIONS

    def collect(self, ctx: HostContext, sections: Sequence[str], params: Mapping[str, ParamValue] | None = None,
                *, since: float | None = None, log_level: str = "err", log_limit: int = 500) -> Facts:
        """Facts for `sections` in one `sh -s` exec (ProbeError when its output is unreadable)."""
        if not sections:
            return Facts()
        nonce = bundle.new_nonce()
        script = bundle.build_script(sections, nonce=nonce, since=since, log_level=log_level, log_limit=log_limit,
                                     params=params)
        started = time.time()
        result = ctx.run(bundle.COMMAND, stdin=script)
        return parse_result(result, nonce, sections, controller_time=started)


PROBER = LinuxProber()


def _add_skew(data: Mapping[str, Any], controller_time: float) -> None:
    time_facts = data.get("time")
    if isinstance(time_facts, dict) and "epoch" in time_facts:
        time_facts["skew_s"] = round(time_facts["epoch"] - controller_time, 3)
