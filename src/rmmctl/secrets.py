"""Secrets: resolved at connect time from env, a command or the OS keyring, never from the inventory
file itself, and redacted from everything rmmctl writes (logs, JSON, history)."""

from __future__ import annotations

import os
import subprocess
import threading
from typing import Any, Callable

from rmmctl.errors import ConfigError

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

    @property
    def empty(self) -> bool:
        """True while no secret is known: masking would change nothing."""
        return not self._secrets

    def __call__(self, text: str) -> str:
        if not text or not self._secrets:
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
) -> str | None:
    """Return the secret named by one of env / cmd / keyring ("service/username"), or None if none set."""
    value: str | None = None
    if env:
        if env not in os.environ:
            raise ConfigError(f"{host}: {what}_env names ${env}, which is not set; export it or change the inventory")
        value = os.environ[env]
    elif cmd:
        try:
            proc = subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=30, check=False)
        except subprocess.TimeoutExpired:
            raise ConfigError(f"{host}: {what}_cmd did not finish within 30 s") from None
        if proc.returncode != 0:
            raise ConfigError(f"{host}: {what}_cmd exited {proc.returncode}; run it by hand to see why")
        value = proc.stdout.rstrip("\n")
    elif keyring_ref:
        value = _from_keyring(host, keyring_ref, what)
    if redactor is not None:
        redactor.add(value)
    return value


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
    """Every string in a JSON-like structure (keys too) passed through the redactor (the structure itself
    when the redactor knows no secret yet)."""
    if getattr(redact, "empty", False):
        return obj
    if isinstance(obj, str):
        return redact(obj)
    if isinstance(obj, dict) or hasattr(obj, "items"):
        return {redact(str(k)): redact_obj(v, redact) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [redact_obj(v, redact) for v in obj]
    return obj
