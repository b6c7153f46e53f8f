"""Pure views of a resolved inventory for `rmmctl inventory list|graph|host|check`."""

from __future__ import annotations

import ipaddress
from typing import Any

from rmmctl.errors import ConfigError
from rmmctl.inventory.model import Host, Inventory
from rmmctl.inventory.parse import did_you_mean, is_secret_key
from rmmctl.inventory.select import short_name
from rmmctl.secrets import REDACTED
from rmmctl.transports.ssh.config import split_jump

_WEAK_SSH_ARGS = ("stricthostkeychecking=no", "userknownhostsfile=/dev/null")


def _fields(host: Host) -> dict[str, Any]:
    """The connection fields of a host that are set, in a stable order."""
    out: dict[str, Any] = {"address": host.address, "connection": host.connection}
    for key in ("port", "user", "os", "client", "site"):
        value = getattr(host, key)
        if value is not None:
            out[key] = value
    if host.tags:
        out["tags"] = list(host.tags)
    return out


def _public_vars(host: Host, mask: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in host.vars.items():
        if is_secret_key(key):
            if mask:
                out[key] = REDACTED
            continue
        out[key] = value
    return out


def to_ansible_list(inv: Inventory) -> dict[str, Any]:
    """A dict shaped like `ansible-inventory --list`, secrets removed, empty groups left out."""
    result: dict[str, Any] = {
        "_meta": {
            "hostvars": {n: {**_public_vars(h, mask=False), **_fields(h)} for n, h in inv.hosts.items()}
        }
    }
    for name, group in inv.groups.items():
        entry: dict[str, Any] = {}
        if group.hosts and name != "all":
            entry["hosts"] = list(group.hosts)
        children = [c for c in group.children if c in inv.groups and _non_empty(inv, c)]
        if children:
            entry["children"] = children
        if entry or name == "all":
            result[name] = entry
    return result


def _non_empty(inv: Inventory, name: str) -> bool:
    group = inv.groups[name]
    return bool(group.hosts) or any(_non_empty(inv, c) for c in group.children if c in inv.groups)


def graph_lines(inv: Inventory) -> list[str]:
    """Lines like `ansible-inventory --graph`: `@all:`, `  |--@acme:`, `  |  |--host`."""
    return _graph(inv, "all", 0, ())


def _graph(inv: Inventory, name: str, depth: int, trail: tuple[str, ...]) -> list[str]:
    lines = [_indent(f"@{name}:", depth)]
    group = inv.groups[name]
    for child in sorted(c for c in group.children if c in inv.groups and c not in trail):
        lines += _graph(inv, child, depth + 1, (*trail, name))
    if name != "all":
        lines += [_indent(h, depth + 1) for h in sorted(group.hosts)]
    return lines


def _indent(text: str, depth: int) -> str:
    return "  |" * depth + "--" + text if depth else text


def host_vars(inv: Inventory, name: str) -> dict[str, Any]:
    """Connection fields, groups and merged vars of one host, secrets masked."""
    where = str(inv.source) if inv.source else "the embedded default inventory"
    host = inv.hosts.get(name) or inv.hosts.get(short_name(name, inv.hosts, where) or "")
    if host is None:
        raise ConfigError(
            f"unknown host '{name}' in {where}{did_you_mean(name, inv.hosts)}; try `rmmctl inventory list`"
        )
    return {
        "name": host.name,
        **_fields(host),
        "groups": list(host.groups),
        "vars": _public_vars(host, mask=True),
    }


def check(inv: Inventory) -> list[str]:
    """Warnings about an inventory that loaded but may not work as meant."""
    warnings: list[str] = []
    for name in inv.groups:
        if name not in ("all", "ungrouped") and not _non_empty(inv, name):
            warnings.append(f"group '{name}' has no hosts")
    for host in inv.hosts.values():
        warnings += _host_warnings(inv, host)
    warnings += _duplicate_addresses(inv)
    return warnings


def _host_warnings(inv: Inventory, host: Host) -> list[str]:
    out: list[str] = []
    if host.connection != "local" and _bare_name(host.address) and host.address not in ("localhost",):
        out.append(
            f"host '{host.name}' has no address: '{host.address}' must resolve via DNS or ~/.ssh/config;"
            " set address"
        )
    jump = host.vars.get("proxy_jump")
    jump = None if str(jump).lower() == "none" else jump
    for hop in str(jump).split(",") if jump else []:
        parts = split_jump(hop)
        if parts and not parts[0] and _bare_name(parts[1]) and parts[1] not in inv.hosts:
            out.append(
                f"host '{host.name}': proxy_jump '{parts[1]}' names no inventory host; "
                "it must resolve via DNS or ~/.ssh/config"
            )
    if jump and host.connection == "winrm":
        out.append(f"host '{host.name}' uses winrm, which ignores proxy_jump")
    if host.connection == "winrm" and host.os not in (None, "windows"):
        out.append(f"host '{host.name}' uses winrm but os is {host.os}")
    if "password" in host.vars:
        out.append(
            f"host '{host.name}' has a literal password in the inventory; prefer password_env or password_cmd"
        )
    out += _ssh_arg_warnings(host)
    return out


def _ssh_arg_warnings(host: Host) -> list[str]:
    args = " ".join(str(host.vars.get(k, "")) for k in ("ansible_ssh_common_args", "ansible_ssh_extra_args"))
    flat = args.lower().replace(" ", "")
    out = []
    if "proxycommand" in flat:
        out.append(f"host '{host.name}': rmmctl ignores ProxyCommand in ssh args; set proxy_jump")
    if any(weak in flat for weak in _WEAK_SSH_ARGS):
        out.append(
            f"host '{host.name}': rmmctl keeps strict host keys despite the ssh args; "
            "run `rmmctl hostkeys scan` or set host_key_policy: accept-new"
        )
    return out


def _bare_name(address: str) -> bool:
    """True for a single-label name (no dot), which only resolves through DNS search or ssh config."""
    try:
        ipaddress.ip_address(address.strip("[]"))
    except ValueError:
        return "." not in address
    return False


def _duplicate_addresses(inv: Inventory) -> list[str]:
    seen: dict[tuple[str, int | None, str], str] = {}
    out = []
    for host in inv.hosts.values():
        key = (host.address, host.port, host.connection)
        if key in seen and host.connection != "local":
            out.append(f"hosts '{seen[key]}' and '{host.name}' share address {host.address}")
        seen.setdefault(key, host.name)
    return out
