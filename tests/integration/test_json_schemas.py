"""Real `rmmctl status`, `metrics` and `logs` output validated against docs/schemas (docs/json.md).

Each command runs for real through the CLI: (a) with no inventory (the embedded default: this machine
through psutil and the local probe), (b) on two plain hosts of the session sshd fleet, and (c) `logs`
on a one-host fleet whose /var/log/syslog holds errors, so entries are real too. Every `-o json`
document, every `-o ndjson` line and every `logs --follow` line must validate; a real document with a
renamed key must not.
"""

from __future__ import annotations

import copy
import json
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import cli, require_fleet
from fleet import FixtureSpec, Fleet
from schemas import problems

COMMANDS = ("status", "metrics", "logs")
PAIR = "fleet-01:fleet-02"  # two plain hosts of the session fleet (apt list is real: about 1 s per host)
Doc = dict[str, Any]


def json_doc(*args: str) -> Doc:
    """`rmmctl ARGS --json`: the document, after checking the run judged the hosts (exit 0, 4 or 5)."""
    result = cli(*args, "--json")
    assert result.exit_code in (0, 4, 5), (result.exit_code, result.stderr)
    doc: Doc = json.loads(result.stdout)
    return doc


def ndjson_lines(*args: str) -> list[Doc]:
    """`rmmctl ARGS -o ndjson`: every line, parsed."""
    result = cli(*args, "-o", "ndjson")
    assert result.exit_code in (0, 4, 5), (result.exit_code, result.stderr)
    return [json.loads(line) for line in result.stdout.splitlines()]


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """An empty HOME, a fresh history database and no ssh-agent for every run in this module."""
    home = tmp_path_factory.mktemp("json-home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HOME", str(home))
        mp.setenv("RMMCTL_DB", str(home / "rmmctl.db"))
        mp.delenv("SSH_AUTH_SOCK", raising=False)
        mp.delenv("RMMCTL_INVENTORY", raising=False)
        yield home


@pytest.fixture(scope="module")
def local_docs(home: Path) -> dict[str, Doc]:
    """Each command on the embedded default inventory (no -i): the local machine."""
    return {command: json_doc(command) for command in COMMANDS}


@pytest.fixture(scope="module")
def fleet_inventory(fleet: Fleet, home: Path) -> Path:
    """The session fleet's inventory; fleet-01 warns on any disk use, so it has a real finding."""
    path = Path(fleet.write_inventory(home / "fleet.yaml"))
    doc = yaml.safe_load(path.read_text())
    doc["hosts"]["fleet-01"]["vars"] = {"disk_warn_pct": 0, "disk_crit_pct": 101}
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def fleet_docs(fleet_inventory: Path) -> dict[str, Doc]:
    """Each command on two session-fleet hosts, as one JSON document."""
    return {command: json_doc(command, PAIR, "-i", str(fleet_inventory)) for command in COMMANDS}


SYSLOG = (
    "{stamp} jsonlog-01 kernel: [99.1] Out of memory: Killed process 4242 (java)\n"
    "{stamp} jsonlog-01 backupd[77]: error: cannot open /mnt/backup: No such file or directory\n"
    "{stamp} jsonlog-01 nginx[8]: [warn] upstream timed out\n"
)


@pytest.fixture(scope="module")
def log_inventory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A one-host fleet whose /var/log/syslog (the fallback without a journal) holds three problems."""
    require_fleet()
    work = tmp_path_factory.mktemp("jsonlog")
    stamp = time.strftime("%b %e %H:%M:%S", time.localtime(time.time() - 60))
    spec = FixtureSpec(log={"syslog": SYSLOG.format(stamp=stamp)})
    with Fleet(work / "fleet", prefix="jsonlog") as logs_fleet:
        logs_fleet.start(1, {"jsonlog-01": spec})
        yield Path(logs_fleet.write_inventory(work / "inventory.yaml"))


@pytest.fixture(scope="module")
def logs_doc(log_inventory: Path, home: Path) -> Doc:
    """`rmmctl logs --level warning` on the syslog host: three real entries."""
    doc = json_doc("logs", "-i", str(log_inventory), "--since", "1h", "--level", "warning")
    assert len(doc["hosts"][0]["data"]["entries"]) == 3, doc
    return doc


# -- real documents validate ---------------------------------------------------------------------


@pytest.mark.parametrize("command", COMMANDS)
def test_local_machine_output_matches_its_schema(local_docs: dict[str, Doc], command: str) -> None:
    doc = local_docs[command]
    assert [h["name"] for h in doc["hosts"]] == ["localhost"] and doc["hosts"][0]["error"] is None
    assert problems(f"{command}.schema.json", doc) == []


@pytest.mark.parametrize("command", COMMANDS)
def test_fleet_output_matches_its_schema(fleet_docs: dict[str, Doc], command: str) -> None:
    doc = fleet_docs[command]
    assert [(h["name"], h["error"]) for h in doc["hosts"]] == [("fleet-01", None), ("fleet-02", None)]
    assert problems(f"{command}.schema.json", doc) == []


def test_findings_match_the_finding_schema(fleet_docs: dict[str, Doc]) -> None:
    findings = [f for c in ("status", "metrics") for f in fleet_docs[c]["hosts"][0]["data"]["findings"]]
    assert {f["check_id"] for f in findings} >= {"disk.space"}
    assert all(problems("finding.schema.json", f) == [] for f in findings)


def test_log_entries_match_the_logs_schema(logs_doc: Doc) -> None:
    data = logs_doc["hosts"][0]["data"]
    assert data["logs"]["source"] == "syslog" and data["errors"] == {}
    assert [e["level"] for e in data["entries"]] == ["crit", "err", "warning"]
    assert problems("logs.schema.json", logs_doc) == []


NDJSON_RUNS: dict[str, tuple[str, list[str], list[str]]] = {  # command -> inventory fixture, args, host names
    "status": ("fleet_inventory", [PAIR], ["fleet-01", "fleet-02"]),
    "logs": ("log_inventory", ["--since", "1h", "--level", "warning"], ["jsonlog-01"]),
}  # metrics' ndjson_host is built like status's; its documents are checked above


@pytest.mark.parametrize("command", NDJSON_RUNS)
def test_ndjson_lines_match_the_host_and_summary_schemas(request: pytest.FixtureRequest, home: Path,
                                                         command: str) -> None:
    fixture, args, names = NDJSON_RUNS[command]
    lines = ndjson_lines(command, "-i", str(request.getfixturevalue(fixture)), *args)
    assert [line["type"] for line in lines] == ["host"] * len(names) + ["summary"]
    assert sorted(line["name"] for line in lines[:-1]) == names
    for line in lines[:-1]:
        assert line["error"] is None and line["data"], line
        assert problems(f"{command}.schema.json#/$defs/ndjson_host", line) == []
    assert problems(f"{command}.schema.json#/$defs/ndjson_summary", lines[-1]) == []


def test_follow_lines_match_the_entry_schema(log_inventory: Path, home: Path) -> None:
    args = ["logs", "-i", str(log_inventory), "--since", "1h", "--level", "warning", "--follow", "--interval", "1"]
    proc = subprocess.Popen([sys.executable, "-m", "rmmctl", *args, "-o", "ndjson"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=dict(os.environ))
    try:
        lines = _read_lines(proc, count=3, timeout=15)
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=10)
    assert code == 130, proc.stderr.read() if proc.stderr else code
    assert proc.stdout is not None
    lines += [json.loads(line) for line in proc.stdout.read().splitlines()]  # nothing more: no host/summary
    assert [(line["type"], line["host"], line["level"]) for line in lines] == [
        ("entry", "jsonlog-01", "crit"), ("entry", "jsonlog-01", "err"), ("entry", "jsonlog-01", "warning")]
    assert all(problems("logs.schema.json#/$defs/ndjson_entry", line) == [] for line in lines)


def _read_lines(proc: subprocess.Popen[bytes], count: int, timeout: float) -> list[Doc]:
    """At least `count` stdout lines of a running process (all it wrote so far), or fail after `timeout` s."""
    assert proc.stdout is not None
    buffer, deadline = b"", time.monotonic() + timeout
    while buffer.count(b"\n") < count:
        remaining = deadline - time.monotonic()
        ready, _, _ = select.select([proc.stdout], [], [], max(remaining, 0))
        chunk = os.read(proc.stdout.fileno(), 65536) if ready else b""
        if not chunk:
            pytest.fail(f"logs --follow printed {buffer!r} before ending or timing out (rc {proc.poll()})")
        buffer += chunk
    return [json.loads(line) for line in buffer.splitlines()]


# -- a renamed key fails -------------------------------------------------------------------------


def _renamed(mapping: dict[str, Any], old: str, new: str) -> None:
    mapping[new] = mapping.pop(old)


MUTATIONS: dict[str, tuple[str, Callable[[Doc], None]]] = {
    "status summary key": ("status", lambda d: _renamed(d["hosts"][0]["data"]["summary"], "mem_pct", "memory_pct")),
    "status data key": ("status", lambda d: _renamed(d["hosts"][0]["data"], "findings", "finding")),
    "status worst_fs key": ("status", lambda d: _renamed(d["hosts"][0]["data"]["summary"]["worst_fs"], "mount",
                                                          "path")),
    "metrics facts key": ("metrics", lambda d: _renamed(d["hosts"][0]["data"]["facts"]["memory"], "used_pct",
                                                         "used_percent")),
    "metrics section": ("metrics", lambda d: _renamed(d["hosts"][0]["data"]["facts"], "filesystems", "disks")),
    "metrics mount key": ("metrics", lambda d: _renamed(d["hosts"][0]["data"]["facts"]["filesystems"]["mounts"][0],
                                                         "avail_kb", "free_kb")),
    "logs data key": ("logs", lambda d: _renamed(d["hosts"][0]["data"], "entries", "lines")),
    "logs source key": ("logs", lambda d: _renamed(d["hosts"][0]["data"]["logs"], "truncated", "cut")),
}


@pytest.mark.parametrize("name", MUTATIONS)
def test_a_renamed_key_fails_validation(name: str, fleet_docs: dict[str, Doc], logs_doc: Doc) -> None:
    command, mutate = MUTATIONS[name]
    doc = copy.deepcopy(logs_doc if command == "logs" else fleet_docs[command])
    assert problems(f"{command}.schema.json", doc) == []
    mutate(doc)
    assert problems(f"{command}.schema.json", doc), f"{name}: the renamed key was accepted"


def test_a_renamed_log_entry_key_fails_validation(logs_doc: Doc) -> None:
    doc = copy.deepcopy(logs_doc)
    _renamed(doc["hosts"][0]["data"]["entries"][0], "message", "msg")
    assert problems("logs.schema.json", doc)
    line = {"type": "entry", "host": "jsonlog-01", **logs_doc["hosts"][0]["data"]["entries"][0]}
    assert problems("logs.schema.json#/$defs/ndjson_entry", line) == []
    _renamed(line, "host", "hostname")
    assert problems("logs.schema.json#/$defs/ndjson_entry", line)


@pytest.mark.parametrize("change", [
    lambda f: _renamed(f, "check_id", "id"),
    lambda f: f.update(severity="warn"),
    lambda f: f.update(evidence="one string"),
    lambda f: f.pop("playbook"),
], ids=["renamed", "bad-severity", "evidence-not-list", "missing-playbook"])
def test_a_broken_finding_fails_validation(change: Callable[[Doc], None], fleet_docs: dict[str, Doc]) -> None:
    finding = copy.deepcopy(fleet_docs["status"]["hosts"][0]["data"]["findings"][0])
    assert problems("finding.schema.json", finding) == []
    change(finding)
    assert problems("finding.schema.json", finding)
    doc = copy.deepcopy(fleet_docs["status"])
    doc["hosts"][0]["data"]["findings"][0] = finding
    assert problems("status.schema.json", doc)
