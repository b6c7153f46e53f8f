"""The local transport: the machine rmmctl runs on, through subprocess (and psutil for facts)."""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING

from rmmctl.errors import CommandTimeout, ConnectError
from rmmctl.models import CommandResult
from rmmctl.transports import TransportOptions

if TYPE_CHECKING:
    from rmmctl.inventory.model import Host


class LocalTransport:
    """Runs shell commands with /bin/sh on this machine; no connection to make."""

    def __init__(self, host: Host, options: TransportOptions, *, deadline: float | None = None) -> None:
        self.name = host.name
        self._host = host
        self._options = options
        self._deadline = deadline

    @property
    def user(self) -> str:
        return getpass.getuser()

    def connect(self) -> None:
        if self._deadline is not None and time.monotonic() >= self._deadline:
            raise CommandTimeout(f"{self.name}: host deadline passed before connecting")

    def run(
        self,
        command: str,
        *,
        stdin: bytes | str | None = None,
        timeout: float | None = None,
        become: bool = False,
    ) -> CommandResult:
        argv = ["/bin/sh", "-c", command]
        if become and os.geteuid() != 0:
            argv = ["sudo", "-n", "-H", "--", *argv]  # no password prompt: sudo must be passwordless locally
        data = stdin.encode() if isinstance(stdin, str) else stdin
        limit = self._limit(timeout)
        started = time.monotonic()
        try:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE if data is not None else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,  # so a timeout can kill the whole process group
            )
        except OSError as exc:
            raise ConnectError(f"{self.name}: cannot start /bin/sh: {exc.strerror}") from None
        try:
            out, err = proc.communicate(data, timeout=limit)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            raise CommandTimeout(f"{self.name}: command did not finish within {limit:.0f} s") from None
        return CommandResult(
            command=command,
            exit_code=proc.returncode if proc.returncode >= 0 else 128 - proc.returncode,
            stdout=out.decode("utf-8", "replace"),
            stderr=err.decode("utf-8", "replace"),
            duration_s=time.monotonic() - started,
        )

    def put(self, local: Path, remote: str, *, mode: int = 0o644) -> None:
        shutil.copyfile(local, remote)
        os.chmod(remote, mode)

    def get(self, remote: str, local: Path) -> None:
        shutil.copyfile(remote, local)

    def close(self) -> None:
        pass

    def _limit(self, timeout: float | None) -> float:
        limit = timeout if timeout is not None else self._options.command_timeout
        if self._deadline is not None:
            remaining = self._deadline - time.monotonic()
            if remaining <= 0:
                raise CommandTimeout(f"{self.name}: host deadline passed before the command started")
            limit = min(limit, remaining)
        return limit


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.communicate()

