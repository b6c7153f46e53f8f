"""The SSH transport (paramiko), the only package that imports paramiko.

connection: sockets, handshake, host-key check, the SSHTransport; auth: keys, agent, passwords;
config: ssh_config and the one proxy-jump grammar; exec: one command on one channel; known_hosts:
reading, matching and writing OpenSSH known_hosts files (and which file is written); scan: a server's
host keys fetched without trusting them. `SSHTransport` is imported on first use, so the inventory can
use config's grammar without loading paramiko.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rmmctl.transports.ssh.connection import SSHTransport

__all__ = ["SSHTransport"]


def __getattr__(name: str) -> Any:
    if name == "SSHTransport":
        from rmmctl.transports.ssh.connection import SSHTransport

        return SSHTransport
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
