"""The Linux prober itself: the sh probe through the host's context in one exec, and its whole-output check."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from rmmctl.facts import Facts
from rmmctl.models import CommandResult
from rmmctl.probes import ParamValue, ProbeError
from rmmctl.probes.linux import bundle
from rmmctl.probes.linux.parse import SECTIONS, parse_output

if TYPE_CHECKING:
    from rmmctl.executor import HostContext


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
    return f"probe output unreadable: no section markers in {_size(len(out) + result.stdout_truncated_bytes)} of output{detail}"


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
        """Facts for `sections` in one exec of `sh -c SCRIPT` (bundle.probe_command: the script rides in the exec
        request, which saves the round trip stdin would wait for); ProbeError when its output is unreadable."""
        if not sections:
            return Facts()
        nonce = bundle.new_nonce()
        script = bundle.build_script(sections, nonce=nonce, since=since, log_level=log_level, log_limit=log_limit,
                                     params=params)
        started = time.time()
        result = ctx.run(bundle.probe_command(script), audit_as=f"probe: {' '.join(sections)}")
        return parse_result(result, nonce, sections, controller_time=started)


PROBER = LinuxProber()
