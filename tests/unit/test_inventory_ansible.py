"""Ansible YAML and INI inventories, read unchanged: groups, vars precedence, aliases, ranges, ungrouped."""

from __future__ import annotations

from pathlib import Path

import pytest

from rmmctl.errors import ConfigError
from rmmctl.inventory import Inventory, load_inventory, parse_inventory
from rmmctl.inventory.conn import BadValue
from rmmctl.inventory.hostnames import expand_hosts, expand_ranges

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "inventories"


@pytest.fixture(scope="module", params=["ansible.yaml", "ansible.ini"])
def inv(request: pytest.FixtureRequest) -> Inventory:
    return load_inventory(FIXTURES / request.param)


def test_format_is_picked_by_content(tmp_path: Path) -> None:
    for name, fmt in (
        ("ansible.yaml", "ansible-yaml"),
        ("ansible.ini", "ansible-ini"),
        ("msp.yaml", "rmmctl"),
    ):
        target = tmp_path / "hosts"  # no extension: content decides
        target.write_text((FIXTURES / name).read_text())
        assert load_inventory(target).format == fmt


def test_hosts_ranges_and_groups(inv: Inventory) -> None:
    names = list(inv.hosts)
    assert names[:5] == [
        "mail.example.com",
        "web01.example.com",
        "web02.example.com",
        "web03.example.com",
        "web-extra.example.com",
    ]
    assert {"db-a.example.com", "db-b.example.com", "db-c.example.com", "win01.example.com"} <= set(names)
    assert inv.groups["webservers"].hosts[:3] == (
        "web01.example.com",
        "web02.example.com",
        "web03.example.com",
    )
    assert set(inv.groups["prod"].children) == {"webservers", "dbservers"}
    assert inv.hosts["web01.example.com"].groups == ("prod", "webservers")


def test_ungrouped_semantics(inv: Inventory) -> None:
    assert inv.groups["ungrouped"].hosts == ("mail.example.com",)
    assert inv.groups["all"].children[0] == "ungrouped"
    assert inv.hosts["mail.example.com"].groups == ("ungrouped",)
    assert "web01.example.com" not in inv.groups["ungrouped"].hosts


def test_aliases_become_fields(inv: Inventory) -> None:
    extra = inv.hosts["web-extra.example.com"]
    assert (extra.port, extra.user, extra.connection) == (2222, "admin", "ssh")
    win = inv.hosts["win01.example.com"]
    assert (win.address, win.connection, win.os) == ("198.51.100.7", "winrm", "windows")
    pg = inv.hosts["pg.example.com"]
    assert pg.address == "192.0.2.60"
    for host in inv.hosts.values():
        assert not {"ansible_host", "ansible_port", "ansible_user", "ansible_connection"} & set(host.vars)


def test_unknown_ansible_vars_are_kept(inv: Inventory) -> None:
    assert inv.hosts["web01.example.com"].vars["ansible_python_interpreter"] == "/usr/bin/python3"


def test_passwords_move_to_password_var(inv: Inventory) -> None:
    win = inv.hosts["win01.example.com"]
    assert win.vars["password"] in ("S3cret-from-ansible", "S3cret from ini")
    assert not {"ansible_password", "ansible_ssh_pass"} & set(win.vars)


def test_child_group_vars_beat_parent_vars_and_host_vars_beat_both(inv: Inventory) -> None:
    assert inv.hosts["web01.example.com"].vars["env"] == "prod"
    if inv.format == "ansible-yaml":
        assert (
            inv.hosts["web01.example.com"].vars["http_port"] == 80
        )  # webservers (depth 2) over prod (depth 1)
        assert inv.hosts["db-a.example.com"].vars["http_port"] == 8080  # only prod sets it
    else:
        assert inv.hosts["web01.example.com"].vars["http_port"] == 8080  # host line beats [webservers:vars]
        assert inv.hosts["web-extra.example.com"].vars["http_port"] == 80


def test_yaml_specifics() -> None:
    inv = load_inventory(FIXTURES / "ansible.yaml")
    assert inv.hosts["db-a.example.com"].port == 2200  # group var ansible_port
    assert inv.hosts["web01.example.com"].user == "deploy"  # all:vars
    assert inv.hosts["inner.example.com"].vars["proxy_jump"] == "jump@bastion.example.com:2022"
    assert inv.defaults["ntp_server"] == "ntp.example"


def test_ini_specifics() -> None:
    inv = load_inventory(FIXTURES / "ansible.ini")
    web = inv.hosts["web01.example.com"]
    assert (web.vars["maxconn"], web.vars["debug"]) == (512, False)  # Python literals, like Ansible
    assert inv.hosts["db-a.example.com"].connection == "ssh"  # paramiko -> ssh
    assert inv.hosts["pg.example.com"].vars["key_file"] == "~/.ssh/pg_key"
    assert inv.hosts["mail.example.com"].address == "192.0.2.25"
    assert inv.hosts["mail.example.com"].user is None


def test_group_priority_and_name_order_at_same_depth() -> None:
    text = "[a]\nh1\n[b]\nh1\n[a:vars]\nx=a\n[b:vars]\nx=b\n"
    assert parse_inventory(text, Path("hosts")).hosts["h1"].vars["x"] == "b"  # same depth: by name
    text += "ansible_group_priority=0\n"
    assert parse_inventory(text, Path("hosts")).hosts["h1"].vars["x"] == "a"  # lower priority first


def test_psrp_and_shell_type() -> None:
    text = (
        "all:\n  hosts:\n    w1: {ansible_connection: ansible.builtin.psrp}\n    w2: "
        "{ansible_shell_type: powershell}\n"
    )
    inv = parse_inventory(text, Path("hosts.yml"))
    assert (inv.hosts["w1"].connection, inv.hosts["w1"].os) == ("winrm", "windows")
    assert (inv.hosts["w2"].connection, inv.hosts["w2"].os) == ("ssh", "windows")


def test_native_rmmctl_keys_are_validated_in_ansible_files() -> None:
    inv = parse_inventory("[w]\nw1 password_env=WIN_PW host_key_policy=accept-new\n", Path("hosts"))
    assert inv.hosts["w1"].vars["password_env"] == "WIN_PW"
    with pytest.raises(ConfigError, match=r"hosts:2: \[w\] w1.host_key_policy: got 'sometimes'"):
        parse_inventory("[w]\nw1 host_key_policy=sometimes\n", Path("hosts"))


@pytest.mark.parametrize(
    ("token", "names", "port"),
    [
        ("web[01:03]", ["web01", "web02", "web03"], None),
        ("web[1:3]", ["web1", "web2", "web3"], None),
        ("web[08:10].example", ["web08.example", "web09.example", "web10.example"], None),
        ("db-[a:c]", ["db-a", "db-b", "db-c"], None),
        ("n[0:4:2]", ["n0", "n2", "n4"], None),
        ("r[1:2]c[a:b]", ["r1ca", "r1cb", "r2ca", "r2cb"], None),
        ("web[01:02]:2222", ["web01", "web02"], 2222),
        ("host.example:22", ["host.example"], 22),
        ("[2001:db8::1]:2200", ["2001:db8::1"], 2200),
        ("2001:db8::1", ["2001:db8::1"], None),
    ],
)
def test_expand_hosts(token: str, names: list[str], port: int | None) -> None:
    assert expand_hosts(token) == (names, port)


@pytest.mark.parametrize(
    "token", ["web[01:3]", "web[3:1]", "web[1-3]", "web[a:3]", "web[1:2:0]", "web[0:999999]"]
)
def test_bad_ranges(token: str) -> None:
    with pytest.raises(BadValue):
        expand_ranges(token)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[web]\nweb01:abc\n", "hosts:2: [web] web01:abc: bad host 'web01:abc'; expected NAME, NAME:PORT"),
        (
            "[web]\nweb01 s3cretword\n",
            "hosts:2: [web] web01: word 2 is not key=value; expected HOST key=value ...",
        ),
        (
            "[prod:children]\nweb\n",
            "hosts:2: [prod:children]: names undefined group 'web'; add a [web] section",
        ),
        ("[web:vars]\nx=1\n", "hosts:1: [web:vars]: names undefined group 'web'; add a [web] section"),
        ("[web:foo]\na\n", "hosts:1: [web:foo]: unknown section type 'foo'; expected :vars or :children"),
        (
            "[web]\nweb[01:2]\n",
            "hosts:2: [web] web[01:2]: zero-padded range 'web[01:2]' has begin and end of different",
        ),
        (
            "[web]\nweb01 ansible_connection=docker\n",
            (
                "hosts:2: [web] web01.ansible_connection: got 'docker'; expected ssh, paramiko, "
                "smart, local, winrm or psrp"
            ),
        ),
        (
            "[web]\nweb01 ansible_port=[1,2]\n",
            "hosts:2: [web] web01.ansible_port: got [1, 2]; expected an integer port",
        ),
        ("[a:children]\nb\n[b:children]\na\n", "hosts:1: a: group cycle"),
    ],
)
def test_ini_errors(text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_inventory(text, Path("hosts"))
    assert str(info.value).startswith(expected)
    assert "s3cretword" not in str(info.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "all:\n  hosts:\n    a:\n  childs:\n    b:\n",
            (
                "hosts.yml:4: all.childs: unknown key (did you mean 'children'?); expected hosts, "
                "children or vars"
            ),
        ),
        ("all:\n  hosts:\n    - a\n", "hosts.yml:2: all.hosts: got a list; expected a mapping of host names"),
        (
            "all:\n  hosts:\n    a:\n      ansible_port: x\n",
            "hosts.yml:4: all.hosts.a.ansible_port: got 'x'; expected an integer port 1..65535",
        ),
        (
            "all:\n  children:\n    web:\n      hosts:\n        w[1:]:\n",
            "hosts.yml:5: all.children.web.hosts.w[1:]: bad range in 'w[1:]'",
        ),
        (
            "all:\n  hosts:\n    a:\n      ansible_port: 1\n      ansible_port: 2\n",
            "hosts.yml:5: all.hosts.a.ansible_port: duplicate key (first at line 4); keep one",
        ),
    ],
)
def test_yaml_errors(text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_inventory(text, Path("hosts.yml"))
    assert str(info.value).startswith(expected)
