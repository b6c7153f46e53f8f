"""The local transport: the machine rmmctl runs on, through subprocess (its facts: rmmctl.probes.local)."""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from rmmctl.errors import CommandTimeout, ConnectError
from rmmctl.inventory.model import Host
from rmmctl.models import CommandResult
from rmmctl.transports import TransportOptions


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
            raise CommandTimeout(f"{self.name}: command did not finish within {limit:.1f} s") from None
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
    """Kill the command's whole session: its process group, and the groups its children made for
    themselves inside the session (GNU `timeout` runs its command in a new process group), so no
    grandchild outlives the deadline holding the output pipes open."""
    for pgid in {proc.pid, *_session_groups(proc.pid)}:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    try:
        proc.communicate(timeout=2.0)
    except subprocess.TimeoutExpired:  # something still holds the pipes: stop waiting for it
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()
        proc.wait()


def _session_groups(sid: int) -> set[int]:
    """Process groups of the processes in session `sid` (Linux /proc; empty elsewhere)."""
    groups: set[int] = set()
    try:
        entries = os.listdir("/proc")
    except OSError:
        return groups
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                fields = fh.read().rpartition(b")")[2].split()
        except OSError:
            continue
        if len(fields) > 3 and int(fields[3]) == sid:  # state ppid pgrp session
            groups.add(int(fields[2]))
    return groups

