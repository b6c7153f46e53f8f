"""Probers: every fact about a host comes from ONE call, `collect(ctx, sections, params)`.

A prober turns the sections a command needs into `Facts` through the host's transport context
(`ctx.run`: the deadline and the audit trail hold for every host, the local machine included). It
is looked up by platform (`platform_of(host)`):

    linux    probes/linux/    POSIX sh script over stdin in one exec, pure parsers (any ssh host)
    local    probes/local.py  the machine rmmctl runs on: psutil in-process, the rest via the sh probe
    windows  probes/windows/  (next issue) one PowerShell document per probe, registered beside these

A new prober is a module with a `PROBER` object (see `Prober`) named in `_BUILTIN`, or `register()`ed;
callers never change. To add a section to the Linux prober see rmmctl.probes.linux.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Protocol

from rmmctl.errors import RmmctlError

if TYPE_CHECKING:
    from rmmctl.executor import HostContext
    from rmmctl.facts import Facts
    from rmmctl.inventory.model import Host


class ParseError(ValueError):
    """A probe section's output could not be turned into facts; str() is one line for the user."""


class ProbeError(RmmctlError):
    """A probe's output as a whole is useless (no section came back): the host ends as `error`, one line."""


ParamValue = str | list[str] | tuple[str, ...]
"""A probe parameter: a string, or a list of strings (the sh probe sends them newline-separated)."""


class Prober(Protocol):
    """Collects facts for one platform. `sections` lists what it can answer, in its run order."""

    platform: str
    sections: tuple[str, ...]

    def collect(
        self,
        ctx: HostContext,
        sections: Sequence[str],
        params: Mapping[str, ParamValue] | None = None,
        *,
        since: float | None = None,
        log_level: str = "err",
        log_limit: int = 500,
    ) -> Facts: ...


_BUILTIN: dict[str, str] = {
    "linux": "rmmctl.probes.linux:PROBER",
    "local": "rmmctl.probes.local:PROBER",
}
"""Platform -> `module:attribute` of its prober, imported on first use (psutil only when local runs)."""
_PROBERS: dict[str, Prober] = {}


def register(prober: Prober) -> Prober | None:
    """Make `prober` the one for `prober.platform`; returns the one it replaced (None if there was none)."""
    previous = _PROBERS.get(prober.platform)
    _PROBERS[prober.platform] = prober
    return previous


def unregister(platform: str) -> None:
    """Forget a registered prober (a built-in one comes back on the next lookup)."""
    _PROBERS.pop(platform, None)


def platform_of(host: Host) -> str:
    """The prober platform of a host: `local` for the local transport, `windows` for a winrm or
    os: windows host, else `linux` (the POSIX sh probe, which also answers what it can on other Unixes)."""
    if host.connection == "local":
        return "local"
    if host.connection == "winrm" or host.os == "windows":
        return "windows"
    return "linux"


def prober_for(platform: str) -> Prober:
    """The prober of a platform; ValueError naming the known ones when there is none."""
    if platform not in _PROBERS and platform in _BUILTIN:
        module, _, attr = _BUILTIN[platform].partition(":")
        _PROBERS.setdefault(platform, getattr(importlib.import_module(module), attr))
    try:
        return _PROBERS[platform]
    except KeyError:
        known = ", ".join(sorted({*_BUILTIN, *_PROBERS}))
        raise ValueError(f"no prober for platform {platform!r} (known: {known})") from None


def collect(
    ctx: HostContext,
    sections: Sequence[str],
    params: Mapping[str, ParamValue] | None = None,
    *,
    since: float | None = None,
    log_level: str = "err",
    log_limit: int = 500,
) -> Facts:
    """The facts of one host for these sections, from its platform's prober, through ctx (one exec).

    params: per-host probe parameters (checks.registry.params_for), e.g. the backup paths to stat;
    since/log_level/log_limit: the window, least severe level and count of the logs section.
    A section that failed is in Facts.errors; a host whose probe output is unreadable raises ProbeError.
    """
    prober = prober_for(platform_of(ctx.host))
    return prober.collect(ctx, sections, params, since=since, log_level=log_level, log_limit=log_limit)


def known_sections(platform: str) -> tuple[str, ...]:
    """The sections a platform's prober answers."""
    return prober_for(platform).sections


__all__ = ["ParamValue", "ParseError", "ProbeError", "Prober", "collect", "known_sections", "platform_of", "prober_for",
           "register", "unregister"]

