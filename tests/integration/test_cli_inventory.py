"""`rmmctl inventory ...` on the shipped example and on Ansible inventories, as a user runs it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from rmmctl.cli import app

EXAMPLE = Path(__file__).resolve().parents[2] / "inventories" / "example.yaml"


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("RMMCTL_DB", str(tmp_path / "rmmctl.db"))
    monkeypatch.delenv("RMMCTL_INVENTORY", raising=False)


def cli(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


def test_list_example_as_json_and_table() -> None:
    doc = json.loads(cli("inventory", "list", "-i", str(EXAMPLE), "--json").stdout)
    assert doc["schema"] == "rmmctl/v1" and doc["format"] == "rmmctl" and len(doc["hosts"]) >= 8
    assert {h["connection"] for h in doc["hosts"]} >= {"ssh", "winrm"}
    assert {h["client"] for h in doc["hosts"]} >= {"acme", "globex"}
    windows = json.loads(cli("inventory", "list", "os=windows", "-i", str(EXAMPLE), "--json").stdout)["hosts"]
    assert windows and all(h["os"] == "windows" for h in windows)
    table = cli("inventory", "list", "-i", str(EXAMPLE))
    assert table.exit_code == 0 and "acme" in table.stdout and "hosts" in table.stdout


def test_ansible_list_is_ansible_inventory_shaped_and_has_no_secrets(tmp_path: Path) -> None:
    ini = tmp_path / "hosts.ini"
    ini.write_text("[web]\nweb[01:03] ansible_user=deploy ansible_password=hunter2hunter\n\n[web:vars]\nrole=www\n")
    doc = json.loads(cli("inventory", "list", "-i", str(ini), "--ansible").stdout)
    assert doc["web"]["hosts"] == ["web01", "web02", "web03"]
    assert doc["_meta"]["hostvars"]["web02"]["role"] == "www"
    assert "hunter2hunter" not in json.dumps(doc)
    shown = cli("inventory", "host", "web01", "-i", str(ini), "--json")
    assert shown.exit_code == 0 and "hunter2hunter" not in shown.stdout


def test_graph_host_and_check() -> None:
    graph = cli("inventory", "graph", "-i", str(EXAMPLE))
    assert graph.stdout.startswith("@all:") and "|--@acme:" in graph.stdout
    check = cli("inventory", "check", "-i", str(EXAMPLE), "--json")
    assert check.exit_code == 0 and json.loads(check.stdout)["ok"] is True
    unknown = cli("inventory", "host", "no-such-host", "-i", str(EXAMPLE))
    assert unknown.exit_code == 3 and "no-such-host" in unknown.stderr and "Traceback" not in unknown.stderr


def test_embedded_default_is_this_machine() -> None:
    doc = json.loads(cli("inventory", "list", "--json").stdout)
    assert doc["format"] == "embedded"
    assert [(h["name"], h["connection"]) for h in doc["hosts"]] == [("localhost", "local")]
