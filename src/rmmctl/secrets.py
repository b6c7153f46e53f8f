"""Secrets: resolved at connect time from env, a command or the OS keyring, never from the inventory
file itself, and redacted from everything rmmctl writes (logs, JSON, history)."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from typing import Any, Callable

from rmmctl.errors import CommandTimeout, ConfigError

SECRET_CMD_TIMEOUT_S = 30.0  # a *_cmd gets at most this long, and never past the host's deadline

REDACTED = "********"


class Redactor:
    """Collects every secret value resolved during a run and masks it in any text."""

    def __init__(self) -> None:
        self._secrets: set[str] = set()
        self._lock = threading.Lock()

    def add(self, secret: str | None) -> None:
        if secret and len(secret) >= 3:  # masking 1-2 char strings would shred normal text
            with self._lock:
                self._secrets.add(secret)

    def __call__(self, text: str) -> str:
        if not text:
            return text
        with self._lock:
            secrets = sorted(self._secrets, key=len, reverse=True)
        for s in secrets:
            if s in text:
                text = text.replace(s, REDACTED)
        return text


def resolve_secret(
    host: str,
    *,
    env: str | None = None,
    cmd: str | None = None,
    keyring_ref: str | None = None,
    what: str = "password",
    redactor: Redactor | None = None,
    deadline: float | None = None,
    children: SecretCommands | None = None,
) -> str | None:
    """Return the secret named by one of env / cmd / keyring ("service/username"), or None if none set.

    A `cmd` runs in its own process group, killed whole (SIGKILL) when it outlives
    SECRET_CMD_TIMEOUT_S or the `deadline` (time.monotonic()), raising CommandTimeout; `children`
    tracks it so an interrupted run can kill it too.
    """
    value: str | None = None
    if env:
        if env not in os.environ:
            raise ConfigError(f"{host}: {what}_env names ${env}, which is not set; export it or change the inventory")
        value = os.environ[env]
    elif cmd:
        value = _run_secret_cmd(host, cmd, what, deadline, children or SecretCommands())
    elif keyring_ref:
        value = _from_keyring(host, keyring_ref, what)
    if redactor is not None:
        redactor.add(value)
    return value


class SecretCommands:
    """The *_cmd processes one host has running, so closing its connection can kill them (Ctrl-C)."""

    def __init__(self) -> None:
        self._procs: set[subprocess.Popen[str]] = set()
        self._lock = threading.Lock()
        self.killed: set[subprocess.Popen[str]] = set()

    def add(self, proc: subprocess.Popen[str]) -> None:
        with self._lock:
            self._procs.add(proc)

    def discard(self, proc: subprocess.Popen[str]) -> None:
        with self._lock:
            self._procs.discard(proc)
            self.killed.discard(proc)

    def kill(self) -> None:
        """Kill the process group of every command running now."""
        with self._lock:
            for proc in self._procs:
                _kill_group(proc)
                self.killed.add(proc)


def _kill_group(proc: subprocess.Popen[str]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # the group is the command's own (start_new_session)
    except (ProcessLookupError, PermissionError):
        pass


def _run_secret_cmd(host: str, cmd: str, what: str, deadline: float | None, children: SecretCommands) -> str:
    limit = SECRET_CMD_TIMEOUT_S if deadline is None else min(SECRET_CMD_TIMEOUT_S, deadline - time.monotonic())
    if limit <= 0:
        raise CommandTimeout(f"{host}: the host's deadline passed before {what}_cmd could run")
    proc = subprocess.Popen(cmd, shell=True, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    children.add(proc)
    try:
        out, _ = proc.communicate(timeout=limit)
        if proc in children.killed:
            raise CommandTimeout(f"{host}: {what}_cmd was killed (the run was interrupted)")
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        proc.wait()  # reaped; its pipes are closed below without waiting for an escaped grandchild
        raise CommandTimeout(f"{host}: {what}_cmd did not finish within {limit:.1f} s; killed") from None
    finally:
        children.discard(proc)
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()
    if proc.returncode != 0:
        raise ConfigError(f"{host}: {what}_cmd exited {proc.returncode}; run it by hand to see why")
    return out.rstrip("\n")


def _from_keyring(host: str, ref: str, what: str) -> str:
    service, _, username = ref.partition("/")
    if not username:
        raise ConfigError(f"{host}: {what}_keyring must be 'service/username', got {ref!r}")
    try:
        import keyring  # optional dependency: pip install 'rmmctl[keyring]'
    except ImportError:
        raise ConfigError(f"{host}: {what}_keyring needs the keyring package: pip install 'rmmctl[keyring]'") from None
    value = keyring.get_password(service, username)
    if value is None:
        raise ConfigError(f"{host}: no {what} in the OS keyring for service {service!r} user {username!r}")
    return value


def redact_obj(obj: Any, redact: Callable[[str], str]) -> Any:
    """Every string in a JSON-like structure (keys too) passed through the redactor."""
    if isinstance(obj, str):
        return redact(obj)
    if isinstance(obj, dict) or hasattr(obj, "items"):
        return {redact(str(k)): redact_obj(v, redact) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [redact_obj(v, redact) for v in obj]
    return obj
