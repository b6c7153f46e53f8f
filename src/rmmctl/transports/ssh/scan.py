"""Fetch a server's host keys without trusting them (`rmmctl hostkeys scan`): one key-exchange-only
handshake per key family, on the transport's own sockets and handshake code."""

from __future__ import annotations

import base64
import logging
import time

import paramiko  # type: ignore[import-untyped]

from rmmctl.transports.ssh.connection import start_ssh
from rmmctl.transports.ssh.known_hosts import ScannedKey, blob_type, fingerprint, known_host_name
from rmmctl.transports.ssh.link import open_socket

log = logging.getLogger(__name__)

# One handshake per family (a server shows one key per handshake): ed25519, then ECDSA, then RSA.
SCAN_FAMILIES: tuple[tuple[str, ...], ...] = (
    ("ssh-ed25519",),
    ("ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521"),
    ("rsa-sha2-512", "rsa-sha2-256"),
)


def fetch_host_key(address: str, port: int, key_types: tuple[str, ...], end: float) -> bytes | None:
    """The server's host key blob for one family of key types (None if it has none), trusting nothing."""
    label = known_host_name(address, port)
    t = None
    try:
        t = start_ssh(open_socket(label, address, port, end), label, end, key_types)
        return bytes(t.get_remote_server_key().asbytes())
    except paramiko.ssh_exception.IncompatiblePeer:
        return None
    finally:
        if t is not None:
            t.close()


def scan(address: str, port: int = 22, timeout: float = 10.0, *, deadline: float | None = None) -> list[ScannedKey]:
    """Fetch the server's host keys without trusting them, in the order ed25519, ECDSA, RSA; families
    the server lacks are left out. Every handshake ends by `timeout` seconds from now, or by the
    `deadline` (time.monotonic()) if that comes first.

    Raises ConnectError (refused, DNS, not SSH) or CommandTimeout (no answer in time).
    """
    end = time.monotonic() + timeout
    if deadline is not None:
        end = min(end, deadline)
    keys: list[ScannedKey] = []
    for family in SCAN_FAMILIES:
        blob = fetch_host_key(address, port, family, end)
        if blob is not None:
            keys.append(ScannedKey(blob_type(blob), base64.b64encode(blob).decode(), fingerprint(blob)))
            log.debug("%s: host key %s %s", known_host_name(address, port), keys[-1].key_type, keys[-1].fingerprint)
    return keys
