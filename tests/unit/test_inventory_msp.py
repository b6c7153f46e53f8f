"""The rmmctl (MSP) inventory format: structure, inheritance, connection keys, proxy_jump."""

from __future__ import annotations

from pathlib import Path

import pytest

from rmmctl.inventory import Inventory, check, load_inventory, parse_inventory

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "inventories"
EXAMPLE = Path(__file__).resolve().parents[2] / "inventories" / "example.yaml"


@pytest.fixture(scope="module")
def inv() -> Inventory:
    return load_inventory(FIXTURES / "msp.yaml")


def test_format_hosts_in_file_order_and_fields(inv: Inventory) -> None:
    assert inv.format == "rmmctl"
    assert list(inv.hosts) == ["jump01", "print01", "dc01", "laptop-ceo", "fs01", "standalone"]
    jump = inv.hosts["jump01"]
    assert (jump.address, jump.port, jump.user, jump.connection, jump.os) == (
        "198.51.100.10",
        2202,
        "rmm",
        "ssh",
        "linux",
    )
    assert (jump.client, jump.site) == ("acme", "hq")


def test_address_defaults_to_name_and_connection_to_ssh() -> None:
    inv = parse_inventory("hosts:\n  web01.example: {}\n", Path("i.yaml"))
    host = inv.hosts["web01.example"]
    assert (host.address, host.connection, host.port, host.user, host.os) == (
        "web01.example",
        "ssh",
        None,
        None,
        None,
    )


def test_vars_inherit_defaults_client_site_group_host(inv: Inventory) -> None:
    assert inv.hosts["standalone"].vars["level"] == "defaults"
    assert inv.hosts["laptop-ceo"].vars["level"] == "linux"  # client < group
    assert inv.hosts["dc01"].vars["level"] == "site"  # the windows group sets no vars
    assert inv.hosts["jump01"].vars["level"] == "linux"  # site < group
    assert inv.hosts["print01"].vars["level"] == "host"
    merged = inv.hosts["print01"].vars
    assert {
        k: merged[k] for k in ("only_defaults", "only_client", "only_site", "only_linux", "team", "spooler")
    } == {
        "only_defaults": 1,
        "only_client": 1,
        "only_site": 1,
        "only_linux": 1,
        "team": "infra",
        "spooler": "cups",
    }


def test_group_vars_apply_in_host_group_order_with_parents_first() -> None:
    text = """
groups:
  a: {vars: {x: a}}
  b: {vars: {x: b}}
  parent: {children: [c], vars: {x: parent, y: parent}}
  c: {vars: {y: c}}
hosts:
  h1: {groups: [a, b]}
  h2: {groups: [b, a]}
  h3: {groups: [c]}
"""
    inv = parse_inventory(text, Path("i.yaml"))
    assert inv.hosts["h1"].vars["x"] == "b"
    assert inv.hosts["h2"].vars["x"] == "a"
    assert (inv.hosts["h3"].vars["x"], inv.hosts["h3"].vars["y"]) == ("parent", "c")
    assert inv.hosts["h3"].groups == ("parent", "c")


def test_connection_keys_inherit_and_land_in_fields_or_vars(inv: Inventory) -> None:
    dc = inv.hosts["dc01"]
    assert (dc.connection, dc.user, dc.os) == ("winrm", "ACME\\svc", "windows")  # group beats defaults
    assert dc.vars["password_env"] == "ACME_WIN_PW"
    assert dc.vars["host_key_policy"] == "accept-new"  # from the client
    assert dc.vars["connect_timeout"] == 5  # from defaults
    for field in ("user", "connection", "os", "port", "address"):
        assert field not in dc.vars


def test_paths_resolve_relative_to_the_inventory_file(inv: Inventory) -> None:
    assert inv.known_hosts == FIXTURES / "known_hosts"
    assert inv.hosts["laptop-ceo"].vars["key_file"] == str(FIXTURES / "keys" / "acme_ed25519")


def test_clients_and_sites_are_groups(inv: Inventory) -> None:
    acme, hq = inv.groups["acme"], inv.groups["acme/hq"]
    assert (acme.kind, acme.hosts, acme.children) == ("client", ("laptop-ceo",), ("acme/hq",))
    assert (hq.kind, hq.hosts) == ("site", ("jump01", "print01", "dc01"))
    assert inv.groups["all"].children == ("ungrouped", "acme", "globex", "linux", "servers", "windows")
    assert inv.groups["ungrouped"].hosts == ("standalone",)
    assert inv.hosts["print01"].groups == ("acme", "acme/hq", "linux", "servers", "printservers")
    assert inv.hosts["standalone"].groups == ("ungrouped",)


def test_tags(inv: Inventory) -> None:
    assert inv.hosts["print01"].tags == ("printserver", "cups")
    assert inv.hosts["standalone"].tags == ()


def test_proxy_jump_resolves_inventory_hosts_and_skips_itself(inv: Inventory) -> None:
    assert inv.hosts["print01"].vars["proxy_jump"] == "rmm@198.51.100.10:2202"
    assert "proxy_jump" not in inv.hosts["jump01"].vars  # the jump host does not jump through itself
    assert inv.hosts["fs01"].vars["proxy_jump"] == "admin@bastion.globex.example:2022,rmm@198.51.100.10:2202"


def test_proxy_jump_none_cancels_an_inherited_chain() -> None:
    text = (
        "defaults:\n  proxy_jump: ssh://ops@bastion.example:2022\nhosts:\n  a.example: {}\n  "
        "b.example: {proxy_jump: none}\n"
    )
    inv = parse_inventory(text, Path("i.yaml"))
    assert inv.hosts["a.example"].vars["proxy_jump"] == "ssh://ops@bastion.example:2022"
    assert inv.hosts["b.example"].vars["proxy_jump"] == "none"
    assert check(inv) == []


def test_winrm_defaults_os_to_windows() -> None:
    inv = parse_inventory("hosts:\n  w1: {connection: winrm}\n", Path("i.yaml"))
    assert inv.hosts["w1"].os == "windows"


def test_yaml_anchors_and_merge_keys_work() -> None:
    text = """
defaults:
  vars: &base {a: 1, b: 2}
hosts:
  h1:
    vars:
      <<: *base
      b: 3
"""
    inv = parse_inventory(text, Path("i.yaml"))
    assert {k: inv.hosts["h1"].vars[k] for k in "ab"} == {"a": 1, "b": 3}


def test_dates_stay_strings() -> None:
    inv = parse_inventory("hosts:\n  h1: {vars: {installed: 2024-05-01}}\n", Path("i.yaml"))
    assert inv.hosts["h1"].vars["installed"] == "2024-05-01"


def test_example_inventory_loads_clean() -> None:
    inv = load_inventory(EXAMPLE)
    assert inv.format == "rmmctl"
    assert {h.client for h in inv.hosts.values()} == {"acme", "globex", None}
    assert {h.connection for h in inv.hosts.values()} == {"ssh", "winrm", "local"}
    assert any("printserver" in h.tags for h in inv.hosts.values())
    assert any("password_env" in h.vars for h in inv.hosts.values())
    assert any("proxy_jump" in h.vars for h in inv.hosts.values())
    assert len(inv.hosts) >= 8
    assert check(inv) == []


def test_example_inventory_uses_documentation_addresses_only() -> None:
    import ipaddress

    doc_nets = [
        ipaddress.ip_network(n) for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "127.0.0.0/8")
    ]
    for host in load_inventory(EXAMPLE).hosts.values():
        try:
            ip = ipaddress.ip_address(host.address)
        except ValueError:
            assert host.address.endswith(".example"), host.address
            continue
        assert any(ip in net for net in doc_nets), host.address
