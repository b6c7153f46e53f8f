"""Runs that end early or cannot write, as cron, systemd, `timeout`, `| head` and a full disk make them end:
a real `rmmctl` process against the real sshd fleet, real signals, real pipes, /dev/full, and a real second
SQLite connection holding the history's write lock."""

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

from fleet import Fleet

RMMCTL = [sys.executable, "-m", "rmmctl"]


def gated(go: Path, fast: str = "fleet-01", gated_host: str = "fleet-02") -> str:
    """A shell line: `fast` answers at once, `gated_host` when the file `go` appears, any other host sleeps 30 s."""
    return (f'case $(hostname) in {fast}) echo quick;; '
            f'{gated_host}) while [ ! -e {go} ]; do sleep 0.02; done; echo gated;; *) sleep 30;; esac')


def start(args: list[str], env: dict[str, str], **kw: Any) -> subprocess.Popen[str]:
    kw.setdefault("stdout", subprocess.PIPE)
    return subprocess.Popen([*RMMCTL, *args], stderr=subprocess.PIPE, env={**os.environ, **env}, text=True, **kw)


def query(db: Path, sql: str) -> list[tuple[Any, ...]]:
    con = sqlite3.connect(db, timeout=5)
    try:
        return con.execute(sql).fetchall()
    except sqlite3.OperationalError:  # no schema yet
        return []
    finally:
        con.close()


def wait_for(db: Path, sql: str, timeout: float = 15.0) -> None:
    """Until the history shows what `sql` counts (readiness, not a fixed sleep)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = query(db, sql) if db.exists() else []
        if rows and rows[0][0]:
            return
        time.sleep(0.02)
    raise AssertionError(f"history never showed: {sql}")


def history(db: Path) -> tuple[list[tuple[Any, ...]], dict[str, str]]:
    runs = query(db, "SELECT status, exit_code FROM runs")
    hosts = dict(query(db, "SELECT host, status FROM host_results"))
    return runs, hosts


@pytest.mark.parametrize("fmt", ["json", "ndjson"])
def test_sigterm_prints_and_records_what_finished_and_exits_143(fleet: Fleet, env: dict[str, str],
                                                                tmp_path: Path, fmt: str) -> None:
    inv = fleet.write_inventory(tmp_path / "inv.yaml", [1, 2])
    db = Path(env["RMMCTL_DB"])
    proc = start(["run", "all", "-i", str(inv), "-o", fmt, "--shell", gated(tmp_path / "never")], env)
    wait_for(db, "SELECT count(*) FROM host_results WHERE host = 'fleet-01'")  # fleet-02 is still running
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=15)
    assert proc.returncode == 143, err
    assert time.monotonic() - started < 5  # the remote loop was not waited for
    if fmt == "json":
        doc = json.loads(out)
        hosts, summary = {h["name"]: h for h in doc["hosts"]}, doc["summary"]
    else:
        lines = [json.loads(x) for x in out.splitlines()]
        assert [x["type"] for x in lines] == ["host", "host", "summary"]
        hosts, summary = {x["name"]: x for x in lines[:-1]}, lines[-1]["summary"]
    assert hosts["fleet-01"]["status"] == "ok" and hosts["fleet-01"]["data"]["stdout"] == "quick\n"
    assert hosts["fleet-02"]["status"] == "interrupted"
    assert summary["exit_code"] == 143 and summary["run_interrupted"] is True
    assert history(db) == ([("interrupted", 143)], {"fleet-01": "ok", "fleet-02": "interrupted"})
    assert "Traceback" not in err


def _closed_pipe() -> int:
    """The write end of a pipe whose reader is already gone."""
    read, write = os.pipe()
    os.close(read)
    return write


@pytest.mark.parametrize("fmt", ["table", "json", "ndjson", "yaml", "csv"])
def test_output_into_a_closed_pipe_exits_141_quietly(fleet: Fleet, env: dict[str, str], tmp_path: Path,
                                                    fmt: str) -> None:
    inv = fleet.write_inventory(tmp_path / "inv.yaml", [1, 2])
    write = _closed_pipe()
    proc = start(["ping", "-i", str(inv), "-o", fmt], env, stdout=write)
    os.close(write)
    _, err = proc.communicate(timeout=30)
    assert (proc.returncode, err) == (141, "")
    runs, hosts = history(Path(env["RMMCTL_DB"]))
    assert runs[0][0] in ("finished", "interrupted") and set(hosts) == {"fleet-01", "fleet-02"}  # recorded


def test_ndjson_reader_leaving_mid_run_stops_it_and_the_run_is_recorded(fleet: Fleet, env: dict[str, str],
                                                                      tmp_path: Path) -> None:
    """`rmmctl run -o ndjson ... | head -1`: the next host line finds the pipe closed; the run stops as on
    Ctrl-C, exits 141 with nothing on stderr, and the history has it as interrupted (not left 'crashed')."""
    inv = fleet.write_inventory(tmp_path / "inv.yaml", [1, 2, 3])
    go = tmp_path / "go"
    proc = start(["run", "all", "-i", str(inv), "-o", "ndjson", "--shell", gated(go)], env)
    assert proc.stdout is not None
    first = json.loads(proc.stdout.readline())
    assert (first["name"], first["status"]) == ("fleet-01", "ok")
    proc.stdout.close()  # the reader leaves, like head -1
    started = time.monotonic()
    go.touch()  # fleet-02 answers now: its line meets the closed pipe; fleet-03 would sleep 30 s
    err = proc.stderr.read() if proc.stderr else ""
    proc.wait(timeout=15)
    assert (proc.returncode, err) == (141, "")
    assert time.monotonic() - started < 5
    runs, hosts = history(Path(env["RMMCTL_DB"]))
    assert runs == [("interrupted", 141)]
    assert hosts == {"fleet-01": "ok", "fleet-02": "ok", "fleet-03": "interrupted"}


@pytest.mark.parametrize("fmt", ["table", "json", "yaml", "csv"])
def test_a_full_disk_on_stdout_is_exit_9_one_line(fleet: Fleet, env: dict[str, str], tmp_path: Path,
                                                  fmt: str) -> None:
    inv = fleet.write_inventory(tmp_path / "inv.yaml", [1])
    with open("/dev/full", "w") as full:
        proc = start(["ping", "-i", str(inv), "-o", fmt], env, stdout=full)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 9, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "stdout" in lines[0] and "No space left on device" in lines[0], err
    assert "internal error" not in err


def test_ndjson_on_a_full_disk_stops_the_run_exit_9_recorded(fleet: Fleet, env: dict[str, str],
                                                            tmp_path: Path) -> None:
    inv = fleet.write_inventory(tmp_path / "inv.yaml", [1, 2])
    with open("/dev/full", "w") as full:
        proc = start(["run", "all", "-i", str(inv), "-o", "ndjson", "--shell", gated(tmp_path / "never")], env,
                     stdout=full)
        _, err = proc.communicate(timeout=15)  # fleet-02 would wait forever: the failed write stops the run
    assert proc.returncode == 9, err
    assert len(err.strip().splitlines()) == 1 and "stdout" in err
    runs, hosts = history(Path(env["RMMCTL_DB"]))
    assert runs == [("interrupted", 9)] and hosts == {"fleet-01": "ok", "fleet-02": "interrupted"}


@pytest.mark.parametrize("fmt", ["json", "ndjson"])
def test_history_locked_mid_run_results_still_printed_exit_8(fleet: Fleet, env: dict[str, str], tmp_path: Path,
                                                             fmt: str) -> None:
    """Another process holds the history's write lock from just after the run row is written to the end:
    every host is still printed, stderr says once that the run was not stored, exit 8."""
    inv = fleet.write_inventory(tmp_path / "inv.yaml", [1, 2])
    db, go = Path(env["RMMCTL_DB"]), tmp_path / "go"
    every_host_waits = f"while [ ! -e {go} ]; do sleep 0.02; done; hostname"
    # a short busy wait (the store URL's ?timeout=) keeps the test fast; the default is 10 s
    proc = start(["run", "all", "-i", str(inv), "-o", fmt, "--db", f"sqlite:///{db}?timeout=0.5", "--shell",
                  every_host_waits], env)
    wait_for(db, "SELECT count(*) FROM runs")
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        go.touch()  # the hosts answer only now, with the lock held: no result can be written
        out, err = proc.communicate(timeout=60)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert proc.returncode == 8, err
    if fmt == "json":
        doc = json.loads(out)
        hosts, summary = doc["hosts"], doc["summary"]
    else:
        lines = [json.loads(x) for x in out.splitlines()]
        hosts, summary = lines[:-1], lines[-1]["summary"]
    assert sorted((h["name"], h["status"]) for h in hosts) == [("fleet-01", "ok"), ("fleet-02", "ok")]
    assert summary["exit_code"] == 8
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "history: could not record run" in lines[0] and "results printed, not stored" in lines[0]
    assert "locked" in lines[0]
