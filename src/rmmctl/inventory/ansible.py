"""Ansible inventories read as they are: YAML (all/children/hosts/vars) and INI, with host ranges."""

from __future__ import annotations

import ast
import re
import shlex
from dataclasses import dataclass, field
from typing import Any

from rmmctl.inventory.conn import CONN_KEYS, BadValue, conn_value, port_value, resolve_jumps
from rmmctl.inventory.hostnames import expand_hosts
from rmmctl.inventory.model import Group, Host, Inventory
from rmmctl.inventory.parse import MarkedMap, Source, describe, did_you_mean, join, plain
from rmmctl.inventory.validate import check_address, check_host_name, validate_hosts
from rmmctl.inventory.window import check_window_var

GROUP_KEYS = ("hosts", "children", "vars")
CONNECTIONS = {
    "ssh": "ssh",
    "paramiko": "ssh",
    "paramiko_ssh": "ssh",
    "smart": "ssh",
    "local": "local",
    "winrm": "winrm",
    "psrp": "winrm",
}
# rmmctl field <- Ansible variables, first one set wins; these leave vars (secrets move under `password`...).
ALIASES = {
    "address": ("ansible_host", "ansible_ssh_host"),
    "port": ("ansible_port", "ansible_ssh_port"),
    "user": ("ansible_user", "ansible_ssh_user", "ansible_remote_user"),
    "connection": ("ansible_connection",),
    "key_file": ("ansible_ssh_private_key_file", "ansible_private_key_file"),
    "password": ("ansible_password", "ansible_ssh_pass", "ansible_ssh_password"),
    "become_password": ("ansible_become_password", "ansible_become_pass", "ansible_sudo_pass"),
}
NATIVE_KEYS = tuple(k for k in CONN_KEYS if k not in ("port", "user", "connection", "os", "key_file"))
_SECTION_RE = re.compile(r"^\[([^:\]\s]+)(?::(\w+))?\]\s*(?:[#;].*)?$")


@dataclass
class _AGroup:
    line: int
    vars: dict[str, Any] = field(default_factory=dict)
    children: list[str] = field(default_factory=list)
    hosts: dict[str, None] = field(default_factory=dict)  # an ordered set
    parents: list[str] = field(default_factory=list)


@dataclass
class _Builder:
    src: Source
    groups: dict[str, _AGroup] = field(default_factory=dict)
    hosts: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> vars, in first-seen order
    lines: dict[str, tuple[int, str]] = field(default_factory=dict)
    member_of: dict[str, dict[str, None]] = field(default_factory=dict)  # host -> its direct groups

    def __post_init__(self) -> None:
        self.child("all", "ungrouped", 1)  # as in Ansible: ungrouped is the first child of all

    def group(self, name: str, line: int) -> _AGroup:
        return self.groups.setdefault(name, _AGroup(line))

    def child(self, parent: str, child: str, line: int) -> None:
        p, c = self.group(parent, line), self.group(child, line)
        if child not in p.children:
            p.children.append(child)
            c.parents.append(parent)

    def host(self, name: str, group: str, line: int, path: str, hvars: dict[str, Any]) -> None:
        self.hosts.setdefault(name, {}).update(hvars)
        self.lines.setdefault(name, (line, path))
        self.group(group, line).hosts[name] = None
        self.member_of.setdefault(name, {})[group] = None


def check_var(key: str, value: Any, src: Source, line: int, path: str) -> Any:
    """Validate one Ansible variable that rmmctl interprets; returns it normalised."""
    try:
        if key in ALIASES["port"]:
            if port_value(value) is None:
                raise BadValue(f"got {value!r}", "expected an integer port 1..65535")
            return port_value(value)
        if key == "ansible_connection":
            return _connection(value)
        if key in ALIASES["address"]:
            return check_address(value)
        if key in ALIASES["user"] + ALIASES["key_file"]:
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                value = str(value)
            if not isinstance(value, str) or not value.strip():
                raise BadValue(f"got {describe(value)}", "expected a non-empty string")
        if key in NATIVE_KEYS:
            return conn_value(key, value)
        check_window_var(key, value)  # maintenance_window, timezone
    except BadValue as bad:  # password aliases are never checked, so a secret is never echoed here
        raise src.error(line, join(path, key), bad.problem, bad.expected) from None
    return value


def _connection(value: Any) -> str:
    name = value.rsplit(".", 1)[-1] if isinstance(value, str) else value
    if name not in CONNECTIONS:
        raise BadValue(f"got {value!r}", "expected ssh, paramiko, smart, local, winrm or psrp")
    return str(value)


# ---------------------------------------------------------------- YAML


def parse_ansible_yaml(data: MarkedMap, src: Source) -> Inventory:
    """Build an Inventory from an Ansible YAML inventory (top-level keys are groups)."""
    b = _Builder(src)
    for name, body in data.items():
        _yaml_group(b, name, body, name, data.line_of(name))
    return finalize(b, "ansible-yaml")


def _yaml_group(b: _Builder, name: str, body: Any, path: str, line: int) -> None:
    src = b.src
    group = b.group(name, line)
    if body is None:
        return
    if not isinstance(body, MarkedMap):
        raise src.error(
            line, path, f"got {describe(body)}", "expected a group mapping with hosts, children or vars"
        )
    for key in body:
        if key not in GROUP_KEYS:
            raise src.error(
                body.line_of(key),
                join(path, key),
                f"unknown key{did_you_mean(key, GROUP_KEYS)}",
                "expected hosts, children or vars (an Ansible group)",
            )
    group.vars.update(_yaml_vars(b, body, "vars", join(path, "vars")))
    hosts = _yaml_map(b, body, "hosts", path, "expected a mapping of host names (each ending with ':')")
    for token, hbody in hosts.items():
        _yaml_host(b, name, token, hbody, join(join(path, "hosts"), token), hosts.line_of(token))
    children = _yaml_map(b, body, "children", path, "expected a mapping of child group names")
    for child, cbody in children.items():
        b.child(name, child, children.line_of(child))
        _yaml_group(b, child, cbody, join(join(path, "children"), child), children.line_of(child))


def _yaml_map(b: _Builder, body: MarkedMap, key: str, path: str, expected: str) -> MarkedMap:
    value = body.get(key)
    if value is None:
        return MarkedMap(body.line_of(key))
    if not isinstance(value, MarkedMap):
        raise b.src.error(body.line_of(key), join(path, key), f"got {describe(value)}", expected)
    return value


def _yaml_vars(b: _Builder, body: MarkedMap, key: str, path: str) -> dict[str, Any]:
    node = _yaml_map(b, body, key, path.rpartition(".")[0], "expected a mapping of variable names to values")
    return {k: check_var(k, plain(v), b.src, node.line_of(k), path) for k, v in node.items()}


def _yaml_host(b: _Builder, group: str, token: str, body: Any, path: str, line: int) -> None:
    try:
        names, port = expand_hosts(token)
        for name in names:
            check_host_name(name)
    except BadValue as bad:
        raise b.src.error(line, path, bad.problem, bad.expected) from None
    if body is not None and not isinstance(body, MarkedMap):
        raise b.src.error(
            line, path, f"got {describe(body)}", "expected a mapping of host variables, or nothing"
        )
    node = body if isinstance(body, MarkedMap) else MarkedMap(line)
    hvars = {k: check_var(k, plain(v), b.src, node.line_of(k), path) for k, v in node.items()}
    if port is not None:
        hvars = {"ansible_port": port, **hvars}
    for name in names:
        b.host(name, group, line, path, hvars)


# ---------------------------------------------------------------- INI


def parse_ini(text: str, src: Source) -> Inventory:
    """Build an Inventory from an Ansible INI inventory ([group], [group:vars], [group:children])."""
    b = _Builder(src)
    group, state, declared = "ungrouped", "hosts", {"all", "ungrouped"}
    pending: dict[str, tuple[int, str]] = {}  # group referenced but not declared -> (line, what)
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        section = _SECTION_RE.match(line)
        if section:
            group, state = section.group(1), section.group(2) or "hosts"
            _ini_section(b, group, state, number, line, declared, pending)
        elif line.startswith("["):
            raise src.error(
                number, line, "bad section header", "expected [group], [group:vars] or [group:children]"
            )
        elif state == "hosts":
            _ini_host(b, group, line, number)
        elif state == "vars":
            _ini_var(b, group, line, number)
        else:
            _ini_child(b, group, line, number, declared, pending)
    for name, (number, what) in pending.items():
        if name not in declared:
            raise src.error(number, f"[{what}]", f"names undefined group '{name}'", f"add a [{name}] section")
    return finalize(b, "ansible-ini")


def _ini_section(
    b: _Builder,
    group: str,
    state: str,
    number: int,
    line: str,
    declared: set[str],
    pending: dict[str, tuple[int, str]],
) -> None:
    if state not in ("hosts", "vars", "children"):
        raise b.src.error(number, line, f"unknown section type '{state}'", "expected :vars or :children")
    b.group(group, number)
    if state == "vars":
        pending.setdefault(group, (number, f"{group}:vars"))
    else:
        declared.add(group)


def _ini_host(b: _Builder, group: str, line: str, number: int) -> None:
    try:
        tokens = shlex.split(line, comments=True)
        names, port = expand_hosts(tokens[0])
        for name in names:
            check_host_name(name)
    except ValueError as exc:
        raise b.src.error(
            number, f"[{group}]", f"cannot parse host line: {exc}", "expected HOST key=value ..."
        ) from None
    except BadValue as bad:
        raise b.src.error(number, f"[{group}] {tokens[0]}", bad.problem, bad.expected) from None
    path = f"[{group}] {tokens[0]}"
    hvars: dict[str, Any] = {"ansible_port": port} if port is not None else {}
    for index, token in enumerate(tokens[1:], start=2):
        key, eq, value = token.partition("=")
        if not eq or not key:  # the word is not echoed: it may be a mistyped secret
            raise b.src.error(number, path, f"word {index} is not key=value", "expected HOST key=value ...")
        hvars[key] = check_var(key, _ini_value(value), b.src, number, path)
    for name in names:
        b.host(name, group, number, path, hvars)


def _ini_var(b: _Builder, group: str, line: str, number: int) -> None:
    key, eq, value = (part.strip() for part in line.partition("="))
    if not eq or not key:
        raise b.src.error(number, f"[{group}:vars]", "the line is not key=value", "expected key=value")
    b.group(group, number).vars[key] = check_var(key, _ini_value(value), b.src, number, f"[{group}:vars]")


def _ini_child(
    b: _Builder, group: str, line: str, number: int, declared: set[str], pending: dict[str, tuple[int, str]]
) -> None:
    child = line.split("#", 1)[0].split(";", 1)[0].strip()
    if not child or any(c.isspace() or c in ":]" for c in child):
        raise b.src.error(number, f"[{group}:children]", f"got {line!r}", "expected one group name per line")
    b.child(group, child, number)
    if child not in declared:
        pending.setdefault(child, (number, f"{group}:children"))


def _ini_value(text: str) -> Any:
    """Ansible's INI value rule: a Python literal if it parses as one, else the string."""
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return text
    if isinstance(value, (tuple, set)):
        return list(value)
    if isinstance(value, (bytes, complex)) or value is Ellipsis:
        return text
    return value


# ---------------------------------------------------------------- resolution


def finalize(b: _Builder, fmt: str) -> Inventory:
    """Apply Ansible's rules (ungrouped, all's children, var precedence) and build the Inventory."""
    _reconcile(b)
    depth = _depths(b)
    hosts: dict[str, Host] = {}
    orders: dict[tuple[str, ...], tuple[list[str], dict[str, Any]]] = {}  # hosts of a range share one
    for name, hvars in b.hosts.items():
        direct = tuple(b.member_of.get(name, ()))
        if direct not in orders:
            order = sorted(_closure(b, direct), key=lambda g: (depth[g], _priority(b.groups[g]), g))
            group_vars: dict[str, Any] = {}
            for group in order:
                group_vars.update(b.groups[group].vars)
            orders[direct] = (order, group_vars)
        order, group_vars = orders[direct]
        hosts[name] = _to_host(name, {**group_vars, **hvars}, tuple(g for g in order if g != "all"))
    validate_hosts(hosts, b.src, b.lines)
    hosts = resolve_jumps(hosts, b.src, b.lines)
    groups = {
        n: Group(n, tuple(g.hosts) if n != "all" else (), tuple(g.children), dict(g.vars))
        for n, g in b.groups.items()
    }
    return Inventory(
        hosts=hosts, groups=groups, source=b.src.path, format=fmt, defaults=dict(b.groups["all"].vars)
    )


def _reconcile(b: _Builder) -> None:
    for name, group in list(b.groups.items()):
        if name != "all" and not group.parents:
            b.child("all", name, group.line)
    ungrouped = b.groups["ungrouped"]
    for host in b.hosts:
        member_of = b.member_of.setdefault(host, {})
        member_of.pop("all", None)
        if any(g != "ungrouped" for g in member_of):
            ungrouped.hosts.pop(host, None)
            member_of.pop("ungrouped", None)
        else:
            ungrouped.hosts[host] = None
            member_of["ungrouped"] = None
    b.groups["all"].hosts.clear()


def _depths(b: _Builder) -> dict[str, int]:
    depth: dict[str, int] = {}

    def visit(name: str, trail: tuple[str, ...]) -> int:
        if name in trail:
            loop = " -> ".join([*trail[trail.index(name) :], name])
            raise b.src.error(
                b.groups[name].line, name, f"group cycle {loop}", "a group cannot contain itself"
            )
        if name not in depth:
            parents = b.groups[name].parents
            depth[name] = 1 + max((visit(p, (*trail, name)) for p in parents), default=-1)
        return depth[name]

    for name in b.groups:
        visit(name, ())
    return depth


def _closure(b: _Builder, direct: tuple[str, ...]) -> set[str]:
    found: set[str] = set()
    todo = [*direct, "all"]
    while todo:
        name = todo.pop()
        if name not in found:
            found.add(name)
            todo.extend(b.groups[name].parents)
    return found


def _priority(group: _AGroup) -> int:
    try:
        return int(group.vars.get("ansible_group_priority", 1))
    except (TypeError, ValueError):
        return 1


def _to_host(name: str, merged: dict[str, Any], groups: tuple[str, ...]) -> Host:
    hvars = dict(merged)
    fields: dict[str, Any] = {}
    for key, aliases in ALIASES.items():
        for alias in aliases:
            if alias in hvars:
                fields.setdefault(key, hvars[alias])
                del hvars[alias]
    for key in ("key_file", "password", "become_password"):
        if key in fields:
            hvars[key] = str(fields[key])
    if "proxy_jump" not in hvars:
        jump = _jump_from_ssh_args(hvars)
        if jump:
            hvars["proxy_jump"] = jump
    connection = CONNECTIONS[str(fields.get("connection", "ssh")).rsplit(".", 1)[-1]]
    windows = connection == "winrm" or hvars.get("ansible_shell_type") in ("powershell", "cmd")
    return Host(
        name=name,
        address=str(fields.get("address") or name),
        connection=connection,
        port=port_value(fields["port"]) if "port" in fields else None,
        user=str(fields["user"]) if "user" in fields else None,
        os="windows" if windows else None,
        groups=groups or ("ungrouped",),
        vars=hvars,
    )


def _jump_from_ssh_args(hvars: dict[str, Any]) -> str | None:
    """ProxyJump from ansible_ssh_common_args / ansible_ssh_extra_args (`-J x`, `-o ProxyJump=x`)."""
    for key in ("ansible_ssh_common_args", "ansible_ssh_extra_args"):
        try:
            tokens = shlex.split(str(hvars.get(key) or ""))
        except ValueError:
            continue
        for index, token in enumerate(tokens):
            nxt = tokens[index + 1] if index + 1 < len(tokens) else ""
            value = None
            if token == "-J" or (token == "-o" and nxt.lower().startswith("proxyjump")):
                value = nxt
            elif token.startswith("-J") or token.lower().startswith("-oproxyjump"):
                value = token[2:]
            if value is not None:
                value = re.sub(r"(?i)^proxyjump\s*[= ]\s*", "", value).strip()
                return None if value.lower() == "none" else value or None
    return None
