"""The SSH transport (paramiko), the only package that imports paramiko.

connection: sockets, handshake, host-key check, the SSHTransport; auth: keys, agent, passwords;
config: ssh_config and the proxy-jump grammar; exec: one command on one channel; known_hosts: reading,
matching and writing OpenSSH known_hosts files; scan: fetching a server's host keys without trusting them.
"""

from __future__ import annotations

from rmmctl.transports.ssh.connection import SSHTransport

__all__ = ["SSHTransport"]
