"""One validator for every format: host names, addresses, known_hosts paths and lone tokens.

The same bad value is refused the same way in the rmmctl format, Ansible YAML and Ansible INI, with
FILE:LINE: key.path: problem; fix on one line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rmmctl.errors import ConfigError
from rmmctl.inventory import load_inventory

SRC = Path(__file__).resolve().parents[2] / "src"


def _error(path: Path, text: str) -> str:
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_inventory(path)
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"{path}:"), message
    return message[len(str(path)) :]


def _formats(name: str, address: str | None = None) -> dict[str, str]:
    """One host written in each format (address omitted when None)."""
    addr_msp = f", address: {json.dumps(address)}" if address is not None else ""
    addr_yaml = f"\n      ansible_host: {json.dumps(address)}" if address is not None else ""
    addr_ini = f' ansible_host="{address!r}"' if address is not None else ""  # a Python literal, as Ansible reads
    return {
        "msp.yaml": f"hosts:\n  {name!r}: {{groups: []{addr_msp}}}\n",
        "ansible.yaml": f"all:\n  hosts:\n    {name!r}:{addr_yaml}\n",
        "hosts.ini": f"[web]\n{name}{addr_ini}\n",
    }


@pytest.mark.parametrize("fmt", ["msp.yaml", "ansible.yaml", "hosts.ini"])
@pytest.mark.parametrize("name", ["web01;reboot", "$(reboot)", "a|b", "`id`", "a&b", "x>y", "-oProxyCommand=x"])
def test_host_names_with_shell_metacharacters_are_refused_in_every_format(
    tmp_path: Path, fmt: str, name: str
) -> None:
    message = _error(tmp_path / fmt, _formats(name)[fmt])
    assert f"bad host name {name!r}" in message
    assert message.endswith("expected letters, digits, '.', '-' and '_' (or an IP address)")
    assert message.startswith(":2: ") or message.startswith(":3: ")


@pytest.mark.parametrize("fmt", ["msp.yaml", "ansible.yaml", "hosts.ini"])
@pytest.mark.parametrize("address", ["a b.example", "host\nevil", "x;reboot", "$(id).example"])
def test_addresses_with_spaces_newlines_or_shell_characters_are_refused_in_every_format(
    tmp_path: Path, fmt: str, address: str
) -> None:
    message = _error(tmp_path / fmt, _formats("web01", address)[fmt])
    assert f"got {address!r}" in message
    assert "expected one DNS name or IP address" in message
    assert ("address" in message) if fmt == "msp.yaml" else ("ansible_host" in message)


@pytest.mark.parametrize("fmt", ["msp.yaml", "ansible.yaml", "hosts.ini"])
def test_good_names_and_addresses_load_the_same_in_every_format(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / fmt
    for name, address in (("web01.acme.example", "198.51.100.7"), ("db_2", "fe80::1%eth0"), ("192.0.2.5", None)):
        path.write_text(_formats(name, address)[fmt])
        host = load_inventory(path).hosts[name]
        assert host.address == (address or name)


def test_ipv6_host_tokens_stay_valid_in_ansible_formats(tmp_path: Path) -> None:
    path = tmp_path / "hosts.yaml"
    path.write_text('all:\n  hosts:\n    "[::1]:2222":\n')
    host = load_inventory(path).hosts["::1"]
    assert (host.address, host.port) == ("::1", 2222)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{}\n", ": the inventory is empty; expected hosts: see docs/inventory.md"),
        ("null\n", ": the inventory is empty; expected hosts: see docs/inventory.md"),
        ("[]\n", ": the inventory is empty; expected hosts: see docs/inventory.md"),
        ("42\n", ":1: the top level is a number; expected a mapping with clients/hosts/groups (rmmctl)"),
        ("true\n", ":1: the top level is a boolean; expected a mapping with clients/hosts/groups (rmmctl)"),
    ],
)
def test_a_lone_token_is_not_a_one_host_ini_file(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "inventory"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_inventory(path)
    assert str(info.value).startswith(f"{path}{expected}")


def test_a_lone_host_name_is_still_a_one_host_ini_file(tmp_path: Path) -> None:
    path = tmp_path / "inventory"
    path.write_text("web01.acme.example\n")
    inv = load_inventory(path)
    assert inv.format == "ansible-ini" and list(inv.hosts) == ["web01.acme.example"]


# ------------------------------------------------------------------ known_hosts (C8)


def _msp_with_known_hosts(path: Path, value: str) -> Path:
    path.write_text(f"version: 1\nknown_hosts: {value}\nhosts:\n  a: {{address: 192.0.2.1}}\n")
    return path


def test_known_hosts_naming_a_directory_is_refused_at_load(tmp_path: Path) -> None:
    (tmp_path / "keys").mkdir()
    message = _error(tmp_path / "inv.yaml", "version: 1\nknown_hosts: keys\nhosts:\n  a: {address: 192.0.2.1}\n")
    assert message == f":2: known_hosts: {tmp_path / 'keys'} is a directory; expected a file path, e.g. " + str(
        tmp_path / "keys" / "known_hosts"
    )


def test_known_hosts_whose_folder_does_not_exist_is_refused(tmp_path: Path) -> None:
    message = _error(tmp_path / "inv.yaml", "known_hosts: nope/known_hosts\nhosts:\n  a: {address: 192.0.2.1}\n")
    assert message == f":1: known_hosts: folder {tmp_path / 'nope'} does not exist; create it, or name a file in an existing folder"


def test_known_hosts_that_is_a_fifo_is_refused(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "kh")
    message = _error(tmp_path / "inv.yaml", "known_hosts: kh\nhosts:\n  a: {address: 192.0.2.1}\n")
    assert message.startswith(f":1: known_hosts: {tmp_path / 'kh'} is a FIFO; expected a path to a known_hosts file")


def test_known_hosts_missing_in_an_existing_folder_is_fine(tmp_path: Path) -> None:
    inv = load_inventory(_msp_with_known_hosts(tmp_path / "inv.yaml", "known_hosts"))
    assert inv.known_hosts == tmp_path / "known_hosts"  # `hostkeys approve` creates it


@pytest.mark.parametrize(
    ("name", "text", "where"),
    [
        ("inv.yaml", "hosts:\n  a:\n    address: 192.0.2.1\n    vars: {{known_hosts: {kh}}}\n", ":2: hosts.a.known_hosts: "),
        ("ansible.yaml", "all:\n  hosts:\n    a:\n      known_hosts: {kh}\n", ":3: all.hosts.a.known_hosts: "),
        ("hosts.ini", "[web]\na known_hosts={kh}\n", ":2: [web] a.known_hosts: "),
    ],
)
def test_a_host_known_hosts_var_is_checked_in_every_format(tmp_path: Path, name: str, text: str, where: str) -> None:
    message = _error(tmp_path / name, text.format(kh=tmp_path))
    assert message.startswith(f"{where}{tmp_path} is a directory")


def test_unreadable_known_hosts_is_refused(tmp_path: Path) -> None:
    kh = tmp_path / "known_hosts"
    kh.write_text("")
    kh.chmod(0o000)
    inv = _msp_with_known_hosts(tmp_path / "inv.yaml", "known_hosts")
    # As root, drop the capabilities that bypass file modes, so mode 000 means "cannot read" here too.
    drop = ["setpriv", "--bounding-set=-dac_override,-dac_read_search",
            "--inh-caps=-dac_override,-dac_read_search", f"--reuid={os.geteuid()}"] if os.geteuid() == 0 else []
    result = subprocess.run(
        [*drop, sys.executable, "-m", "rmmctl", "inventory", "check", "-i", str(inv)],
        capture_output=True, text=True, timeout=30, env={**os.environ, "PYTHONPATH": str(SRC)},
    )
    assert result.returncode == 3, result.stderr
    assert result.stderr.strip() == (
        f"rmmctl: error: {inv}:2: known_hosts: cannot read {kh}: permission denied; "
        "make it readable by the user running rmmctl"
    )


def test_cli_check_of_a_directory_known_hosts_exits_3_with_one_line(tmp_path: Path) -> None:
    (tmp_path / "keys").mkdir()
    inv = _msp_with_known_hosts(tmp_path / "inv.yaml", "keys")
    result = subprocess.run(
        [sys.executable, "-m", "rmmctl", "inventory", "check", "-i", str(inv)],
        capture_output=True, text=True, timeout=30, env={**os.environ, "PYTHONPATH": str(SRC)},
    )
    assert result.returncode == 3 and result.stdout == ""
    assert result.stderr.splitlines() == [
        f"rmmctl: error: {inv}:2: known_hosts: {tmp_path / 'keys'} is a directory; "
        f"expected a file path, e.g. {tmp_path / 'keys' / 'known_hosts'}"
    ]
