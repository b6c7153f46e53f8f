"""-v/-vv/-vvv: a connection trace on stderr like `ssh -v`, against real sshd; never a secret."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from conftest import cli, require_fleet
from fleet import Fleet
from rmmctl.transports.ssh.known_hosts import fingerprint

PASSWORD = "Trace-Pa55-word-9"


@pytest.fixture(scope="module")
def pw_fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    require_fleet()
    with Fleet(tmp_path_factory.mktemp("trace"), prefix="tr", password=PASSWORD) as fleet:
        fleet.start(1)
        yield fleet


def _fp(fleet: Fleet) -> str:
    return fingerprint(base64.b64decode(fleet.host_public_key.split()[1]))


def test_v_traces_connect_host_key_auth_and_exec(fleet: Fleet, env: dict[str, str], tmp_path: Path) -> None:
    inv = fleet.write_inventory(tmp_path / "inv.yaml", hosts=[4])
    h = fleet.host(4)
    result = cli("run", "all", "-i", str(inv), "--json", "-v", "--", "echo", "hello")
    assert result.exit_code == 0, result.stderr
    err = result.stderr
    assert re.search(rf"fleet-04: connecting to {re.escape(h.address)} port {h.port} as root", err)
    assert re.search(r"fleet-04: connected in [\d.]+ ms", err)
    m = re.search(rf"fleet-04: server host key ssh-ed25519 {re.escape(_fp(fleet))}: known, matches (\S+):(\d+)\n", err)
    assert m and Path(m[1]).resolve() == fleet.known_hosts.resolve() and m[2] == "4"
    assert f"fleet-04: authenticated as root with key {fleet.client_key}" in err
    assert re.search(r"fleet-04: exec echo hello: exit 0, 6 bytes out, 0 bytes err, [\d.]+ ms", err)
    assert "channel" not in err  # -v: no per-channel detail yet
    assert result.stdout.startswith("{")  # the trace never reaches stdout


def test_vv_traces_auth_methods_and_never_the_password(pw_fleet: Fleet, env: dict[str, str], tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    h = pw_fleet.host(1)
    monkeypatch.setenv("TRACE_PW", PASSWORD)
    inv = tmp_path / "inv.yaml"
    inv.write_text(yaml.safe_dump({"known_hosts": str(pw_fleet.known_hosts), "hosts": {"tr-01": {
        "address": h.address, "port": h.port, "user": "root", "password_env": "TRACE_PW"}}}))
    result = cli("ping", "-i", str(inv), "-vvv")
    assert result.exit_code == 0, result.stderr
    err = result.stderr
    assert f"server host key ssh-ed25519 {_fp(pw_fleet)}: known, matches {pw_fleet.known_hosts}:1" in err
    assert "tr-01: auth: the server offers publickey, password" in err
    assert "tr-01: auth: trying password" in err and "authenticated as root with password" in err
    assert re.search(r"tr-01: channel \d+ open in", err)
    assert "paramiko" in err  # -vvv: paramiko's own log too
    assert PASSWORD not in err + result.stdout


def test_no_v_no_trace(fleet: Fleet, env: dict[str, str], tmp_path: Path) -> None:
    inv = fleet.write_inventory(tmp_path / "inv.yaml", hosts=[4])
    result = cli("run", "all", "-i", str(inv), "--json", "--", "true")
    assert result.exit_code == 0 and "connecting to" not in result.stderr
