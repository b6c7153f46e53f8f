"""Password login against a real sshd (its own /etc/shadow inside the host's namespace): the password
comes from password_env or password_cmd, never the inventory, and never shows up anywhere."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from conftest import cli, require_fleet
from fleet import Fleet

PASSWORD = "Fleet-Pa55-word-7"


@pytest.fixture(scope="module")
def pw_fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    require_fleet()
    with Fleet(tmp_path_factory.mktemp("pw"), prefix="pw", password=PASSWORD) as fleet:
        fleet.start(1)
        yield fleet


def inventory(fleet: Fleet, path: Path, **auth: str) -> Path:
    h = fleet.host(1)
    doc = {"known_hosts": str(fleet.known_hosts),
           "hosts": {"pw-01": {"address": h.address, "port": h.port, "user": "root", **auth}}}
    path.write_text(yaml.safe_dump(doc))
    return path


@pytest.mark.parametrize("source", ["env", "cmd"])
def test_password_login_from_env_or_command(pw_fleet: Fleet, env: dict[str, str], tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch, source: str) -> None:
    if source == "env":
        monkeypatch.setenv("PW_FLEET_PASSWORD", PASSWORD)
        inv = inventory(pw_fleet, tmp_path / "inv.yaml", password_env="PW_FLEET_PASSWORD")
    else:
        secret = tmp_path / "secret"
        secret.write_text(PASSWORD + "\n")
        inv = inventory(pw_fleet, tmp_path / "inv.yaml", password_cmd=f"cat {secret}")
    result = cli("run", "all", "-i", str(inv), "--json", "-vv", "--", "echo", PASSWORD)
    assert result.exit_code == 0, result.stderr
    [host] = json.loads(result.stdout)["hosts"]
    assert host["status"] == "ok" and host["data"]["stdout"] == "********\n"  # it was resolved, so it is masked
    assert PASSWORD not in result.stdout + result.stderr
    dump = "\n".join(sqlite3.connect(env["RMMCTL_DB"]).iterdump())
    assert PASSWORD not in dump


def test_wrong_password_is_auth_failed(pw_fleet: Fleet, env: dict[str, str], tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PW_FLEET_PASSWORD", "not-" + PASSWORD)
    inv = inventory(pw_fleet, tmp_path / "inv.yaml", password_env="PW_FLEET_PASSWORD")
    result = cli("ping", "-i", str(inv), "--json")
    assert result.exit_code == 7
    [host] = json.loads(result.stdout)["hosts"]
    assert host["status"] == "auth_failed" and "password" in host["error"]["message"]


def test_missing_password_variable_is_a_one_line_config_error(pw_fleet: Fleet, env: dict[str, str],
                                                              tmp_path: Path) -> None:
    inv = inventory(pw_fleet, tmp_path / "inv.yaml", password_env="PW_FLEET_NOT_SET")
    result = cli("ping", "-i", str(inv), "--json")
    [host] = json.loads(result.stdout)["hosts"]
    assert host["status"] == "error" and "PW_FLEET_NOT_SET" in host["error"]["message"]


def _group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes in process group `pgid`."""
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat.rpartition(")")[2].split()
            if fields[0] != "Z" and int(fields[2]) == pgid:
                out.append(int(entry.name))
    return out


def test_password_cmd_honours_the_host_deadline_and_leaves_no_child(fleet: Fleet, env: dict[str, str],
                                                                    tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    h = fleet.host(1)
    inv = tmp_path / "inv.yaml"
    inv.write_text(yaml.safe_dump({"known_hosts": str(fleet.known_hosts), "hosts": {h.name: {
        "address": h.address, "port": h.port, "user": "root",
        "password_cmd": f"echo $$ > {pidfile}; sleep 100; echo x"}}}))
    started = time.monotonic()
    result = cli("ping", "-i", str(inv), "--json", "--timeout", "1")
    elapsed = time.monotonic() - started
    [host] = json.loads(result.stdout)["hosts"]
    assert host["status"] == "timeout" and "password_cmd did not finish" in host["error"]["message"]
    assert elapsed < 1 + 1.0
    pgid = int(pidfile.read_text())  # the command's shell leads its own process group
    gone_by = time.monotonic() + 2
    while _group_members(pgid) and time.monotonic() < gone_by:
        time.sleep(0.02)  # SIGKILL was sent to the group; wait for the kernel to finish it
    assert _group_members(pgid) == []
