"""A real HostContext for the machine the tests run on: the local transport, its deadline, its audit trail."""

from __future__ import annotations

import time

from rmmctl.executor import HostContext
from rmmctl.inventory.model import Host
from rmmctl.transports import TransportOptions
from rmmctl.transports.local import LocalTransport


def local_context(timeout: float | None = None, *, name: str = "localhost") -> HostContext:
    """The context a task gets for a `connection: local` host; timeout: the host deadline from now."""
    host = Host(name, "127.0.0.1", connection="local")
    options = TransportOptions()
    deadline = time.monotonic() + timeout if timeout is not None else None
    return HostContext(host, LocalTransport(host, options, deadline=deadline), deadline, options.redactor)
