"""`serial` and `max_fail_percentage` on the real sshd fleet: batches run one after another inside one run
(proven by marker files each host writes as it starts and ends), a closed-port host in batch 1 stops the
later batches (their hosts reported skipped with the reason, nothing run on them), percentages and lists
of sizes, and a bad value refused before anything connects."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

import rmmctl
from conftest import cli
from fleet import Fleet

SRC = str(Path(rmmctl.__file__).parents[1])  # the rmmctl this test imported, for the CLI process too

MARKS = """\
name: Rolling
hosts: all
{head}
tasks:
  - name: start mark
    shell: date +%s.%N > {{{{ dir }}}}/{{{{ inventory_hostname }}}}.start
  - name: end mark
    shell: date +%s.%N > {{{{ dir }}}}/{{{{ inventory_hostname }}}}.end
"""


def setup(fleet: Fleet, tmp_path: Path, head: str, hosts: list[int], closed_first: bool = False) -> tuple[Path, Path]:
    inv = fleet.write_inventory(tmp_path / "inv.yaml", hosts)
    if closed_first:  # the unreachable host leads the inventory, so it lands in batch 1
        doc = yaml.safe_load(inv.read_text())
        address, port = fleet.closed_port
        doc["hosts"] = {"closed": {"address": address, "port": port, "user": "root"}, **doc["hosts"]}
        inv.write_text(yaml.safe_dump(doc, sort_keys=False))
    book = tmp_path / "play.yaml"
    book.write_text(MARKS.format(head=head))
    (tmp_path / "marks").mkdir()
    return inv, book


def play(inv: Path, book: Path, tmp_path: Path, *args: str) -> Any:
    return cli("play", str(book), "-i", str(inv), "--yes", "--connect-timeout", "2",
               "-e", f"dir={tmp_path / 'marks'}", *args)


def marks(tmp_path: Path, name: str) -> tuple[float, float] | None:
    folder = tmp_path / "marks"
    if not (folder / f"{name}.start").exists():
        return None
    return float((folder / f"{name}.start").read_text()), float((folder / f"{name}.end").read_text())


def assert_batches_in_order(tmp_path: Path, batches: list[list[str]]) -> None:
    """Every host ran, and no host of a batch started before every host of the batch before it ended."""
    times = {name: marks(tmp_path, name) for batch in batches for name in batch}
    assert all(times.values()), times
    for before, after in zip(batches, batches[1:]):
        ended = max(times[n][1] for n in before)  # type: ignore[index]
        started = min(times[n][0] for n in after)  # type: ignore[index]
        assert started >= ended, (before, after, times)


def test_serial_runs_batches_one_after_another_in_one_run(fleet: Fleet, env: dict[str, str], tmp_path: Path) -> None:
    inv, book = setup(fleet, tmp_path, "serial: 2", [1, 2, 3, 4, 5])
    result = play(inv, book, tmp_path, "-o", "json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert [h["status"] for h in doc["hosts"]] == ["changed"] * 5
    summary = doc["summary"]
    assert (summary["batches"], summary["stopped_after_batch"], summary["stop_reason"]) == (3, None, None)
    assert_batches_in_order(tmp_path, [["fleet-01", "fleet-02"], ["fleet-03", "fleet-04"], ["fleet-05"]])
    runs = json.loads(cli("history", "runs", "--json").stdout)["runs"]
    assert [(r["command"], r["hosts_total"]) for r in runs] == [("play", 5)]  # one run, one report


def test_percentages_and_a_list_of_sizes(fleet: Fleet, env: dict[str, str], tmp_path: Path) -> None:
    inv, book = setup(fleet, tmp_path, "serial: [1, '50%']", [1, 2, 3, 4])  # 1, then 2 (50% of 4), then 1
    result = play(inv, book, tmp_path, "-o", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["summary"]["batches"] == 3
    assert_batches_in_order(tmp_path, [["fleet-01"], ["fleet-02", "fleet-03"], ["fleet-04"]])
    book.write_text(MARKS.format(head="serial: '50%'"))
    again = play(inv, book, tmp_path, "-o", "json", "fleet-0[1-3]")  # 50% of the 3 hosts this run targets: 1
    assert json.loads(again.stdout)["summary"]["batches"] == 3


def test_a_closed_port_host_in_batch_1_stops_the_later_batches(fleet: Fleet, env: dict[str, str],
                                                               tmp_path: Path) -> None:
    inv, book = setup(fleet, tmp_path, "serial: 2\nmax_fail_percentage: 0", [1, 2, 3], closed_first=True)
    result = play(inv, book, tmp_path, "-o", "json")
    assert result.exit_code == 6, result.output  # the stopping batch's unreachable host
    hosts = {h["name"]: h for h in json.loads(result.stdout)["hosts"]}
    assert [h["status"] for h in hosts.values()] == ["unreachable", "changed", "skipped", "skipped"]
    reason = "batch 1 failed 1 of 2 hosts (50%) > max_fail_percentage 0 (failed: closed)"
    for name in ("fleet-02", "fleet-03"):
        assert hosts[name]["error"] == {"kind": "not_run", "message": f"not run: {reason}"}
        assert hosts[name]["data"] == {}
        assert marks(tmp_path, name) is None  # nothing ran there
    assert marks(tmp_path, "fleet-01") is not None
    summary = json.loads(result.stdout)["summary"]
    assert (summary["stopped_after_batch"], summary["stop_reason"], summary["skipped"]) == (1, reason, 2)

    table = play(inv, book, tmp_path)
    assert table.exit_code == 6
    row = next(line for line in table.stdout.splitlines() if line.startswith("│ fleet-03"))
    assert "not run: batch 1 failed 1 of 2 hosts" in row
    assert "(play stopped after batch 1 of 2, 2 hosts not run: batch 1 failed" in " ".join(table.stdout.split())

    lines = [json.loads(line) for line in play(inv, book, tmp_path, "-o", "ndjson").stdout.splitlines()]
    assert sorted(x["name"] for x in lines if x["type"] == "host") == ["closed", "fleet-01", "fleet-02", "fleet-03"]
    assert lines[-1]["summary"]["stopped_after_batch"] == 1

    run = json.loads(cli("history", "show", "1", "--json").stdout)["run"]  # processors saw every host
    assert {h["host"]: h["status"] for h in run["hosts"]} == {"closed": "unreachable", "fleet-01": "changed",
                                                               "fleet-02": "skipped", "fleet-03": "skipped"}


def test_within_the_threshold_the_play_goes_on_and_a_wholly_failed_batch_stops_it(
        fleet: Fleet, env: dict[str, str], tmp_path: Path) -> None:
    inv, book = setup(fleet, tmp_path, "serial: 2\nmax_fail_percentage: 50", [1, 2, 3], closed_first=True)
    result = play(inv, book, tmp_path, "-o", "json")  # 1 of 2 is 50%: not more than 50
    assert result.exit_code == 6
    assert [h["status"] for h in json.loads(result.stdout)["hosts"]] == ["unreachable", "changed", "changed",
                                                                         "changed"]
    assert json.loads(result.stdout)["summary"]["stopped_after_batch"] is None
    book.write_text(MARKS.format(head="serial: 1"))  # no max_fail_percentage: Ansible stops when a whole batch fails
    stopped = play(inv, book, tmp_path, "-o", "json")
    assert stopped.exit_code == 6
    assert [h["status"] for h in json.loads(stopped.stdout)["hosts"]] == ["unreachable"] + ["skipped"] * 3
    assert json.loads(stopped.stdout)["summary"]["stop_reason"] == \
        "batch 1 failed 1 of 1 host (100%): every host of the batch failed (failed: closed)"


def test_a_bad_serial_is_refused_before_anything_connects(fleet: Fleet, env: dict[str, str], tmp_path: Path) -> None:
    inv, book = setup(fleet, tmp_path, "serial: '0%'", [1])
    result = play(inv, book, tmp_path)
    assert result.exit_code == 3
    assert result.stderr.startswith(f"rmmctl: error: {book}:3: serial: got '0%'; expected a positive number")
    assert len(result.stderr.strip().splitlines()) == 1
    assert marks(tmp_path, "fleet-01") is None


def test_sigterm_in_batch_2_keeps_batch_1_and_marks_the_rest_interrupted(fleet: Fleet, env: dict[str, str],
                                                                          tmp_path: Path) -> None:
    inv = fleet.write_inventory(tmp_path / "inv.yaml", [7, 8, 9])
    ready, marker = tmp_path / "ready", f"300.{os.getpid() % 1000:03d}"
    book = tmp_path / "play.yaml"
    book.write_text(f"""\
hosts: all
serial: 1
tasks:
  - shell: "if [ {{{{ inventory_hostname }}}} = fleet-08 ]; then touch {ready}; exec sleep {marker}; fi"
""")
    proc = subprocess.Popen([sys.executable, "-m", "rmmctl", "play", str(book), "-i", str(inv), "--yes", "-o", "json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **env, "PYTHONPATH": SRC})
    try:
        end = time.monotonic() + 15
        while not ready.exists():  # readiness: batch 2 (fleet-08) runs its task
            assert proc.poll() is None and time.monotonic() < end, proc.stderr.read() if proc.stderr else ""
            time.sleep(0.02)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 143, err
    doc = json.loads(out)
    hosts = {h["name"]: h for h in doc["hosts"]}
    assert [h["status"] for h in hosts.values()] == ["changed", "interrupted", "interrupted"]
    assert hosts["fleet-07"]["data"]["tasks"][0]["status"] == "changed"  # batch 1 finished: kept
    assert hosts["fleet-09"]["error"]["message"] == "interrupted before this host's batch started"
    assert doc["summary"]["run_interrupted"] is True
    left = subprocess.run(["pgrep", "-f", f"^sleep {marker}$"], capture_output=True, text=True).stdout.split()
    assert left == []  # the remote command was stopped
