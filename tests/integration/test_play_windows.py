"""The win_* modules and the shipped Windows playbooks through real `rmmctl play` over WinRM.

The host is the WS-Management double (real pywinrm client, real WinRS shell actions) answering each
module script from an emulated Windows host (tests/winrm_double/modules.py: a Python model of services,
printers, spool files, files by path ...). What only a real Windows host can prove (the PowerShell itself
running) is left to the opt-in live run; every script is parsed by tree-sitter-powershell in
tests/unit/test_win_module_scripts.py. Each test: check mode leaves the model byte-for-byte as it was, a
real run changes it and says changed, a second run is ok, and the double ends with no shell open.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

import rmmctl
from conftest import cli

try:
    import winrm  # type: ignore[import-untyped]  # noqa: F401

    from winrm_double import FakeWinRM
    from winrm_double.modules import SPOOL, SYSROOT, WinHost, WinModel
    MISSING = None
except ImportError as exc:  # pywinrm is a dependency: missing it under CI is a failure, not a skip
    MISSING = str(exc)

SHIPPED = Path(rmmctl.__file__).parent / "data" / "playbooks"


@pytest.fixture(autouse=True)
def _need_pywinrm(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    if MISSING is not None:
        if os.environ.get("CI"):
            pytest.fail(f"pywinrm unavailable in CI: {MISSING}", pytrace=False)
        pytest.skip(f"pywinrm unavailable: {MISSING}")
    monkeypatch.setenv("RMMCTL_TEST_WINRM_PW", "s3cret")


class Rig:
    def __init__(self, tmp_path: Path, host: WinHost, srv: FakeWinRM) -> None:
        self.tmp, self.host, self.srv = tmp_path, host, srv
        self.inv = tmp_path / "inv.yaml"
        self.inventory()

    @property
    def model(self) -> WinModel:
        return self.host.model

    def inventory(self, linux: bool = False, **vars: Any) -> None:
        hosts: dict[str, Any] = {"win01": {
            "address": "127.0.0.1", "port": self.srv.port, "user": "rmm", "connection": "winrm",
            "password_env": "RMMCTL_TEST_WINRM_PW",
            "vars": {"winrm_transport": "basic", "winrm_scheme": "http", "winrm_allow_basic_http": True, **vars}}}
        if linux:  # a Linux host of a mixed inventory: never contacted by a Windows playbook (closed port)
            hosts["lin01"] = {"address": "127.0.0.1", "port": 9, "os": "linux", "user": "rmm"}
        self.inv.write_text(yaml.safe_dump({"hosts": hosts}))

    def play(self, tasks: list[dict[str, Any]] | Path, *args: str, hosts: str = "all") -> dict[str, Any]:
        if isinstance(tasks, Path):
            book = tasks
        else:
            book = self.tmp / "book.yaml"
            book.write_text(yaml.safe_dump({"hosts": hosts, "tasks": tasks}, sort_keys=False))
        result = cli("play", str(book), *args, "-i", str(self.inv), "-o", "json", "--connect-timeout", "3")
        assert not self.host.unknown, self.host.unknown
        try:
            doc = json.loads(result.stdout)
        except ValueError:
            raise AssertionError(f"exit {result.exit_code}: {result.output}") from None
        doc["exit"] = result.exit_code
        return doc

    def tasks(self, doc: dict[str, Any], host: str = "win01") -> list[dict[str, Any]]:
        [h] = [h for h in doc["hosts"] if h["name"] == host]
        return h["data"]["tasks"]

    def one(self, task: dict[str, Any], *args: str) -> dict[str, Any]:
        doc = self.play([task], *args)
        [t] = self.tasks(doc)
        return {**t, "exit": doc["exit"]}

    def cycle(self, task: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        """--check (the model unchanged, byte for byte), a real run, a second run."""
        before = self.model.snapshot()
        dry = self.one(task, "--check")
        assert self.model.snapshot() == before, "check mode changed the host"
        real = self.one(task, "--yes")
        again = self.one(task, "--yes")
        return dry, real, again


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    host = WinHost()
    with FakeWinRM(host) as srv:
        yield Rig(tmp_path, host, srv)
        assert not srv.shells, f"shells left open: {list(srv.shells)}"


# ---------------------------------------------------------------- win_service

def test_win_service_plans_starts_and_then_is_ok(rig: Rig) -> None:
    task = {"name": "time", "win_service": {"name": "W32Time", "state": "started", "start_mode": "delayed"}}
    dry, real, again = rig.cycle(task)
    assert dry["status"] == "changed" and dry["exit"] == 0
    assert dry["message"] == "would set start mode delayed, start W32Time (check mode)"
    assert dry["data"]["actions"] == ["set start mode delayed", "start"]
    assert real["status"] == "changed" and real["data"]["status"] == "Running" and real["data"]["start_mode"] == "delayed"
    assert rig.model.services["W32Time"] == {"display": "Windows Time", "status": "Running",
                                             "start_type": "Automatic", "delayed": True}
    assert again["status"] == "ok" and again["message"].startswith("W32Time is as wanted")
    stop = rig.one({"win_service": {"name": "W32Time", "state": "stopped", "start_mode": "manual"}}, "--yes")
    assert stop["status"] == "changed" and rig.model.services["W32Time"]["status"] == "Stopped"
    assert rig.model.services["W32Time"]["start_type"] == "Manual"


def test_win_service_unknown_name_fails_and_a_templated_name_stays_data(rig: Rig) -> None:
    missing = rig.one({"win_service": {"name": "NoSuchSvc", "state": "started"}}, "--yes")
    assert missing["status"] == "failed" and "Cannot find any service with service name 'NoSuchSvc'" in missing["message"]
    rig.inventory(svc="Spooler; Stop-Computer $(whoami)")
    bad = rig.one({"win_service": {"name": "{{ svc }}", "state": "started"}}, "--yes")
    assert bad["status"] == "failed" and "win_service.name" in bad["message"]  # refused before any script
    assert all(c[0] != "win_service" or c[1]["name"] != "Spooler; Stop-Computer $(whoami)" for c in rig.host.calls)
