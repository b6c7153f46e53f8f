"""The local transport: the machine rmmctl runs on, through subprocess (its facts: rmmctl.probes.local)."""

from __future__ import annotations

import getpass
import os
import selectors
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from rmmctl.errors import CommandTimeout, ConnectError, TransportError
from rmmctl.models import CommandResult
from rmmctl.transports import TransportOptions
from rmmctl.transports.base import Capped

if TYPE_CHECKING:
    from rmmctl.inventory.model import Host


class LocalTransport:
    """Runs shell commands with /bin/sh on this machine; no connection to make.

    Each command runs in its own process group: a timeout, or close() while it runs (Ctrl-C), kills
    the whole group. Output past `max_output` bytes per stream is read on and dropped (counted).
    """

    def __init__(self, host: Host, options: TransportOptions, *, deadline: float | None = None) -> None:
        self.name = host.name
        self._host = host
        self._options = options
        self._deadline = deadline
        self._running: set[subprocess.Popen[bytes]] = set()
        self._stopped: set[subprocess.Popen[bytes]] = set()  # killed by close(): they end as interrupted
        self._lock = threading.Lock()

    @property
    def user(self) -> str:
        return getpass.getuser()

    def rearm(self, deadline: float | None) -> None:
        """A new visit (rmmctl watch keeps the transport between rounds): its deadline."""
        self._deadline = deadline

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
        with self._lock:
            self._running.add(proc)
        try:
            out, err = _communicate(proc, data, time.monotonic() + limit, self._options.max_output)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            raise CommandTimeout(f"{self.name}: command did not finish within {limit:.1f} s") from None
        finally:
            with self._lock:
                self._running.discard(proc)
                stopped = proc in self._stopped
                self._stopped.discard(proc)
        if stopped:
            raise ConnectError(f"{self.name}: interrupted; the command was killed")
        return CommandResult(
            command=command,
            exit_code=proc.returncode if proc.returncode >= 0 else 128 - proc.returncode,
            stdout=out.text(),
            stderr=err.text(),
            duration_s=time.monotonic() - started,
            stdout_truncated_bytes=out.dropped,
            stderr_truncated_bytes=err.dropped,
        )

    def put(self, local: Path, remote: str, *, mode: int = 0o644) -> None:
        """Copy a file (the target gets `mode` before any byte is written), within the host's deadline."""
        self._copy(f"put {remote}", local, remote, mode)

    def get(self, remote: str, local: Path) -> None:
        """Copy a file from `remote` (a path on this machine) to `local`."""
        self._copy(f"get {remote}", Path(remote), str(local), None)

    def _copy(self, what: str, src: Path, dst: str, mode: int | None) -> None:
        end = time.monotonic() + self._limit(None)
        try:
            with open(src, "rb") as fin:
                fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666 if mode is None else mode)
                with os.fdopen(fd, "wb") as fout:
                    if mode is not None:
                        os.fchmod(fout.fileno(), mode)
                    while chunk := fin.read(1 << 20):
                        fout.write(chunk)
                        if time.monotonic() >= end:
                            raise CommandTimeout(f"{self.name}: {what} did not finish in time")
        except OSError as exc:
            raise TransportError(f"{self.name}: {what} failed: {exc.strerror or exc}") from None

    def close(self) -> None:
        """Kill the process group of any command still running (safe from another thread)."""
        with self._lock:
            running = list(self._running)
            self._stopped.update(running)
        for proc in running:
            _kill_if_unreaped(proc)

    def _limit(self, timeout: float | None) -> float:
        limit = timeout if timeout is not None else self._options.command_timeout
        if self._deadline is not None:
            remaining = self._deadline - time.monotonic()
            if remaining <= 0:
                raise CommandTimeout(f"{self.name}: host deadline passed before the command started")
            limit = min(limit, remaining)
        return limit


def _communicate(proc: subprocess.Popen[bytes], data: bytes | None, end: float,
                 max_output: int) -> tuple[Capped, Capped]:
    """Feed stdin (in a thread) and read stdout and stderr until both close, keeping `max_output`
    bytes of each; raises TimeoutExpired at `end`. Memory stays bounded whatever the command prints."""
    if proc.stdin is not None:
        threading.Thread(target=_feed, args=(proc.stdin, data or b""), daemon=True, name="rmmctl-local-stdin").start()
    streams = {proc.stdout: Capped(max_output), proc.stderr: Capped(max_output)}
    try:
        with selectors.DefaultSelector() as sel:
            for pipe in streams:
                sel.register(pipe, selectors.EVENT_READ)  # type: ignore[arg-type]
            while sel.get_map():
                remaining = end - time.monotonic()
                if remaining <= 0:
                    raise subprocess.TimeoutExpired(proc.args, 0)
                for key, _ in sel.select(remaining):
                    chunk = os.read(key.fd, 1 << 20)
                    if chunk:
                        streams[key.fileobj].add(chunk)  # type: ignore[index]
                    else:
                        sel.unregister(key.fileobj)
        proc.wait(max(end - time.monotonic(), 0))
    finally:
        for pipe in streams:
            pipe.close()  # type: ignore[union-attr]
    return streams[proc.stdout], streams[proc.stderr]


def _feed(pipe: object, data: bytes) -> None:
    try:
        pipe.write(data)  # type: ignore[attr-defined]
    except OSError:
        pass  # the command ended without reading all of its stdin
    finally:
        try:
            pipe.close()  # type: ignore[attr-defined]
        except OSError:
            pass


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """Kill the command's whole session and reap it (its pipes are closed by _communicate)."""
    _kill_session(proc.pid)
    proc.wait()


def _kill_if_unreaped(proc: subprocess.Popen[bytes]) -> None:
    """Kill the command's session unless it has been reaped already: once reaped, its PID (and so its
    session and group id) may belong to another process at any moment, which must never be killed.
    Popen reaps only while holding its waitpid lock, so holding that lock here closes the race."""
    lock = getattr(proc, "_waitpid_lock", None)
    if lock is None:  # not CPython's Popen: the check alone
        if proc.returncode is None:
            _kill_session(proc.pid)
        return
    with lock:
        if proc.returncode is None:
            _kill_session(proc.pid)


def _kill_session(sid: int) -> None:
    """Kill the command's whole session: its process group, and the groups its children made for
    themselves inside the session (GNU `timeout` runs its command in a new process group), so no
    grandchild outlives the deadline or an interrupt."""
    for pgid in {sid, *_session_groups(sid)}:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


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

