"""The CLI end to end against the real sshd fleet: what a technician, a cron job and a script see."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import cli
from fleet import Fleet, write_key_pair

SECRET = "s3cr3t-Pa55w0rd"



def inventory(fleet: Fleet, path: Path, hosts: list[int] | None = None, *, known: Path | None = None,
              **more: Any) -> Path:
    """The fleet's inventory plus extra hosts (`more` maps name -> host entry); `known` replaces its known_hosts."""
    fleet.write_inventory(path, hosts)
    doc = yaml.safe_load(path.read_text())
    doc["hosts"].update(more)
    if known is not None:
        known.write_text("")
        doc["known_hosts"] = str(known)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path



def test_ping_ten_hosts_in_parallel_json(fleet: Fleet, env: dict[str, str], tmp_path: Path) -> None:
    inv = inventory(fleet, tmp_path / "inv.yaml")
    result = cli("ping", "-i", str(inv), "--json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["schema"] == "rmmctl/v1" and doc["command"] == "ping"
    assert [h["data"]["remote_hostname"] for h in doc["hosts"]] == [f"fleet-{i:02d}" for i in range(1, 11)]
    assert {h["status"] for h in doc["hosts"]} == {"ok"} and doc["summary"]["ok"] == 10
    assert result.stderr == ""  # not a terminal: no progress, nothing else


def test_run_ndjson_streams_hosts_then_summary(fleet: Fleet, env: dict[str, str], tmp_path: Path) -> None:
    inv = inventory(fleet, tmp_path / "inv.yaml")
    result = cli("run", "fleet-0*", "-i", str(inv), "-o", "ndjson", "--", "hostname")
    assert result.exit_code == 0, result.stderr
    lines = [json.loads(x) for x in result.stdout.splitlines()]
    assert [x["type"] for x in lines] == ["host"] * 9 + ["summary"]
    assert sorted(x["data"]["stdout"].strip() for x in lines[:-1]) == [f"fleet-{i:02d}" for i in range(1, 10)]
    assert lines[-1]["summary"]["exit_code"] == 0


def test_shell_metacharacters_are_never_executed(fleet: Fleet, env: dict[str, str], tmp_path: Path) -> None:
    inv = inventory(fleet, tmp_path / "inv.yaml", [1])
    marker = f"/tmp/rmmctl-pwned-{os.getpid()}"
    evil = f"; touch {marker}; $(touch {marker}) `touch {marker}` | touch {marker}"
    result = cli("run", "all", "-i", str(inv), "--json", "--", "echo", evil)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["hosts"][0]["data"]["stdout"] == evil + "\n"
    check = cli("run", "all", "-i", str(inv), "--json", "--", "test", "-e", marker)
    assert json.loads(check.stdout)["hosts"][0]["data"]["exit_code"] == 1  # never created on the host


def test_run_shell_mode_and_failed_command_exit_code(fleet: Fleet, env: dict[str, str], tmp_path: Path) -> None:
    inv = inventory(fleet, tmp_path / "inv.yaml", [1, 2])
    result = cli("run", "all", "-i", str(inv), "--shell", "hostname | tr a-z A-Z; exit 3")
    assert result.exit_code == 5  # a failed command
    assert "FLEET-01" in result.stdout and "FLEET-02" in result.stdout and "rc=3" in result.stdout


def test_bad_hosts_never_stop_the_run_and_set_the_exit_code(fleet: Fleet, env: dict[str, str],
                                                             tmp_path: Path) -> None:
    closed_addr, closed_port = fleet.closed_port
    tar_addr, tar_port = fleet.tarpit()
    wrong_key = tmp_path / "wrong_key"
    write_key_pair(wrong_key)
    h1 = fleet.host(1)
    inv = inventory(
        fleet, tmp_path / "inv.yaml", [1],
        closed={"address": closed_addr, "port": closed_port},
        tarpit={"address": tar_addr, "port": tar_port},
        wrongkey={"address": h1.address, "port": h1.port, "user": "root", "key_file": str(wrong_key)},
    )
    started = time.monotonic()
    result = cli("ping", "-i", str(inv), "--json", "--connect-timeout", "2")
    assert time.monotonic() - started < 6
    statuses = {h["name"]: h["status"] for h in json.loads(result.stdout)["hosts"]}
    assert statuses == {"fleet-01": "ok", "closed": "unreachable", "tarpit": "timeout", "wrongkey": "auth_failed"}
    assert result.exit_code == 7  # auth failure outranks unreachable
    unreachable = cli("ping", "closed:fleet-01", "-i", str(inv), "--connect-timeout", "2")
    assert unreachable.exit_code == 6
    assert "unreachable" in unreachable.stdout and "refused" in unreachable.stdout.lower()


@pytest.mark.parametrize(
    ("text", "pattern", "needle"),
    [
        ("hosts:\n  a: {address: 127.0.0.1\n", "all", "YAML syntax error"),
        ("hosts:\n  a: {adress: 127.0.0.1}\n", "all", "adress"),
        ("hosts:\n  a: {address: 127.0.0.1}\n", "~(unclosed", "unclosed"),
        ("hosts:\n  a: {address: 127.0.0.1}\n", "nosuchhost", "nosuchhost"),
    ],
    ids=["yaml-syntax", "unknown-key", "bad-regex", "matches-nothing"],
)
def test_bad_inventory_or_pattern_is_one_line_and_exit_3(env: dict[str, str], tmp_path: Path, text: str,
                                                        pattern: str, needle: str) -> None:
    inv = tmp_path / "bad.yaml"
    inv.write_text(text)
    result = cli("run", pattern, "-i", str(inv), "--", "true")
    assert result.exit_code == 3, (result.stdout, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0] and "Traceback" not in result.stderr
    if pattern == "all":
        assert str(inv) in lines[0]


def test_missing_inventory_file_is_a_config_error(env: dict[str, str], tmp_path: Path) -> None:
    result = cli("ping", "-i", str(tmp_path / "nope.yaml"))
    assert result.exit_code == 3 and "nope.yaml" in result.stderr and "Traceback" not in result.stderr


def test_history_and_audit_record_every_run(fleet: Fleet, env: dict[str, str], tmp_path: Path) -> None:
    inv = inventory(fleet, tmp_path / "inv.yaml", [1, 2])
    cli("run", "all", "-i", str(inv), "--", "echo", "audited")
    runs = json.loads(cli("history", "runs", "--json").stdout)["runs"]
    assert runs[0]["command"] == "run" and runs[0]["exit_code"] == 0 and runs[0]["hosts_total"] == 2
    audit = json.loads(cli("history", "audit", "--json").stdout)["audit"]
    assert {(a["host"], a["detail"]) for a in audit} >= {("fleet-01", "echo audited"), ("fleet-02", "echo audited")}
    assert all(a["exit_code"] == 0 for a in audit)
    shown = json.loads(cli("history", "show", str(runs[0]["id"]), "--json").stdout)["run"]
    assert [h["host"] for h in shown["hosts"]] == ["fleet-01", "fleet-02"]


def test_secrets_never_reach_json_logs_or_history(fleet: Fleet, env: dict[str, str], tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RMM_TEST_PW", SECRET)
    h1 = fleet.host(1)
    inv = inventory(fleet, tmp_path / "inv.yaml", [1],
                    pwhost={"address": h1.address, "port": h1.port, "user": "root", "password_env": "RMM_TEST_PW"})
    doc = yaml.safe_load(inv.read_text())
    doc["hosts"]["fleet-01"]["become_password_env"] = "RMM_TEST_PW"
    inv.write_text(yaml.safe_dump(doc))
    outputs = [
        cli("ping", "-i", str(inv), "--json", "--debug"),
        cli("run", "fleet-01", "-i", str(inv), "--json", "-vv", "--become", "--", "echo", SECRET),
        cli("inventory", "host", "pwhost", "-i", str(inv), "--json"),
        cli("history", "audit", "--json"),
        cli("history", "runs", "--json"),
    ]
    for out in outputs:
        assert SECRET not in out.stdout and SECRET not in out.stderr
    assert json.loads(outputs[0].stdout)["hosts"][1]["status"] == "auth_failed"
    dump = "\n".join(sqlite3.connect(env["RMMCTL_DB"]).iterdump())
    assert SECRET not in dump and "echo ********" in dump


def test_hostkeys_scan_approve_then_ping(fleet: Fleet, env: dict[str, str], tmp_path: Path) -> None:
    known = tmp_path / "known_hosts"  # the inventory's known_hosts, empty: nothing trusted yet
    inv = inventory(fleet, tmp_path / "inv.yaml", [1, 2], known=known)
    assert cli("ping", "-i", str(inv)).exit_code == 7
    scan = cli("hostkeys", "scan", "-i", str(inv), "--json")
    states = [h["data"]["state"] for h in json.loads(scan.stdout)["hosts"]]
    assert states == ["unknown", "unknown"] and known.read_text() == ""  # scanning trusts nothing
    refused = cli("hostkeys", "approve", "all", "-i", str(inv))  # no terminal, no --yes: never a prompt
    assert refused.exit_code == 2 and "--yes" in refused.stderr
    assert cli("hostkeys", "approve", "all", "-i", str(inv), "--yes").exit_code == 0
    assert fleet.host_public_key.split()[1] in known.read_text()
    assert cli("ping", "-i", str(inv)).exit_code == 0
    listed = json.loads(cli("hostkeys", "list", "fleet-01", "-i", str(inv), "--json").stdout)["entries"]
    assert len(listed) == 1 and listed[0]["hosts"] == fleet.host(1).known_hosts_name


def test_changed_host_key_is_refused_and_never_trusted(fleet: Fleet, env: dict[str, str], tmp_path: Path) -> None:
    known = tmp_path / "known_hosts"
    inv = inventory(fleet, tmp_path / "inv.yaml", [1], known=known)
    fake_pub = write_key_pair(tmp_path / "other_key").split()
    known.write_text(f"{fleet.host(1).known_hosts_name} {fake_pub[0]} {fake_pub[1]}\n")
    before = known.read_text()
    result = cli("ping", "-i", str(inv), "--json")
    assert result.exit_code == 7
    err = json.loads(result.stdout)["hosts"][0]["error"]
    assert err["kind"] == "host_key" and "CHANGED" in err["message"]
    approve = cli("hostkeys", "approve", "all", "-i", str(inv), "--yes")
    assert approve.exit_code == 7 and known.read_text() == before
    assert cli("hostkeys", "forget", "fleet-01", "-i", str(inv)).exit_code == 0
    assert cli("hostkeys", "approve", "all", "-i", str(inv), "--yes").exit_code == 0
    assert cli("ping", "-i", str(inv)).exit_code == 0


def test_accept_new_records_the_key(fleet: Fleet, env: dict[str, str], tmp_path: Path) -> None:
    known = tmp_path / "known_hosts"
    inv = inventory(fleet, tmp_path / "inv.yaml", [3], known=known)
    doc = yaml.safe_load(inv.read_text())
    doc["hosts"]["fleet-03"]["host_key_policy"] = "accept-new"
    inv.write_text(yaml.safe_dump(doc))
    assert cli("ping", "-i", str(inv)).exit_code == 0
    assert fleet.host(3).known_hosts_name in known.read_text()


def test_ctrl_c_prints_what_finished_and_exits_130(fleet: Fleet, env: dict[str, str], tmp_path: Path) -> None:
    inv = inventory(fleet, tmp_path / "inv.yaml", [1, 2])
    proc = subprocess.Popen(
        [sys.executable, "-m", "rmmctl", "run", "all", "-i", str(inv), "--json", "--shell",
         "if [ $(hostname) = fleet-01 ]; then echo quick; else sleep 30; fi"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, **env}, text=True,
    )
    deadline = time.monotonic() + 10
    db = Path(env["RMMCTL_DB"])
    while time.monotonic() < deadline:  # wait until fleet-01 has finished (recorded as it finishes)
        if db.exists() and _rows(db, "SELECT count(*) FROM host_results") >= 1:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 130, err
    hosts = {h["name"]: h for h in json.loads(out)["hosts"]}
    assert hosts["fleet-01"]["status"] == "ok" and hosts["fleet-01"]["data"]["stdout"] == "quick\n"
    assert hosts["fleet-02"]["status"] == "interrupted"
    assert _rows(db, "SELECT count(*) FROM runs WHERE status = 'interrupted'") == 1


def _rows(db: Path, sql: str) -> int:
    con = sqlite3.connect(db, timeout=5)
    try:
        return int(con.execute(sql).fetchone()[0])
    except sqlite3.OperationalError:
        return 0
    finally:
        con.close()
