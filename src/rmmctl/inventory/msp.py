"""The rmmctl (MSP) inventory format: clients -> sites -> hosts, groups, tags, defaults, inheritance."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rmmctl.inventory.conn import CONN_KEYS, BadValue, conn_value, resolve_jumps
from rmmctl.inventory.model import Group, Host, Inventory
from rmmctl.inventory.parse import (
    ENV_RE,
    NAME_RE,
    MarkedMap,
    Source,
    describe,
    did_you_mean,
    is_secret_key,
    join,
    mapping,
    names_list,
    plain,
)
from rmmctl.inventory.validate import check_address, check_host_name, check_known_hosts, validate_hosts
from rmmctl.inventory.window import check_window_var

TOP_KEYS = ("version", "known_hosts", "defaults", "groups", "clients", "hosts")
_CONN = tuple(CONN_KEYS)
LEVEL_KEYS = {
    "defaults": (*_CONN, "vars"),
    "client": (*_CONN, "vars", "sites", "hosts"),
    "site": (*_CONN, "vars", "hosts"),
    "group": (*_CONN, "vars", "children"),
    "host": ("address", *_CONN, "groups", "tags", "vars"),
}
RESERVED = ("all", "ungrouped")
ANSIBLE_HINTS = {
    "ansible_host": "address",
    "ansible_port": "port",
    "ansible_user": "user",
    "ansible_connection": "connection",
    "ansible_ssh_private_key_file": "key_file",
}
_SECRET_FIX = {
    "become": "use become_password_env or become_password_cmd",
    "phrase": "use key_passphrase_env",
}


@dataclass
class _Layer:
    conn: dict[str, Any] = field(default_factory=dict)
    vars: dict[str, Any] = field(default_factory=dict)


@dataclass
class _GroupDef:
    layer: _Layer
    children: list[str]
    line: int


@dataclass
class _HostDef:
    name: str
    line: int
    path: str
    layer: _Layer
    address: str | None = None
    client: str | None = None
    site: str | None = None
    groups: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)


@dataclass
class _Parsed:
    defaults: _Layer = field(default_factory=_Layer)
    groups: dict[str, _GroupDef] = field(default_factory=dict)
    clients: dict[str, tuple[_Layer, dict[str, _Layer], int]] = field(default_factory=dict)
    hosts: list[_HostDef] = field(default_factory=list)
    host_lines: dict[str, int] = field(default_factory=dict)


def parse_msp(data: MarkedMap, src: Source) -> Inventory:
    """Validate an rmmctl inventory mapping and resolve it into an Inventory."""
    check_keys(data, TOP_KEYS, src, "")
    _check_version(data, src)
    known_hosts = None
    if "known_hosts" in data:
        known_hosts = src.resolve(
            _string(data, "known_hosts", src, "", "expected a path to a known_hosts file")
        )
        try:
            check_known_hosts(known_hosts)
        except BadValue as bad:
            raise src.error(data.line_of("known_hosts"), "known_hosts", bad.problem, bad.expected) from None
    parsed = _Parsed(
        defaults=_layer(data.get("defaults"), "defaults", src, "defaults", data.line_of("defaults"))
    )
    parsed.groups = _groups(data, src)
    for key in data:  # file order, so hosts keep the order they are written in
        if key == "clients":
            _clients(data, src, parsed)
        elif key == "hosts":
            _hosts(data["hosts"], src, "hosts", data.line_of("hosts"), parsed, None, None)
    _check_names(parsed, src)
    hosts, groups = _build(parsed, src)
    return Inventory(
        hosts=hosts,
        groups=groups,
        source=src.path,
        format="rmmctl",
        known_hosts=Path(known_hosts) if known_hosts else None,
        defaults={**parsed.defaults.conn, **parsed.defaults.vars},
    )


def check_keys(node: MarkedMap, allowed: tuple[str, ...], src: Source, path: str) -> None:
    """Raise on the first key not in `allowed`, with a did-you-mean and a secrets hint."""
    for key in node:
        if key in allowed:
            continue
        line, where = node.line_of(key), join(path, key)
        if is_secret_key(key):
            raise src.error(line, where, "secrets never in the inventory", _secret_fix(key))
        if key in ANSIBLE_HINTS:
            raise src.error(
                line, where, "is Ansible syntax", f"use '{ANSIBLE_HINTS[key]}' in an rmmctl inventory"
            )
        hint = did_you_mean(key, allowed)
        raise src.error(line, where, f"unknown key{hint}", "expected one of " + ", ".join(allowed))


def _secret_fix(key: str) -> str:
    for word, fix in _SECRET_FIX.items():
        if word in key:
            return fix
    return "use password_env, password_cmd or password_keyring"


def _check_version(data: MarkedMap, src: Source) -> None:
    if "version" in data and (data["version"] != 1 or isinstance(data["version"], bool)):
        raise src.error(data.line_of("version"), "version", f"got {data['version']!r}", "expected 1")


def _string(node: MarkedMap, key: str, src: Source, path: str, expected: str) -> str:
    value = node[key]
    if not isinstance(value, str) or not value.strip():
        raise src.error(node.line_of(key), join(path, key), f"got {describe(value)}", expected)
    return value.strip()


def _layer(value: Any, kind: str, src: Source, path: str, line: int) -> _Layer:
    node = mapping(value, src, path, line)
    check_keys(node, LEVEL_KEYS[kind], src, path)
    layer = _Layer()
    for key in CONN_KEYS:
        if key in node:
            try:
                layer.conn[key] = conn_value(key, node[key])
            except BadValue as bad:
                raise src.error(node.line_of(key), join(path, key), bad.problem, bad.expected) from None
    if "key_file" in layer.conn:
        layer.conn["key_file"] = src.resolve(layer.conn["key_file"])
    if "vars" in node:
        layer.vars = _vars(node["vars"], src, join(path, "vars"), node.line_of("vars"))
    return layer


def _vars(value: Any, src: Source, path: str, line: int) -> dict[str, Any]:
    node = mapping(value, src, path, line, "expected a mapping of variable names to values")
    for key in node:
        where, kline = join(path, key), node.line_of(key)
        if is_secret_key(key):
            raise src.error(kline, where, "secrets never in the inventory", _secret_fix(key))
        if key in CONN_KEYS or key == "address":
            raise src.error(kline, where, "is a connection key", "put it beside 'vars:', not inside it")
        if key in ANSIBLE_HINTS:
            raise src.error(kline, where, "is Ansible syntax", f"use '{ANSIBLE_HINTS[key]}' beside 'vars:'")
        if not ENV_RE.match(key):
            raise src.error(kline, where, "bad variable name", "expected letters, digits and '_'")
        try:
            check_window_var(key, plain(node[key]))  # maintenance_window, timezone
        except BadValue as bad:
            raise src.error(kline, where, bad.problem, bad.expected) from None
    return {k: plain(v) for k, v in node.items()}


def _name(name: str, src: Source, line: int, path: str, what: str) -> None:
    if what == "host":
        try:
            check_host_name(name)
        except BadValue as bad:
            raise src.error(line, path, bad.problem, bad.expected) from None
    elif not NAME_RE.match(name):
        raise src.error(line, path, f"bad {what} name {name!r}", "expected letters, digits, '.', '-' and '_'")
    if name in RESERVED:
        raise src.error(line, path, f"'{name}' is reserved", f"choose another {what} name")


def _groups(data: MarkedMap, src: Source) -> dict[str, _GroupDef]:
    node = mapping(data.get("groups"), src, "groups", data.line_of("groups"))
    groups: dict[str, _GroupDef] = {}
    for name, value in node.items():
        path, line = join("groups", name), node.line_of(name)
        _name(name, src, line, path, "group")
        layer = _layer(value, "group", src, path, line)
        children = names_list(value, "children", src, path) if value else []
        groups[name] = _GroupDef(layer, [c for c, _ in children], line)
    for name, value in node.items():
        for child, cline in names_list(value, "children", src, join("groups", name)) if value else []:
            if child not in groups:
                hint = did_you_mean(child, groups)
                raise src.error(
                    cline,
                    f"groups.{name}.children",
                    f"unknown group '{child}'{hint}",
                    "expected a group defined under 'groups:'",
                )
    _check_cycles(groups, src)
    return groups


def _check_cycles(groups: dict[str, _GroupDef], src: Source) -> None:
    def visit(name: str, trail: list[str]) -> None:
        if name in trail:
            loop = " -> ".join([*trail[trail.index(name) :], name])
            raise src.error(
                groups[name].line,
                f"groups.{name}.children",
                f"group cycle {loop}",
                "a group cannot contain itself",
            )
        for child in groups[name].children:
            visit(child, [*trail, name])

    for name in groups:
        visit(name, [])


def _clients(data: MarkedMap, src: Source, parsed: _Parsed) -> None:
    node = mapping(data.get("clients"), src, "clients", data.line_of("clients"))
    for name, value in node.items():
        path, line = join("clients", name), node.line_of(name)
        _name(name, src, line, path, "client")
        layer = _layer(value, "client", src, path, line)
        body = mapping(value, src, path, line)
        sites: dict[str, _Layer] = {}
        parsed.clients[name] = (layer, sites, line)
        for key in body:  # file order, so hosts keep the order they are written in
            if key == "hosts":
                _hosts(body["hosts"], src, join(path, "hosts"), body.line_of("hosts"), parsed, name, None)
            elif key == "sites":
                _sites(body, src, join(path, "sites"), parsed, name, sites)


def _sites(
    body: MarkedMap, src: Source, path: str, parsed: _Parsed, client: str, sites: dict[str, _Layer]
) -> None:
    node = mapping(body["sites"], src, path, body.line_of("sites"))
    for site, value in node.items():
        spath, sline = join(path, site), node.line_of(site)
        _name(site, src, sline, spath, "site")
        sites[site] = _layer(value, "site", src, spath, sline)
        sbody = mapping(value, src, spath, sline)
        _hosts(sbody.get("hosts"), src, join(spath, "hosts"), sbody.line_of("hosts"), parsed, client, site)


def _hosts(
    value: Any, src: Source, path: str, line: int, parsed: _Parsed, client: str | None, site: str | None
) -> None:
    node = mapping(value, src, path, line, "expected a mapping of host names to host entries")
    for name, entry in node.items():
        hpath, hline = join(path, name), node.line_of(name)
        _name(name, src, hline, hpath, "host")
        if name in parsed.host_lines:
            raise src.error(
                hline,
                hpath,
                f"duplicate host '{name}' (first defined at line {parsed.host_lines[name]})",
                "host names are unique across the whole file",
            )
        parsed.host_lines[name] = hline
        host = _HostDef(
            name, hline, hpath, _layer(entry, "host", src, hpath, hline), client=client, site=site
        )
        body = mapping(entry, src, hpath, hline)
        if "address" in body:
            host.address = _address(body, src, hpath)
        host.groups = [g for g, _ in _group_refs(body, src, hpath, parsed.groups)]
        host.tags = [t for t, _ in names_list(body, "tags", src, hpath)]
        parsed.hosts.append(host)


def _address(body: MarkedMap, src: Source, path: str) -> str:
    try:
        return check_address(body["address"])
    except BadValue as bad:
        raise src.error(body.line_of("address"), join(path, "address"), bad.problem, bad.expected) from None


def _group_refs(
    body: MarkedMap, src: Source, path: str, groups: dict[str, _GroupDef]
) -> list[tuple[str, int]]:
    refs = names_list(body, "groups", src, path)
    for index, (name, line) in enumerate(refs):
        if name not in groups:
            raise src.error(
                line,
                f"{path}.groups[{index}]",
                f"unknown group '{name}'{did_you_mean(name, groups)}",
                "expected a group defined under 'groups:'",
            )
    return refs


def _check_names(parsed: _Parsed, src: Source) -> None:
    for name, (_, _, line) in parsed.clients.items():
        if name in parsed.groups:
            raise src.error(
                line,
                f"clients.{name}",
                f"client '{name}' has the same name as a group (line {parsed.groups[name].line})",
                "rename one: patterns would be ambiguous",
            )
    for host in parsed.hosts:
        if host.name in parsed.groups or host.name in parsed.clients:
            raise src.error(
                host.line,
                host.path,
                f"host '{host.name}' has the same name as a group or client",
                "rename one: patterns would be ambiguous",
            )


def _group_order(host: _HostDef, parents: dict[str, list[str]]) -> list[str]:
    """The host's groups, each preceded by its ancestors, first occurrence kept."""
    order: list[str] = []

    def add(name: str) -> None:
        for parent in parents[name]:
            add(parent)
        if name not in order:
            order.append(name)

    for name in host.groups:
        add(name)
    return order


def _resolve_host(host: _HostDef, parsed: _Parsed, order: list[str]) -> Host:
    layers = [parsed.defaults]
    if host.client:
        client_layer, sites, _ = parsed.clients[host.client]
        layers.append(client_layer)
        if host.site:
            layers.append(sites[host.site])
    layers += [parsed.groups[g].layer for g in order]
    layers.append(host.layer)
    conn: dict[str, Any] = {}
    merged: dict[str, Any] = {}
    for layer in layers:
        conn.update(layer.conn)
        merged.update(layer.vars)
    connection = conn.pop("connection", "ssh")
    os_name = conn.pop("os", None) or ("windows" if connection == "winrm" else None)
    port, user = conn.pop("port", None), conn.pop("user", None)
    site_groups = [host.client] if host.client else []
    site_groups += [f"{host.client}/{host.site}"] if host.site else []
    return Host(
        name=host.name,
        address=host.address or host.name,
        connection=connection,
        port=port,
        user=user,
        os=os_name,
        client=host.client,
        site=host.site,
        groups=tuple(site_groups + order) or ("ungrouped",),
        tags=tuple(dict.fromkeys(host.tags)),
        vars={**merged, **conn},
    )


def _build(parsed: _Parsed, src: Source) -> tuple[dict[str, Host], dict[str, Group]]:
    parents = {name: [p for p, g in parsed.groups.items() if name in g.children] for name in parsed.groups}
    hosts = {h.name: _resolve_host(h, parsed, _group_order(h, parents)) for h in parsed.hosts}
    lines = {h.name: (h.line, h.path) for h in parsed.hosts}
    validate_hosts(hosts, src, lines)
    hosts = resolve_jumps(hosts, src, lines)
    groups: dict[str, Group] = {"all": Group("all")}
    ungrouped = tuple(n for n, h in hosts.items() if h.groups == ("ungrouped",))
    groups["ungrouped"] = Group("ungrouped", hosts=ungrouped)
    for cname, (layer, sites, _) in parsed.clients.items():
        direct = tuple(n for n, h in hosts.items() if h.client == cname and h.site is None)
        groups[cname] = Group(
            cname, direct, tuple(f"{cname}/{s}" for s in sites), {**layer.conn, **layer.vars}, "client"
        )
        for sname, slayer in sites.items():
            members = tuple(n for n, h in hosts.items() if h.client == cname and h.site == sname)
            groups[f"{cname}/{sname}"] = Group(
                f"{cname}/{sname}", members, (), {**slayer.conn, **slayer.vars}, "site"
            )
    for gname, gdef in parsed.groups.items():
        members = tuple(h.name for h in parsed.hosts if gname in h.groups)
        groups[gname] = Group(gname, members, tuple(gdef.children), {**gdef.layer.conn, **gdef.layer.vars})
    child_groups = {c for g in parsed.groups.values() for c in g.children}
    top = ["ungrouped", *parsed.clients, *(g for g in parsed.groups if g not in child_groups)]
    groups["all"] = Group("all", (), tuple(top))
    return hosts, groups
