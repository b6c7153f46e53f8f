"""A scripted transport for executor, api and CLI tests (like fabric.testing / invoke's MockContext).

Responses are matched by regular expression against the command line; the first match wins.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from rmmctl.errors import CommandTimeout, TransportError
from rmmctl.inventory.model import Host
from rmmctl.models import CommandResult


@dataclass(slots=True)
class FakeResponse:
    """What a fake host answers to a matching command (or the error it raises)."""

    stdout: str = ""
    stderr: str = ""
    exit_code: int = 0
    delay_s: float = 0.0
    raises: TransportError | None = None


@dataclass(slots=True)
class FakeHost:
    """The scripted behaviour of one host: an optional connect error and command responses."""

    connect_error: TransportError | None = None
    connect_delay_s: float = 0.0
    responses: list[tuple[str, FakeResponse]] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)  # what was run, for assertions


class FakeTransport:
    """Implements the Transport protocol from a FakeHost script."""

    def __init__(self, host: Host, script: FakeHost, *, deadline: float | None = None) -> None:
        self.name = host.name
        self._script = script
        self._deadline = deadline
        self.closed = False

    def connect(self) -> None:
        time.sleep(self._script.connect_delay_s)
        if self._script.connect_error is not None:
            raise self._script.connect_error

    def run(self, command: str, *, stdin: bytes | str | None = None, timeout: float | None = None,
            become: bool = False) -> CommandResult:
        self._script.commands.append(command)
        for pattern, response in self._script.responses:
            if re.search(pattern, command):
                return self._answer(command, response, timeout)
        return CommandResult(command, 127, "", f"fake: no response scripted for {command!r}", 0.0)

    def _answer(self, command: str, response: FakeResponse, timeout: float | None) -> CommandResult:
        limit = min(x for x in (timeout, self._remaining(), float("inf")) if x is not None)
        if response.delay_s > limit:
            time.sleep(max(0.0, limit))
            raise CommandTimeout(f"{self.name}: command did not finish within {limit:.1f} s")
        time.sleep(response.delay_s)
        if response.raises is not None:
            raise response.raises
        return CommandResult(command, response.exit_code, response.stdout, response.stderr, response.delay_s)

    def _remaining(self) -> float | None:
        return None if self._deadline is None else self._deadline - time.monotonic()

    def put(self, local: Path, remote: str, *, mode: int = 0o644) -> None:
        self._script.commands.append(f"put {local} {remote}")

    def get(self, remote: str, local: Path) -> None:
        self._script.commands.append(f"get {remote} {local}")

    def close(self) -> None:
        self.closed = True


def fake_opener(scripts: dict[str, FakeHost]):  # noqa: ANN201 - returns an opener for Executor(opener=...)
    """An `open_transport` replacement serving each host from its script."""

    def opener(host: Host, options: object, *, deadline: float | None = None) -> FakeTransport:
        return FakeTransport(host, scripts[host.name], deadline=deadline)

    return opener
