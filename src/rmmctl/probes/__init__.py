"""Probers: every fact about a host comes from ONE call, `collect(ctx, sections, params)`.

A prober turns the sections a command needs into `Facts` through the host's transport context
(`ctx.run`: the deadline and the audit trail hold for every host, the local machine included). It
is looked up by platform (`platform_of(host)`):

    linux    probes/linux/    POSIX sh script in one exec (`sh -c SCRIPT`), pure parsers (any ssh host)
    local    probes/local.py  the machine rmmctl runs on: psutil in-process, the rest via the sh probe
    windows  probes/windows/  (next issue) one PowerShell document per probe, registered beside these

A prober is the `PROBER` object (see `Prober`) of the module or package `rmmctl.probes.<platform>`,
imported on first use, or one `register()`ed at run time (tests, plugins): adding probes/windows/ with
a `PROBER` is all a new platform takes, callers never change. To add a section to the Linux prober,
see rmmctl.probes.linux.
"""

from __future__ import annotations

import importlib
import pkgutil
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


_PROBERS: dict[str, Prober] = {}
"""Platform -> its prober: registered ones, and the built-in ones once imported (psutil only when local runs)."""


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
    """The prober of a platform; ProbeError (the host is `error`, one line) naming the known ones if none."""
    if platform not in _PROBERS and platform in _builtin():
        prober = getattr(importlib.import_module(f"{__name__}.{platform}"), "PROBER", None)
        if prober is not None:
            _PROBERS.setdefault(platform, prober)
    try:
        return _PROBERS[platform]
    except KeyError:
        known = ", ".join(sorted({*_builtin(), *_PROBERS}))
        raise ProbeError(f"no prober for platform {platform!r} (known: {known})") from None


def _builtin() -> set[str]:
    """The platforms with a module (or package) of their own beside this file."""
    return {m.name for m in pkgutil.iter_modules(__path__)}


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


__all__ = ["ParamValue", "ParseError", "ProbeError", "Prober", "collect", "known_sections", "platform_of",
           "prober_for", "register", "unregister"]

