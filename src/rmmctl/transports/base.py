"""The Transport protocol every connection type implements (its factory: transports.open_transport)."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

from rmmctl.models import CommandResult


@runtime_checkable
class Transport(Protocol):
    """A live connection to one host. Raises only ConnectError, AuthError, HostKeyError, CommandTimeout.

    `run` returns a CommandResult for every command that ran, whatever its exit code. `command` is a
    shell command line (callers shell-quote every parameter); `stdin` is fed to it and closed.
    `timeout` is a hard deadline in seconds for this command: past it the command is killed and
    CommandTimeout raised. With `become=True` the command runs through sudo, the password (if any)
    going over stdin, never on the command line. Each output stream keeps `max_output` bytes (the
    rest is read, dropped and counted in the CommandResult).

    `close` is idempotent and may be called from another thread: commands still running are then
    stopped on the host (their process groups killed) and end as ConnectError ("interrupted"). This
    is how Ctrl-C and SIGTERM leave nothing running.
    """

    name: str  # the host name, for messages

    def connect(self) -> None: ...

    def run(
        self,
        command: str,
        *,
        stdin: bytes | str | None = None,
        timeout: float | None = None,
        become: bool = False,
    ) -> CommandResult: ...

    def put(self, local: Path, remote: str, *, mode: int = 0o644) -> None: ...

    def get(self, remote: str, local: Path) -> None: ...

    def close(self) -> None: ...


class Capped:
    """The first `limit` bytes of a command's output stream; what comes after is counted and dropped
    (still read, so the command is never blocked on a full pipe or window)."""

    __slots__ = ("data", "dropped", "limit")

    def __init__(self, limit: int) -> None:
        self.data = bytearray()
        self.dropped = 0
        self.limit = limit

    def add(self, chunk: bytes) -> None:
        room = self.limit - len(self.data)
        if room >= len(chunk):
            self.data += chunk
            return
        if room > 0:
            self.data += chunk[:room]
        self.dropped += len(chunk) - max(room, 0)

    def text(self) -> str:
        return self.data.decode("utf-8", "replace")
