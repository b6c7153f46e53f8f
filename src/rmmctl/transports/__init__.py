"""Transports: local (subprocess), ssh (paramiko), winrm (pywinrm).

Only this package imports paramiko or winrm (psutil lives in rmmctl.probes.local); nothing here imports probes.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Hashable

from rmmctl.errors import ConfigError
from rmmctl.secrets import Redactor
from rmmctl.transports.base import Transport

if TYPE_CHECKING:
    from rmmctl.inventory.model import Host

__all__ = ["DEFAULT_MAX_OUTPUT", "RunCache", "Transport", "TransportOptions", "open_transport"]

DEFAULT_MAX_OUTPUT = 1 << 20  # bytes kept per stream (stdout, stderr) of each command; the rest is drained


class RunCache:
    """Per-run memo shared by every host's transport: key files, the parsed ssh_config (read once, not per host)."""

    def __init__(self) -> None:
        self._values: dict[Hashable, Any] = {}
        self._lock = threading.Lock()

    def get(self, key: Hashable, factory: Callable[[], Any]) -> Any:
        """The cached value for `key`, computed once by `factory` (outside the lock, so hosts never queue)."""
        with self._lock:
            if key in self._values:
                return self._values[key]
        value = factory()
        with self._lock:
            return self._values.setdefault(key, value)


@dataclass(slots=True)
class TransportOptions:
    """Run-wide connection settings; per-host settings come from Host and its vars."""

    connect_timeout: float = 10.0
    command_timeout: float = 60.0
    host_key_policy: str = "strict"  # strict | accept-new (a host var overrides)
    known_hosts: tuple[Path, ...] = ()  # inventory-level files, checked (and written) before ~/.ssh/known_hosts
    user_known_hosts: Path | None = None  # None = ~/.ssh/known_hosts
    ssh_config: Path | None = None  # None = ~/.ssh/config if it exists
    max_output: int = DEFAULT_MAX_OUTPUT  # bytes kept per stream per command (read on, dropped, counted)
    redactor: Redactor = field(default_factory=Redactor)
    cache: RunCache = field(default_factory=RunCache)


def open_transport(host: Host, options: TransportOptions, *, deadline: float | None = None) -> Transport:
    """Build (not yet connected) the transport for a host's `connection`."""
    if host.connection == "local":
        from rmmctl.transports.local import LocalTransport

        return LocalTransport(host, options, deadline=deadline)
    if host.connection == "ssh":
        from rmmctl.transports.ssh import SSHTransport

        return SSHTransport(host, options, deadline=deadline)
    if host.connection == "winrm":
        from rmmctl.transports.winrm import WinRMTransport

        return WinRMTransport(host, options, deadline=deadline)
    raise ConfigError(f"{host.name}: unknown connection {host.connection!r}; expected local, ssh or winrm")
