"""The resolved inventory: plain data produced by the loaders, consumed by selection and transports."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

CONNECTIONS = ("local", "ssh", "winrm")


@dataclass(frozen=True, slots=True)
class Host:
    """One managed machine with its connection settings and fully merged vars.

    Connection keys (all optional, resolved from vars or Ansible aliases):
    address, port, user, connection, os, key_file, key_passphrase_env, password_env, password_cmd,
    password_keyring, become_password_env, become_password_cmd, host_key_policy, proxy_jump,
    connect_timeout, known_hosts.
    """

    name: str
    address: str
    connection: str = "ssh"  # one of CONNECTIONS
    port: int | None = None  # None = transport default (ssh 22, or ~/.ssh/config)
    user: str | None = None
    os: str | None = None  # linux, windows, darwin, freebsd ... (a hint; probes detect too)
    client: str | None = None
    site: str | None = None
    groups: tuple[str, ...] = ()  # every group the host is in, parents included, "all" excluded
    tags: tuple[str, ...] = ()
    vars: Mapping[str, Any] = field(default_factory=dict)  # merged: defaults->client->site->group->host

    def var(self, key: str, default: Any = None) -> Any:
        return self.vars.get(key, default)


@dataclass(frozen=True, slots=True)
class Group:
    """A named set of hosts. Clients and sites are also exposed as groups for patterns."""

    name: str
    hosts: tuple[str, ...] = ()  # direct members
    children: tuple[str, ...] = ()
    vars: Mapping[str, Any] = field(default_factory=dict)
    kind: str = "group"  # group | client | site


@dataclass(frozen=True, slots=True)
class Inventory:
    """Every host in file order, the groups, and where it came from."""

    hosts: Mapping[str, Host]  # insertion order = inventory order
    groups: Mapping[str, Group]
    source: Path | None = None  # None = the embedded default
    format: str = "rmmctl"  # rmmctl | ansible-yaml | ansible-ini | embedded
    known_hosts: Path | None = None  # inventory-level known_hosts file (resolved absolute)
    defaults: Mapping[str, Any] = field(default_factory=dict)
