"""The Windows prober itself: one PowerShell document through the host's context (one command in the
visit's one WinRM shell), and its per-section frames turned into the OS-neutral facts schema."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from rmmctl.facts import Facts, unavailable
from rmmctl.levels import LEVELS
from rmmctl.models import CommandResult
from rmmctl.probes import ParamValue, ParseError, ProbeError
from rmmctl.probes.windows import bundle

if TYPE_CHECKING:
    from rmmctl.executor import HostContext

Parser = Callable[[Any, "ParseContext"], Any]


class ParseContext:
    """What a section parser may know besides its data: the controller's clock at the probe's start and the
    probe's parameters (the log window and level, the backup paths ...)."""

    def __init__(self, controller_time: float, params: Mapping[str, Any]) -> None:
        self.controller_time = controller_time
        self.params = params


PARSERS: dict[str, Parser] = {}
"""Section -> its parser (data of the section's frame, ParseContext) -> facts; filled by the parser modules."""


def parser(name: str) -> Callable[[Parser], Parser]:
    """Register a section parser (each section has a ps/NAME.ps1 of the same name)."""
    def deco(fn: Parser) -> Parser:
        PARSERS[name] = fn
        return fn
    return deco


def _load_parsers() -> None:
    from rmmctl.probes.windows import (  # noqa: F401 - registering
        events,
        printers,
        security,
        system,
    )


def sections() -> tuple[str, ...]:
    _load_parsers()
    return tuple(PARSERS)


def parse_output(stdout: str, nonce: str, wanted: Sequence[str], ctx: ParseContext) -> Facts:
    """Framed stdout -> Facts: a section the host could not answer (it threw, or passed its budget) is
    `{"unavailable": reason}`; one whose frame is missing or unreadable is in Facts.errors."""
    _load_parsers()
    frames = bundle.split_frames(stdout, nonce)
    data: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for name in wanted:
        frame = frames.get(name)
        if frame is None:
            errors[name] = f"{name}: no output (the probe stopped before this section)"
        elif isinstance(frame, str):
            errors[name] = frame
        elif not frame.ok:
            data[name] = unavailable(f"{'timed out: ' if frame.timeout else ''}{frame.error}")
        else:
            try:
                data[name] = PARSERS[name](frame.data, ctx)
            except ParseError as exc:
                errors[name] = str(exc)
            except (KeyError, TypeError, ValueError, AttributeError) as exc:  # a shape no fixture showed
                errors[name] = f"{name}: unexpected data from the host ({type(exc).__name__}: {exc})"
    return Facts(data, errors)


def unreadable_reason(result: CommandResult, nonce: str) -> str | None:
    """One line saying why the output holds no frame of this probe at all, else None."""
    if any(m.group(1) == nonce for m in bundle.FRAME.finditer(result.stdout)):
        return None
    err = next((x.strip() for x in result.stderr.split("\n") if x.strip()), "")
    detail = f" (exit {result.exit_code}{': ' + (err if len(err) <= 160 else err[:157] + '...') if err else ''})"
    if not result.stdout.strip():
        return f"probe produced no output{detail}"
    return f"probe output unreadable: no rmmctl frames in {len(result.stdout)} characters of output{detail}"


class WindowsProber:
    """The `windows` platform: PowerShell 5.1 probes in one command (sections run at once, each in budget)."""

    platform = "windows"

    @property
    def sections(self) -> tuple[str, ...]:  # type: ignore[override]
        return sections()

    def collect(self, ctx: HostContext, sections: Sequence[str], params: Mapping[str, ParamValue] | None = None,
                *, since: float | None = None, log_level: str = "err", log_limit: int = 500) -> Facts:
        if not sections:
            return Facts()
        _load_parsers()
        unknown = [s for s in sections if s not in PARSERS]
        if unknown:
            raise ValueError(f"unknown probe section(s) {', '.join(unknown)}; known: {', '.join(PARSERS)}")
        probe_params: dict[str, Any] = {k: list(v) if isinstance(v, (list, tuple)) else v
                                        for k, v in (params or {}).items()}
        probe_params.update({"since": since, "log_level": log_level, "log_level_num": _event_level(log_level),
                             "log_limit": int(log_limit)})
        remaining = None if ctx.deadline is None else ctx.deadline - time.monotonic()
        nonce = bundle.new_nonce()
        script = bundle.build_script(sections, nonce=nonce, params=probe_params,
                                     budget_s=bundle.budgets(sections, remaining))
        started = time.time()
        result = ctx.run(script, audit_as=f"probe: {' '.join(sections)}")
        reason = unreadable_reason(result, nonce)
        if reason:
            raise ProbeError(reason)
        return parse_output(result.stdout, nonce, sections, ParseContext(started, probe_params))


def _event_level(level: str) -> int:
    """rmmctl's level name -> the Windows event Level at or below which entries are wanted (1 critical,
    2 error, 3 warning, 4 information, 5 verbose)."""
    i = LEVELS.index(level) if level in LEVELS else LEVELS.index("err")
    return {0: 1, 1: 1, 2: 1, 3: 2, 4: 3, 5: 4, 6: 4, 7: 5}[i]


PROBER = WindowsProber()
