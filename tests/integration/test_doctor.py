"""`rmmctl doctor ssh HOST` on the real sshd fleet: every step ok, and each failure where it breaks with its fix."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from referencing import Registry, Resource

from conftest import cli
from fleet import Fleet, write_key_pair

SCHEMAS = Path(__file__).resolve().parents[2] / "docs" / "schemas"
STEPS = ["resolve", "tcp", "banner", "host key", "auth", "session", "shell", "sudo", "probe"]


def _validate(doc: dict[str, Any]) -> None:
    schemas = [json.loads(p.read_text()) for p in SCHEMAS.glob("*.schema.json")]
    registry = Registry().with_resources((s["$id"], Resource.from_contents(s)) for s in schemas)
    ref = {"$ref": "https://rmmctl.dev/schemas/v1/doctor.schema.json"}
    jsonschema.Draft202012Validator(ref, registry=registry).validate(doc)


def _doctor(inv: Path, host: str, *extra: str) -> tuple[int, dict[str, Any], str]:
    result = cli("doctor", "ssh", host, "-i", str(inv), "--json", "--connect-timeout", "5", *extra)
    doc = json.loads(result.stdout)
    _validate(doc)
    return result.exit_code, doc, result.stderr


def _steps(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    [host] = doc["hosts"]
    return {row["step"]: row for row in host["data"]["steps"]}


def _inventory(path: Path, hosts: dict[str, dict[str, Any]], fleet: Fleet) -> Path:
    path.write_text(yaml.safe_dump({"known_hosts": str(fleet.known_hosts), "hosts": hosts}))
    return path


def _fleet_host(fleet: Fleet, i: int, **extra: Any) -> dict[str, Any]:
    h = fleet.host(i)
    return {"address": h.address, "port": h.port, "user": "root", "key_file": str(fleet.client_key), **extra}


def test_an_ok_host_passes_every_step(fleet: Fleet, env: dict[str, str], tmp_path: Path) -> None:
    inv = fleet.write_inventory(tmp_path / "inv.yaml", [1])
    code, doc, stderr = _doctor(inv, "fleet-01", "--become")
    assert code == 0, stderr
    steps = _steps(doc)
    assert list(steps) == STEPS
    assert {s["status"] for s in steps.values()} == {"ok"}, steps
    assert steps["banner"]["detail"].startswith("SSH-2.0-OpenSSH")
    assert "known, matches" in steps["host key"]["detail"]
    assert "publickey" in steps["auth"]["detail"] and str(fleet.client_key) in steps["auth"]["detail"]
    assert "passwordless" in steps["sudo"]["detail"]
    assert doc["hosts"][0]["data"]["failed_step"] is None and doc["summary"]["exit_code"] == 0
    table = cli("doctor", "ssh", "fleet-01", "-i", str(inv))
    assert table.exit_code == 0 and "probe" in table.stdout and "fail" not in table.stdout


def test_a_closed_port_fails_at_tcp_with_the_fix(fleet: Fleet, env: dict[str, str], tmp_path: Path) -> None:
    address, port = fleet.closed_port
    inv = _inventory(tmp_path / "inv.yaml", {"closed": {"address": address, "port": port}}, fleet)
    code, doc, _ = _doctor(inv, "closed")
    assert code == 6
    steps = _steps(doc)
    assert steps["resolve"]["status"] == "ok"
    assert steps["tcp"]["status"] == "fail" and "refused" in steps["tcp"]["detail"]
    assert "start sshd" in steps["tcp"]["fix"]
    assert [s for s in STEPS if steps[s]["status"] == "skip"] == STEPS[2:]
    assert doc["hosts"][0]["status"] == "unreachable"


def test_a_tarpit_fails_at_the_banner(fleet: Fleet, env: dict[str, str], tmp_path: Path) -> None:
    address, port = fleet.tarpit()
    inv = _inventory(tmp_path / "inv.yaml", {"tarpit": {"address": address, "port": port}}, fleet)
    result = cli("doctor", "ssh", "tarpit", "-i", str(inv), "--json", "--connect-timeout", "0.5")
    assert result.exit_code == 6
    steps = _steps(json.loads(result.stdout))
    assert steps["tcp"]["status"] == "ok" and steps["banner"]["status"] == "fail"
    assert "MaxStartups" in steps["banner"]["fix"]


def test_an_unknown_host_key_names_hostkeys_scan(fleet: Fleet, env: dict[str, str], tmp_path: Path) -> None:
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    path = tmp_path / "inv.yaml"
    path.write_text(yaml.safe_dump({"known_hosts": str(empty), "hosts": {"fleet-02": _fleet_host(fleet, 2)}}))
    code, doc, _ = _doctor(path, "fleet-02")
    assert code == 7
    steps = _steps(doc)
    assert steps["banner"]["status"] == "ok"
    assert steps["host key"]["status"] == "fail" and "unknown host key" in steps["host key"]["detail"]
    assert "`rmmctl hostkeys scan fleet-02`" in steps["host key"]["fix"]
    assert "`rmmctl hostkeys approve fleet-02`" in steps["host key"]["fix"]
    assert steps["auth"]["status"] == "skip"


def test_a_changed_host_key_says_forget_then_rescan(fleet: Fleet, env: dict[str, str], tmp_path: Path) -> None:
    other = write_key_pair(tmp_path / "other").split()
    known = tmp_path / "known_hosts"
    known.write_text(f"{fleet.host(3).known_hosts_name} {other[0]} {other[1]}\n")
    path = tmp_path / "inv.yaml"
    path.write_text(yaml.safe_dump({"known_hosts": str(known), "hosts": {"fleet-03": _fleet_host(fleet, 3)}}))
    code, doc, _ = _doctor(path, "fleet-03")
    assert code == 7
    row = _steps(doc)["host key"]
    assert "HOST KEY CHANGED" in row["detail"]
    assert "`rmmctl hostkeys forget fleet-03`" in row["fix"] and "`rmmctl hostkeys scan fleet-03`" in row["fix"]


def test_a_wrong_key_fails_at_auth_listing_what_was_tried(fleet: Fleet, env: dict[str, str], tmp_path: Path) -> None:
    wrong = tmp_path / "wrong_key"
    write_key_pair(wrong)
    inv = _inventory(tmp_path / "inv.yaml", {"fleet-04": _fleet_host(fleet, 4, key_file=str(wrong))}, fleet)
    code, doc, _ = _doctor(inv, "fleet-04")
    assert code == 7
    steps = _steps(doc)
    assert steps["host key"]["status"] == "ok"
    auth = steps["auth"]
    assert auth["status"] == "fail"
    assert f"key {wrong}" in auth["detail"] and "the server offers: publickey" in auth["detail"]
    assert "authorized_keys" in auth["fix"]
    assert doc["hosts"][0]["status"] == "auth_failed"
    assert [s for s in STEPS if steps[s]["status"] == "skip"] == STEPS[5:]


def test_sudo_is_skipped_without_become_and_one_host_is_required(fleet: Fleet, env: dict[str, str],
                                                                 tmp_path: Path) -> None:
    inv = fleet.write_inventory(tmp_path / "inv.yaml", [1, 2])
    code, doc, _ = _doctor(inv, "fleet-01")
    assert code == 0 and _steps(doc)["sudo"]["status"] == "skip"
    many = cli("doctor", "ssh", "all", "-i", str(inv))
    assert many.exit_code == 3 and "one host" in many.stderr


def test_a_host_behind_a_jump_host_shows_each_hops_steps(fleet: Fleet, env: dict[str, str], tmp_path: Path) -> None:
    jump = fleet.host(5)
    via = f"root@{jump.address}:{jump.port}"
    closed_port = fleet.closed_port[1]
    inv = _inventory(tmp_path / "inv.yaml", {
        "fleet-06": _fleet_host(fleet, 6, proxy_jump=via),
        "nothing": {**_fleet_host(fleet, 6, proxy_jump=via), "port": closed_port}}, fleet)
    code, doc, stderr = _doctor(inv, "fleet-06")
    assert code == 0, stderr
    steps = _steps(doc)
    name = jump.address
    assert [s for s in steps][:5] == ["resolve", f"tcp (jump {name})", f"banner (jump {name})",
                                      f"host key (jump {name})", f"auth (jump {name})"]
    assert {s["status"] for s in steps.values() if s["step"] != "sudo"} == {"ok"}
    assert "jump host" in steps["resolve"]["detail"] and "tunnelled" in steps["tcp"]["detail"]
    assert [h["name"] for h in doc["hosts"][0]["data"]["hops"]] == [name, "fleet-06"]
    code, doc, _ = _doctor(inv, "nothing")
    steps = _steps(doc)
    assert code == 6 and steps[f"auth (jump {name})"]["status"] == "ok" and steps["tcp"]["status"] == "fail"
    assert "the jump host cannot reach" in steps["tcp"]["fix"]


@pytest.mark.parametrize("args", [("doctor",), ("doctor", "-h")])
def test_doctor_is_a_group(args: tuple[str, ...]) -> None:
    result = cli(*args)
    assert "ssh" in result.stdout
