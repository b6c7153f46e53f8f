"""Pure views for `rmmctl inventory list|graph|host|check`, and the embedded default inventory."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rmmctl.errors import ConfigError
from rmmctl.inventory import (
    check,
    default_inventory,
    graph_lines,
    host_vars,
    is_secret_key,
    load_inventory,
    parse_inventory,
    to_ansible_list,
)
from rmmctl.secrets import REDACTED

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "inventories"


def test_default_inventory_is_this_machine_over_local() -> None:
    inv = load_inventory(None)
    assert inv == default_inventory()
    assert (inv.format, inv.source) == ("embedded", None)
    host = inv.hosts["localhost"]
    assert (host.address, host.connection) == ("127.0.0.1", "local")
    assert list(inv.hosts) == ["localhost"]


def test_list_is_shaped_like_ansible_inventory() -> None:
    data = to_ansible_list(load_inventory(FIXTURES / "msp.yaml"))
    assert data["all"] == {"children": ["ungrouped", "acme", "globex", "linux", "servers", "windows"]}
    assert data["acme"] == {"hosts": ["laptop-ceo"], "children": ["acme/hq"]}
    assert data["servers"] == {"hosts": ["fs01"], "children": ["printservers"]}
    assert data["ungrouped"] == {"hosts": ["standalone"]}
    hv = data["_meta"]["hostvars"]["jump01"]
    assert (hv["address"], hv["port"], hv["connection"], hv["client"], hv["site"]) == (
        "198.51.100.10",
        2202,
        "ssh",
        "acme",
        "hq",
    )
    assert hv["level"] == "linux"
    json.dumps(data)  # JSON-safe


def test_list_drops_empty_groups_and_secrets() -> None:
    inv = load_inventory(FIXTURES / "ansible.ini")
    data = to_ansible_list(inv)
    win = data["_meta"]["hostvars"]["win01.example.com"]
    assert "password" not in win
    assert "S3cret" not in json.dumps(data)
    empty = parse_inventory("groups: {empty: {}}\nhosts: {h1: {}}\n", Path("i.yaml"))
    assert "empty" not in to_ansible_list(empty)
    assert to_ansible_list(empty)["all"] == {"children": ["ungrouped"]}


def test_graph_like_ansible() -> None:
    lines = graph_lines(load_inventory(FIXTURES / "msp.yaml"))
    assert lines[:6] == [
        "@all:",
        "  |--@acme:",
        "  |  |--@acme/hq:",
        "  |  |  |--dc01",
        "  |  |  |--jump01",
        "  |  |  |--print01",
    ]
    assert lines[6] == "  |  |--laptop-ceo"
    assert "  |--@ungrouped:" in lines
    assert lines[lines.index("  |--@servers:") + 1] == "  |  |--@printservers:"


def test_host_vars_masks_secrets() -> None:
    inv = load_inventory(FIXTURES / "ansible.yaml")
    hv = host_vars(inv, "win01.example.com")
    assert hv["vars"]["password"] == REDACTED
    assert (hv["address"], hv["connection"], hv["os"], hv["groups"]) == (
        "198.51.100.7",
        "winrm",
        "windows",
        ["windows"],
    )
    assert "S3cret" not in json.dumps(hv)


def test_host_vars_unknown_host_suggests() -> None:
    inv = load_inventory(FIXTURES / "msp.yaml")
    with pytest.raises(ConfigError, match=r"unknown host 'jump1' in .*msp.yaml \(did you mean 'jump01'\?\)"):
        host_vars(inv, "jump1")


def test_check_warnings() -> None:
    text = """
groups: {empty: {}, linux: {}}
hosts:
  web01: {groups: [linux]}
  a1: {address: 192.0.2.1, proxy_jump: bastion}
  a2: {address: 192.0.2.1}
  w1: {address: w1.example, connection: winrm, os: linux, proxy_jump: "ops@jump.example"}
"""
    warnings = check(parse_inventory(text, Path("i.yaml")))
    assert warnings == [
        "group 'empty' has no hosts",
        "host 'web01' has no address: 'web01' must resolve via DNS or ~/.ssh/config; set address",
        "host 'a1': proxy_jump 'bastion' names no inventory host; it must resolve via DNS or ~/.ssh/config",
        "host 'w1' uses winrm, which ignores proxy_jump",
        "host 'w1' uses winrm but os is linux",
        "hosts 'a1' and 'a2' share address 192.0.2.1",
    ]


def test_check_ansible_warnings() -> None:
    text = (
        "[w]\nh1.example ansible_password=x ansible_ssh_common_args='-o StrictHostKeyChecking=no "
        '-o ProxyCommand="ssh -W %h:%p b.example"\'\n'
    )
    warnings = check(parse_inventory(text, Path("hosts")))
    assert warnings == [
        "host 'h1.example' has a literal password in the inventory; prefer password_env or password_cmd",
        "host 'h1.example': rmmctl ignores ProxyCommand in ssh args; set proxy_jump",
        (
            "host 'h1.example': rmmctl keeps strict host keys despite the ssh args; "
            "run `rmmctl hostkeys scan` or "
            "set host_key_policy: accept-new"
        ),
    ]


def test_check_is_clean_for_a_tidy_inventory() -> None:
    assert check(default_inventory()) == []


@pytest.mark.parametrize(
    "key",
    [
        "password",
        "ansible_password",
        "ansible_ssh_pass",
        "become_password",
        "smtp_password",
        "key_passphrase",
        "api_secret",
        "ansible_become_pass",
    ],
)
def test_secret_keys(key: str) -> None:
    assert is_secret_key(key)


@pytest.mark.parametrize("key", ["password_env", "password_cmd", "password_keyring", "user", "passive_mode"])
def test_not_secret_keys(key: str) -> None:
    assert not is_secret_key(key)
