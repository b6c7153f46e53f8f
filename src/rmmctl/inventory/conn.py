"""Connection keys: validation of each value, and proxy_jump chains resolved against the inventory."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

from rmmctl.inventory.model import Host
from rmmctl.inventory.parse import ENV_RE, Source, describe, did_you_mean
from rmmctl.transports.ssh.config import JUMP_HOP, split_jump

OS_NAMES = ("linux", "windows", "darwin", "freebsd", "openbsd", "netbsd")
HOST_KEY_POLICIES = ("strict", "accept-new")


def port_value(value: Any) -> int | None:
    """An int port 1..65535 from an int or digit string, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, int) and 1 <= value <= 65535:
        return value
    return None


TIMEOUT_MAX = 3600.0  # the same range as --connect-timeout


def timeout_value(value: Any) -> float | None:
    """A positive, finite number of seconds (at most TIMEOUT_MAX) from a number or numeric string, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None
    if isinstance(value, (int, float)) and 0 < value <= TIMEOUT_MAX:  # False for nan
        return float(value)
    return None


def jump_problem(chain: str) -> str | None:
    """Why a proxy_jump chain is malformed, or None when every hop is [user@]host[:port]."""
    for hop in (h.strip() for h in chain.split(",")):
        if split_jump(hop) is None:
            return f"hop {hop!r} has an invalid port" if JUMP_HOP.fullmatch(hop) else f"hop {hop!r} is malformed"
    return None


def format_hop(user: str | None, address: str, port: int | None) -> str:
    """`[user@]address[:port]`, bracketing IPv6 addresses."""
    host = f"[{address}]" if ":" in address else address
    return f"{user + '@' if user else ''}{host}{':' + str(port) if port else ''}"


class BadValue(Exception):
    """A value of the wrong shape: `problem` and `expected`, located by the caller."""

    def __init__(self, problem: str, expected: str) -> None:
        super().__init__(f"{problem}; {expected}")
        self.problem = problem
        self.expected = expected


def _text(value: Any, expected: str, pattern: re.Pattern[str] | None = None) -> str:
    if not isinstance(value, str) or not value.strip():
        raise BadValue(f"got {describe(value)}", expected)
    if pattern is not None and not pattern.match(value):
        raise BadValue(f"got {value!r}", expected)
    return value.strip()


def _choice(value: Any, choices: tuple[str, ...]) -> str:
    expected = "expected one of " + ", ".join(choices)
    if not isinstance(value, str):
        raise BadValue(f"got {describe(value)}", expected)
    if value not in choices:
        raise BadValue(f"got {value!r}{did_you_mean(value, choices)}", expected)
    return value


def _port(value: Any) -> int:
    port = port_value(value)
    if port is None:
        raise BadValue(f"got {value!r}", "expected an integer port 1..65535")
    return port


def _float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


def _timeout(value: Any) -> float:
    seconds = timeout_value(value)
    if seconds is None:
        big = not isinstance(value, bool) and not _float(value) <= TIMEOUT_MAX  # also nan and inf
        raise BadValue(f"got {value!r}", f"expected a finite number of seconds from 0 to {TIMEOUT_MAX:g}" if big
                       else "expected a number of seconds greater than 0")
    return value if isinstance(value, (int, float)) else seconds


def _jump(value: Any) -> str:
    chain = _text(value, "expected a host name or [user@]host[:port], comma-separated for a chain")
    problem = jump_problem(chain)
    if problem:
        raise BadValue(problem, "expected [user@]host[:port] hops separated by commas")
    return ",".join(h.strip() for h in chain.split(","))


def _keyring(value: Any) -> str:
    ref = _text(value, "expected 'service/username'")
    if "/" not in ref.strip("/"):
        raise BadValue(f"got {ref!r}", "expected 'service/username'")
    return ref


_ENV = "expected an environment variable name like ACME_ADMIN_PW"
CONN_KEYS: dict[str, Any] = {
    "port": _port,
    "user": lambda v: _text(v, "expected a user name"),
    "connection": lambda v: _choice(v, ("local", "ssh", "winrm")),
    "os": lambda v: _choice(v, OS_NAMES),
    "key_file": lambda v: _text(v, "expected a path to a private key file"),
    "key_passphrase_env": lambda v: _text(v, _ENV, ENV_RE),
    "password_env": lambda v: _text(v, _ENV, ENV_RE),
    "password_cmd": lambda v: _text(v, "expected a command that prints the password"),
    "password_keyring": _keyring,
    "become_password_env": lambda v: _text(v, _ENV, ENV_RE),
    "become_password_cmd": lambda v: _text(v, "expected a command that prints the password"),
    "host_key_policy": lambda v: _choice(v, HOST_KEY_POLICIES),
    "proxy_jump": _jump,
    "connect_timeout": _timeout,
}


def conn_value(key: str, value: Any) -> Any:
    """Validate and normalise one connection key's value; raises BadValue."""
    return CONN_KEYS[key](value)


def resolve_jumps(
    hosts: dict[str, Host], src: Source, lines: Mapping[str, tuple[int, str]]
) -> dict[str, Host]:
    """Rewrite proxy_jump hops that name inventory hosts into `[user@]address[:port]`.

    A host never jumps through itself: its own name ends an inherited chain there.
    """
    out: dict[str, Host] = {}
    for name, host in hosts.items():
        chain = host.vars.get("proxy_jump")
        if not isinstance(chain, str) or not chain or chain.lower() == "none":  # none: no jump at all
            out[name] = host
            continue
        hops = _resolve_chain(name, chain, hosts, src, lines.get(name, (0, name)))
        new_vars = {k: v for k, v in host.vars.items() if k != "proxy_jump"}
        if hops:
            new_vars["proxy_jump"] = ",".join(hops)
        out[name] = dataclasses.replace(host, vars=new_vars)
    return out


def _resolve_chain(
    name: str, chain: str, hosts: Mapping[str, Host], src: Source, where: tuple[int, str]
) -> list[str]:
    hops: list[str] = []
    for hop in chain.split(","):
        parts = split_jump(hop)
        if parts is None:  # validated at load; a malformed hop here came from an Ansible ssh arg
            raise src.error(
                where[0], f"{where[1]}.proxy_jump", f"hop {hop!r} is malformed", "expected [user@]host[:port]"
            )
        user, address, hop_port = parts
        if address == name:
            break
        target = hosts.get(address)
        if target is None:
            hops.append(hop.strip())
            continue
        if target.connection != "ssh":
            raise src.error(
                where[0],
                f"{where[1]}.proxy_jump",
                f"jump host '{target.name}' uses {target.connection}",
                "expected a host reached over ssh",
            )
        hops.append(format_hop(user or target.user, target.address, hop_port or target.port))
    return hops
