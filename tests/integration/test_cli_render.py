"""Through the CLI: fleet tables with failing hosts at 80, 100 and 160 columns, and raw CSV for scripts.
Needs no sshd: the local machine answers, a closed port on loopback refuses."""

from __future__ import annotations

import csv
import io
import re
import socket
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from rmmctl.cli import app

LOCAL = "controller.branch-office.lan"
CLOSED = "db01.branch-office.lan"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def inv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("RMMCTL_DB", str(tmp_path / "rmmctl.db"))
    for name in ("SSH_AUTH_SOCK", "RMMCTL_INVENTORY", "COLUMNS"):
        monkeypatch.delenv(name, raising=False)
    known = tmp_path / "known_hosts"
    known.write_text("")
    doc = {"known_hosts": str(known), "hosts": {
        LOCAL: {"connection": "local"},
        CLOSED: {"address": "127.0.0.1", "port": _closed_port(), "user": "root"},
    }}
    path = tmp_path / "inv.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def run(*args: str, columns: int = 160) -> str:
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": str(columns)})
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == 6, (result.exit_code, result.stdout, result.stderr)  # a host unreachable
    return result.stdout


@pytest.mark.parametrize("columns", [80, 100, 160])
@pytest.mark.parametrize("command", ["ping", "status"])
def test_failing_hosts_keep_the_table_readable(inv: Path, command: str, columns: int) -> None:
    out = run(command, "-i", str(inv), "--connect-timeout", "2", columns=columns)
    lines = out.splitlines()
    assert max(len(line) for line in lines) <= columns
    rows = [line for line in lines if line.startswith("│")]
    assert len(rows) == 2 and rows[0].startswith(f"│ {LOCAL} ") and rows[1].startswith(f"│ {CLOSED} ")
    assert re.search(r"│ unreachable: connection refused +│$", rows[1]), rows[1]
    below = " ".join(out.split("└")[-1].split())
    assert re.search(rf"{re.escape(CLOSED)}: connect: .*connection refused by 127\.0\.0\.1:\d+", below), below
    assert below.endswith("in " + below.split(" in ")[-1]) and "1 unreachable" in below


def test_status_csv_is_raw_values_under_machine_headers(inv: Path) -> None:
    out = run("status", "-i", str(inv), "--connect-timeout", "2", "-o", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["name"] for r in rows] == [LOCAL, CLOSED]
    assert {"uptime_s", "updates_pending", "updates_security", "load1", "worst_fs_used_pct"} <= set(rows[0])
    local, closed = rows
    float(local["uptime_s"])  # seconds, not "3d 4h"
    assert local["updates_pending"] == "" or local["updates_pending"].isdigit()
    assert not re.search(r"\d+d \d+h|\(\d+ sec\)|None", out)
    assert closed["error_kind"] == "connect" and closed["uptime_s"] == ""
