"""Every inventory problem is one ConfigError line: FILE:LINE: key.path: what is wrong; what is expected."""

from __future__ import annotations

from pathlib import Path

import pytest

from rmmctl.errors import ConfigError
from rmmctl.inventory import load_inventory


def _error(tmp_path: Path, text: str, name: str = "inv.yaml") -> str:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_inventory(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(str(path))
    return message[len(str(path)) :]


def test_missing_file_says_how_to_pass_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"no such file; pass -i PATH or set RMMCTL_INVENTORY"):
        load_inventory(tmp_path / "nope.yaml")


def test_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is a directory"):
        load_inventory(tmp_path)


def test_yaml_syntax_error_names_line_and_column(tmp_path: Path) -> None:
    text = "clients:\n  acme:\n    hosts:\n      a: {address: x\n"
    msg = _error(tmp_path, text)
    assert msg.startswith(":5:1: YAML syntax error: ")
    assert "expected ',' or '}'" in msg
    assert msg.endswith("(while parsing a flow mapping at line 4)")


def test_tab_indentation_hint(tmp_path: Path) -> None:
    assert _error(tmp_path, "hosts:\n\tweb01: {}\n").endswith("indent with spaces, not tabs")


def test_unknown_key_with_suggestion(tmp_path: Path) -> None:
    msg = _error(tmp_path, "hosts:\n  web01:\n    adress: 192.0.2.1\n")
    assert msg.startswith(
        ":3: hosts.web01.adress: unknown key (did you mean 'address'?); expected one of address, port,"
    )


def test_unknown_top_level_key(tmp_path: Path) -> None:
    assert _error(tmp_path, "client:\n  acme: {}\n").startswith(
        ":1: client: unknown key (did you mean 'clients'?); expected one of version, known_hosts"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "hosts:\n  web01:\n    port: http\n",
            ":3: hosts.web01.port: got 'http'; expected an integer port 1..65535",
        ),
        (
            "hosts:\n  web01:\n    port: 70000\n",
            ":3: hosts.web01.port: got 70000; expected an integer port 1..65535",
        ),
        (
            "hosts:\n  w:\n    connection: telnet\n",
            ":3: hosts.w.connection: got 'telnet'; expected one of local, ssh, winrm",
        ),
        (
            "hosts:\n  w:\n    os: windwos\n",
            (
                ":3: hosts.w.os: got 'windwos' (did you mean 'windows'?); expected one of linux, "
                "windows, darwin, freebsd, openbsd, netbsd"
            ),
        ),
        (
            "hosts:\n  w:\n    password_env: $PW\n",
            ":3: hosts.w.password_env: got '$PW'; expected an environment variable name like ACME_ADMIN_PW",
        ),
        (
            "hosts:\n  w:\n    host_key_policy: yes\n",
            ":3: hosts.w.host_key_policy: got a boolean; expected one of strict, accept-new",
        ),
        (
            "hosts:\n  w:\n    connect_timeout: 0\n",
            ":3: hosts.w.connect_timeout: got 0; expected a number of seconds greater than 0",
        ),
        (
            "hosts:\n  w:\n    password_keyring: acme\n",
            ":3: hosts.w.password_keyring: got 'acme'; expected 'service/username'",
        ),
        (
            "hosts:\n  w:\n    proxy_jump: 'a b'\n",
            (
                ":3: hosts.w.proxy_jump: hop 'a b' is malformed; expected [user@]host[:port]"
                " hops separated by commas"
            ),
        ),
        ("hosts:\n  w:\n    tags: {a: 1}\n", ":3: hosts.w.tags: got a mapping; expected a list of names"),
        ("hosts:\n  - a\n", ":1: hosts: got a list; expected a mapping of host names to host entries"),
        (
            "defaults:\n  vars: [1]\n",
            ":2: defaults.vars: got a list; expected a mapping of variable names to values",
        ),
        ("version: 2\nhosts: {a: {}}\n", ":1: version: got 2; expected 1"),
    ],
)
def test_wrong_types(tmp_path: Path, text: str, expected: str) -> None:
    assert _error(tmp_path, text) == expected


def test_duplicate_host_names_both_lines(tmp_path: Path) -> None:
    text = "clients:\n  acme:\n    hosts:\n      web01: {}\n  globex:\n    hosts:\n      web01: {}\n"
    assert _error(tmp_path, text) == (
        ":7: clients.globex.hosts.web01: duplicate host 'web01' (first defined at line 4); "
        "host names are unique across the whole file"
    )


def test_duplicate_key(tmp_path: Path) -> None:
    assert _error(tmp_path, "hosts:\n  web01:\n    port: 22\n    port: 23\n") == (
        ":4: hosts.web01.port: duplicate key (first at line 3); keep one"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "defaults:\n  password: hunter2\n",
            (
                ":2: defaults.password: secrets never in the inventory; use password_env, "
                "password_cmd or password_keyring"
            ),
        ),
        (
            "hosts:\n  w:\n    vars:\n      ansible_password: hunter2\n",
            (
                ":4: hosts.w.vars.ansible_password: secrets never in the inventory; use password_env, "
                "password_cmd or password_keyring"
            ),
        ),
        (
            "hosts:\n  w:\n    become_password: hunter2\n",
            (
                ":3: hosts.w.become_password: secrets never in the inventory; use become_password_env "
                "or become_password_cmd"
            ),
        ),
        (
            "groups:\n  g:\n    key_passphrase: hunter2\n",
            ":3: groups.g.key_passphrase: secrets never in the inventory; use key_passphrase_env",
        ),
    ],
)
def test_literal_secrets_are_refused_and_never_echoed(tmp_path: Path, text: str, expected: str) -> None:
    msg = _error(tmp_path, text)
    assert msg == expected
    assert "hunter2" not in msg


def test_unknown_group_reference(tmp_path: Path) -> None:
    text = "groups:\n  linux: {}\nhosts:\n  w:\n    groups: [linx]\n"
    assert _error(tmp_path, text) == (
        ":5: hosts.w.groups[0]: unknown group 'linx' (did you mean 'linux'?); expected a "
        "group defined under 'groups:'"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "hosts:\n  w:\n    vars:\n      port: 22\n",
            (":4: hosts.w.vars.port: is a connection key; put it beside 'vars:', not inside it"),
        ),
        (
            "hosts:\n  w:\n    ansible_host: 192.0.2.1\n",
            ":3: hosts.w.ansible_host: is Ansible syntax; use 'address' in an rmmctl inventory",
        ),
        (
            "hosts:\n  'web 01': {}\n",
            ":2: hosts.web 01: bad host name 'web 01'; expected letters, digits, '.', '-' and '_' (or an IP address)",
        ),
        ("hosts:\n  all: {}\n", ":2: hosts.all: 'all' is reserved; choose another host name"),
        (
            "groups:\n  a: {children: [b]}\n  b: {children: [a]}\n",
            ":2: groups.a.children: group cycle a -> b -> a; a group cannot contain itself",
        ),
        (
            "groups:\n  a: {children: [c]}\n",
            (":2: groups.a.children: unknown group 'c'; expected a group defined under 'groups:'"),
        ),
        (
            "groups: {acme: {}}\nclients: {acme: {}}\n",
            (
                ":2: clients.acme: client 'acme' has the same name as a group (line 1); rename one: "
                "patterns would be ambiguous"
            ),
        ),
        (
            "hosts:\n  j: {connection: winrm}\n  k: {proxy_jump: j}\n",
            ":3: hosts.k.proxy_jump: jump host 'j' uses winrm; expected a host reached over ssh",
        ),
    ],
)
def test_structure_errors(tmp_path: Path, text: str, expected: str) -> None:
    assert _error(tmp_path, text) == expected


def test_empty_and_non_mapping_files(tmp_path: Path) -> None:
    assert (
        _error(tmp_path, "# nothing\n") == ": the inventory is empty; expected hosts: see docs/inventory.md"
    )
    assert _error(tmp_path, "- a\n- b\n").startswith(":1: the top level is a list; expected a mapping")


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "inv.yaml"
    path.write_bytes(b"hosts:\n  caf\xe9: {}\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_inventory(path)
