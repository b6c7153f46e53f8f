"""Host-key trust: known_hosts reading/matching/editing (pure) and scanning real sshd servers."""

from __future__ import annotations

import base64
import dataclasses
import hmac
import json
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from typer.testing import Result

from conftest import cli
from fleet import Fleet, write_key_pair
from rmmctl.errors import CommandTimeout, ConnectError, HostKeyError
from rmmctl.transports import TransportOptions
from rmmctl.transports.ssh import SSHTransport
from rmmctl.transports.ssh import known_hosts as hostkeys
from rmmctl.transports.ssh.known_hosts import ScannedKey
from rmmctl.transports.ssh.scan import scan


def _key(tmp_path: Path, name: str = "k") -> ScannedKey:
    key_type, b64 = write_key_pair(tmp_path / name).split()[:2]
    return ScannedKey(key_type, b64, hostkeys.fingerprint(base64.b64decode(b64)))


def _blob(key: ScannedKey) -> bytes:
    return base64.b64decode(key.base64)


def _hash_host(name: str) -> str:
    """A hashed known_hosts name as OpenSSH writes it (`ssh-keygen -H`): |1|salt|HMAC-SHA1(salt, name)."""
    salt = os.urandom(20)
    return f"|1|{base64.b64encode(salt).decode()}|{base64.b64encode(hmac.digest(salt, name.encode(), 'sha1')).decode()}"


def _ecdsa_public() -> tuple[str, str]:
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    key_type, b64 = key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode().split()
    return key_type, b64


# -- pure: names, matching, verification ---------------------------------------------------------------------


def test_known_host_name_brackets_non_default_ports() -> None:
    assert hostkeys.known_host_name("192.0.2.5", 22) == "192.0.2.5"
    assert hostkeys.known_host_name("192.0.2.5", None) == "192.0.2.5"
    assert hostkeys.known_host_name("192.0.2.5", 2222) == "[192.0.2.5]:2222"


def test_fingerprint_matches_ssh_keygen(tmp_path: Path) -> None:
    if shutil.which("ssh-keygen") is None:
        pytest.skip("ssh-keygen is not installed")
    key = _key(tmp_path)
    out = subprocess.run(["ssh-keygen", "-lf", str(tmp_path / "k.pub")], capture_output=True, text=True, check=True)
    assert out.stdout.split()[1] == key.fingerprint


@pytest.mark.parametrize(
    ("field", "matches"),
    [
        ("[192.0.2.5]:2222", True),
        ("web01,[192.0.2.5]:2222", True),
        ("[192.0.2.5]:22", False),
        ("192.0.2.5", False),
        ("[192.0.2.*]:2222", True),
        ("[192.0.2.?]:2222", True),
        ("[192.0.2.*]:2222,![192.0.2.5]:2222", False),
        ("[192.0.2.5]:222?", True),
        ("[198.51.100.5]:2222", False),
    ],
)
def test_hosts_match_follows_openssh_patterns(field: str, matches: bool) -> None:
    assert hostkeys.hosts_match(field, "[192.0.2.5]:2222") is matches


def test_hashed_names_match_like_openssh_writes_them(tmp_path: Path) -> None:
    hashed = _hash_host("[192.0.2.5]:2222")
    assert hostkeys.hosts_match(hashed, "[192.0.2.5]:2222")
    assert not hostkeys.hosts_match(hashed, "[192.0.2.6]:2222")
    if shutil.which("ssh-keygen") is None:
        pytest.skip("ssh-keygen is not installed")
    key = _key(tmp_path)
    known = tmp_path / "known_hosts"
    known.write_text(f"[192.0.2.5]:2222 {key.key_type} {key.base64}\n")
    subprocess.run(["ssh-keygen", "-H", "-f", str(known)], capture_output=True, check=True)
    [entry] = hostkeys.entries_for([known], "192.0.2.5", 2222)
    assert entry.hosts.startswith("|1|")


def test_verify_known_unknown_changed_revoked(tmp_path: Path) -> None:
    good, other = _key(tmp_path, "good"), _key(tmp_path, "other")
    known = tmp_path / "known_hosts"
    known.write_text(f"[h]:2222 {good.key_type} {good.base64}\n@revoked * {other.key_type} {other.base64}\n"
                     f"@cert-authority * {other.key_type} {other.base64}\n")
    entries = hostkeys.entries_for([known], "h", 2222)
    assert hostkeys.verify(entries, _blob(good)).state == "known"
    assert hostkeys.verify(entries, _blob(other)).state == "revoked"
    third = _key(tmp_path, "third")
    changed = hostkeys.verify(entries, _blob(third))
    assert changed.state == "changed" and changed.entry is not None and changed.entry.where == f"{known}:1"
    assert hostkeys.verify(hostkeys.entries_for([known], "elsewhere", 22), _blob(third)).state == "unknown"


def test_known_entries_lists_file_line_and_fingerprint(tmp_path: Path) -> None:
    key = _key(tmp_path)
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_text(f"# comment\n\nweb01 {key.key_type} {key.base64}\ngarbage line\n")
    b.write_text(f"[192.0.2.5]:2222 {key.key_type} {key.base64} comment here\n")
    entries = hostkeys.known_entries([a, tmp_path / "missing", b])
    assert [(e.file, e.line, e.hosts, e.fingerprint) for e in entries] == [
        (a, 3, "web01", key.fingerprint), (b, 1, "[192.0.2.5]:2222", key.fingerprint)]


# -- pure: approve / forget ----------------------------------------------------------------------------------


def test_approve_writes_bracketed_0600_without_duplicates(tmp_path: Path) -> None:
    key = _key(tmp_path)
    known = tmp_path / "new" / "known_hosts"
    assert hostkeys.approve(known, "192.0.2.5", 2222, [key, key]) == 1
    assert hostkeys.approve(known, "192.0.2.5", 2222, [key]) == 0
    assert hostkeys.approve(known, "192.0.2.6", 22, [key]) == 1
    assert known.read_text() == (f"[192.0.2.5]:2222 {key.key_type} {key.base64}\n"
                                 f"192.0.2.6 {key.key_type} {key.base64}\n")
    assert known.stat().st_mode & 0o777 == 0o600


def test_approved_entries_are_found_by_ssh_keygen(tmp_path: Path) -> None:
    if shutil.which("ssh-keygen") is None:
        pytest.skip("ssh-keygen is not installed")
    known = tmp_path / "known_hosts"
    hostkeys.approve(known, "192.0.2.5", 2222, [_key(tmp_path)])
    out = subprocess.run(["ssh-keygen", "-F", "[192.0.2.5]:2222", "-f", str(known)], capture_output=True, text=True, check=False)
    assert out.returncode == 0 and "found: line 1" in out.stdout


def test_approve_appends_after_a_file_without_final_newline(tmp_path: Path) -> None:
    key = _key(tmp_path)
    known = tmp_path / "known_hosts"
    known.write_text("# hand edited")
    hostkeys.approve(known, "h", 22, [key])
    assert known.read_text() == f"# hand edited\nh {key.key_type} {key.base64}\n"


def test_concurrent_approvals_lose_nothing(tmp_path: Path) -> None:
    key = _key(tmp_path)
    known = tmp_path / "known_hosts"
    threads = [threading.Thread(target=hostkeys.approve, args=(known, f"192.0.2.{i}", 22, [key])) for i in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lines = known.read_text().splitlines()
    assert sorted(lines) == sorted(f"192.0.2.{i} {key.key_type} {key.base64}" for i in range(40))


def test_forget_removes_plain_and_hashed_lines_only_for_that_host(tmp_path: Path) -> None:
    key = _key(tmp_path)
    known = tmp_path / "known_hosts"
    hashed = _hash_host("[h]:2222")
    known.write_text(f"[h]:2222 {key.key_type} {key.base64}\n# keep\n{hashed} {key.key_type} {key.base64}\n"
                     f"[h]:22 {key.key_type} {key.base64}\n[*]:2222 {key.key_type} {key.base64}\n")
    assert hostkeys.forget(known, "h", 2222) == 2
    assert known.read_text() == f"# keep\n[h]:22 {key.key_type} {key.base64}\n[*]:2222 {key.key_type} {key.base64}\n"
    assert hostkeys.forget(tmp_path / "absent", "h", 22) == 0


# -- against real servers ------------------------------------------------------------------------------------


def test_scan_fetches_the_fleet_host_key_without_trusting_it(fleet: Fleet, tmp_path: Path) -> None:
    h = fleet.host(1)
    keys = scan(h.address, h.port, timeout=5)
    key_type, b64 = fleet.host_public_key.split()[:2]
    assert [(k.key_type, k.base64) for k in keys] == [(key_type, b64)]
    assert keys[0].fingerprint == hostkeys.fingerprint(base64.b64decode(b64))


def test_scan_then_approve_lets_a_strict_connection_in(fleet: Fleet, ssh_options: TransportOptions,
                                                       tmp_path: Path) -> None:
    h = fleet.host(2)
    known = tmp_path / "known_hosts"
    options = dataclasses.replace(ssh_options, known_hosts=(known,))
    with pytest.raises(HostKeyError, match="unknown host key"):
        SSHTransport(fleet.inventory_host(2), options).connect()
    hostkeys.approve(known, h.address, h.port, scan(h.address, h.port))
    t = SSHTransport(fleet.inventory_host(2), options)
    assert t.run("hostname").stdout == "fleet-02\n"
    t.close()
    assert hostkeys.forget(known, h.address, h.port) == 1
    with pytest.raises(HostKeyError, match="unknown host key"):
        SSHTransport(fleet.inventory_host(2), options).connect()


def test_scan_closed_port_and_tarpit(fleet: Fleet) -> None:
    address, port = fleet.closed_port
    with pytest.raises(ConnectError, match="connection refused"):
        scan(address, port, timeout=2)
    address, port = fleet.tarpit()
    started = time.monotonic()
    with pytest.raises(CommandTimeout):
        scan(address, port, timeout=0.5)
    assert time.monotonic() - started < 1.5


@pytest.mark.parametrize("form", ["hashed", "wildcard"])
def test_hashed_and_wildcard_entries_are_trusted(fleet: Fleet, ssh_options: TransportOptions, tmp_path: Path,
                                                 form: str) -> None:
    h = fleet.host(3)
    name = _hash_host(h.known_hosts_name) if form == "hashed" else f"[127.0.77.*]:{h.port}"
    known = tmp_path / "known_hosts"
    known.write_text(f"{name} {fleet.host_public_key}\n")
    t = SSHTransport(fleet.inventory_host(3), dataclasses.replace(ssh_options, known_hosts=(known,)))
    assert t.run("hostname").stdout == "fleet-03\n"
    t.close()


def test_negated_and_revoked_entries_refuse(fleet: Fleet, ssh_options: TransportOptions, tmp_path: Path) -> None:
    h = fleet.host(3)
    known = tmp_path / "known_hosts"
    options = dataclasses.replace(ssh_options, known_hosts=(known,))
    known.write_text(f"[127.0.77.*]:{h.port},!{h.known_hosts_name} {fleet.host_public_key}\n")
    with pytest.raises(HostKeyError, match="unknown host key"):
        SSHTransport(fleet.inventory_host(3), options).connect()
    known.write_text(f"{h.known_hosts_name} {fleet.host_public_key}\n@revoked * {fleet.host_public_key}\n")
    with pytest.raises(HostKeyError, match=f"marked @revoked in {known}:2"):
        SSHTransport(fleet.inventory_host(3), options).connect()


def test_a_known_key_of_another_type_only_counts_as_changed(fleet: Fleet, ssh_options: TransportOptions,
                                                            tmp_path: Path) -> None:
    h = fleet.host(3)
    key_type, b64 = _ecdsa_public()
    known = tmp_path / "known_hosts"
    known.write_text(f"{h.known_hosts_name} {key_type} {b64}\n")
    options = dataclasses.replace(ssh_options, known_hosts=(known,), host_key_policy="accept-new")
    with pytest.raises(HostKeyError, match=f"HOST KEY CHANGED: {known}:1 has ecdsa-sha2-nistp256"):
        SSHTransport(fleet.inventory_host(3), options).connect()
    assert known.read_text().count("\n") == 1


# -- one trust rule: approve and accept-new write the same, documented file (README "Security") ----------------


def _inventory(fleet: Fleet, path: Path, hosts: dict[int, dict[str, str]], known: Path | None) -> Path:
    doc: dict[str, object] = {"hosts": {
        fleet.host(i).name: {"address": fleet.host(i).address, "port": fleet.host(i).port, "user": "root",
                             "key_file": str(fleet.client_key), **extra} for i, extra in hosts.items()}}
    if known is not None:
        doc["known_hosts"] = str(known)
    path.write_text(yaml.safe_dump(doc))
    return path


def _states(result: Result) -> dict[str, str]:
    return {h["name"]: h["data"]["state"] for h in json.loads(result.stdout)["hosts"]}


def test_approve_and_accept_new_write_the_inventory_file_and_approved_keys_show_trusted(
        fleet: Fleet, env: dict[str, str], tmp_path: Path) -> None:
    known = tmp_path / "inventory_known_hosts"
    own = tmp_path / "host_known_hosts"  # a host's own known_hosts var is read, never written
    own.write_text("")
    user = Path(env["HOME"]) / ".ssh" / "known_hosts"
    inv = _inventory(fleet, tmp_path / "inv.yaml", {
        1: {"vars": {"known_hosts": str(own)}, "host_key_policy": "accept-new"}, 2: {"vars": {"known_hosts": str(own)}}},
        known)
    assert cli("ping", "fleet-01", "-i", str(inv)).exit_code == 0  # accept-new
    approved = cli("hostkeys", "approve", "fleet-02", "-i", str(inv), "--yes", "--json")
    assert approved.exit_code == 0, approved.stderr
    assert _states(approved) == {"fleet-02": "known"}  # the table after approving shows the key trusted
    assert f"1 key(s) added to {known}" in approved.stderr
    names = sorted(line.split()[0] for line in known.read_text().splitlines())
    assert names == [fleet.host(1).known_hosts_name, fleet.host(2).known_hosts_name]
    assert own.read_text() == "" and not user.exists()
    assert _states(cli("hostkeys", "scan", "-i", str(inv), "--json")) == {"fleet-01": "known", "fleet-02": "known"}
    listed = json.loads(cli("hostkeys", "list", "-i", str(inv), "--json").stdout)["entries"]
    assert {e["file"] for e in listed} == {str(known)}


def test_without_an_inventory_file_approve_writes_the_user_known_hosts(fleet: Fleet, env: dict[str, str],
                                                                     tmp_path: Path) -> None:
    user = Path(env["HOME"]) / ".ssh" / "known_hosts"
    inv = _inventory(fleet, tmp_path / "inv.yaml", {4: {}}, None)
    approved = cli("hostkeys", "approve", "all", "-i", str(inv), "--yes", "--json")
    assert approved.exit_code == 0 and _states(approved) == {"fleet-04": "known"}
    assert user.read_text() == f"{fleet.host(4).known_hosts_name} {fleet.host_public_key}\n"
    assert cli("ping", "-i", str(inv)).exit_code == 0


def test_hostkeys_scan_honours_the_host_timeout(fleet: Fleet, env: dict[str, str], tmp_path: Path) -> None:
    address, port = fleet.tarpit()
    inv = tmp_path / "inv.yaml"
    inv.write_text(yaml.safe_dump({"hosts": {"tarpit": {"address": address, "port": port}}}))
    started = time.monotonic()
    result = cli("hostkeys", "scan", "-i", str(inv), "--json", "--timeout", "0.5", "--connect-timeout", "30")
    assert time.monotonic() - started < 0.5 + 1.5
    [host] = json.loads(result.stdout)["hosts"]
    assert host["status"] == "timeout"
