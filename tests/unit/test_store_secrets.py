"""C4: no secret is ever written unredacted to the history database, even by a run that never finishes.

A real `rmmctl run` process on two local hosts: one finishes, one hangs. While it hangs, `history runs`
must show no secret; then the run is killed with SIGKILL and every byte of the database files is
searched. The secrets: the value of the host's password_env variable typed on the command line (the
Redactor only learns it at connect time, which a local host never does), and a `--password=` value.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import rmmctl
from rmmctl.secrets import REDACTED, Redactor, mask_argv

SRC = Path(rmmctl.__file__).parent.parent
ENV_SECRET = "Env-S3cret-value"
FLAG_SECRET = "Flag-S3cret-value"
INVENTORY = """\
version: 1
hosts:
  box-a: {address: localhost, connection: local, password_env: RMM_TEST_PW}
  box-b: {address: localhost, connection: local, password_env: RMM_TEST_PW}
"""


def _env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(SRC), "RMM_TEST_PW": ENV_SECRET, "HOME": str(tmp_path),
            "RMMCTL_DB": str(tmp_path / "db" / "h.db")}


def _wait_for(check, what: str, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    """Poll a readiness condition (no fixed sleep); fail at once if the run died."""
    deadline = time.monotonic() + timeout
    while not check():
        assert proc.poll() is None, f"rmmctl exited {proc.returncode} before {what}: {proc.stderr.read()!r}"  # type: ignore[union-attr]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def _finished_hosts(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM host_results").fetchone()[0])
    except sqlite3.Error:  # not created yet
        return 0


def test_a_killed_run_leaves_no_secret_in_the_database_and_history_shows_none_meanwhile(tmp_path: Path) -> None:
    (tmp_path / "inv.yaml").write_text(INVENTORY)
    env, db, ready = _env(tmp_path), tmp_path / "db" / "h.db", tmp_path / "slow.pid"
    # the first host to make the directory finishes at once (printing both secrets); the other hangs
    line = (f"if mkdir {tmp_path}/first 2>/dev/null; then echo {ENV_SECRET} {FLAG_SECRET}; exit 0; fi; "
            f": --password={FLAG_SECRET}; echo $$ > {ready}; exec sleep 60")
    run = subprocess.Popen([sys.executable, "-m", "rmmctl", "run", "all", "-i", str(tmp_path / "inv.yaml"),
                            "-f", "2", "--shell", f"true {ENV_SECRET}; {line}"],
                           env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        _wait_for(lambda: ready.exists() and ready.read_text().strip() and _finished_hosts(db) == 1,
                  "one host finished and one hanging", run)
        shown = subprocess.run([sys.executable, "-m", "rmmctl", "history", "runs", "-o", "json"], env=env,
                               capture_output=True, text=True, timeout=60)
        assert shown.returncode == 0, shown.stderr
        [row] = json.loads(shown.stdout)["runs"]
        assert row["status"] == "running"
        assert ENV_SECRET not in shown.stdout and FLAG_SECRET not in shown.stdout
        assert f"--password={REDACTED}" in " ".join(row["argv"])
        table = subprocess.run([sys.executable, "-m", "rmmctl", "history", "runs"], env={**env, "COLUMNS": "400"},
                               capture_output=True, text=True, timeout=60)
        assert table.returncode == 0 and "run" in table.stdout
        assert ENV_SECRET not in table.stdout and FLAG_SECRET not in table.stdout
        os.killpg(run.pid, signal.SIGKILL)  # no finish_run: whatever is in the database stays as it is
        run.wait(timeout=30)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait(timeout=30)
        if ready.exists() and ready.read_text().strip():
            try:
                os.kill(int(ready.read_text()), signal.SIGKILL)  # the hanging host's command, if it outlived rmmctl
            except ProcessLookupError:
                pass
    assert run.returncode == -signal.SIGKILL
    files = sorted(db.parent.iterdir())
    assert db in files
    for path in files:  # every byte of the database, its WAL and shared memory
        if path.is_file():
            raw = path.read_bytes()
            assert ENV_SECRET.encode() not in raw and FLAG_SECRET.encode() not in raw, path
    with sqlite3.connect(db) as conn:
        dump = "\n".join(conn.iterdump())
        assert dump.count(REDACTED) >= 4  # argv (both), the finished host's command, stdout, audit
        assert conn.execute("SELECT COUNT(*) FROM audit").fetchone()[0] >= 1


def test_argv_masking_keeps_the_command_readable() -> None:
    redactor = Redactor()
    masked = mask_argv(["run", "all", "--", "mysql", "-uroot", "-phunter2-x", "--password", "pw-two-x", "-e",
                        "DB_TOKEN=tok-three-x", "-e", "select 1", "--password-file", "/etc/pw",
                        "curl https://bob:pw-four-x@example.com/ -H 'Authorization: Bearer tok-five-x'",
                        "PGPASSWORD=pw-six-x psql", "--db", "sqlite:///x.db"], redactor)
    assert masked == ["run", "all", "--", "mysql", "-uroot", f"-p{REDACTED}", "--password", REDACTED, "-e",
                      f"DB_TOKEN={REDACTED}", "-e", "select 1", "--password-file", "/etc/pw",
                      f"curl https://bob:{REDACTED}@example.com/ -H 'Authorization: Bearer {REDACTED}'",
                      f"PGPASSWORD={REDACTED} psql", "--db", "sqlite:///x.db"]
    # what was masked is learnt: the same value in a host's output is redacted too
    assert redactor("out: hunter2-x pw-two-x tok-three-x pw-four-x tok-five-x pw-six-x") == "out: " + " ".join(
        [REDACTED] * 6)


def test_masking_is_linear_in_the_length_of_a_command_line() -> None:
    from rmmctl.secrets import mask_text

    # each would take minutes with a backtracking pattern (quadratic in 200 KB); linear is milliseconds
    for text in ("A" * 200_000, "password" * 25_000, "http://a:" * 22_000, "mysql " * 33_000, "-e " * 66_000,
                 "--password " * 18_000, "x-" * 100_000):
        started = time.monotonic()
        mask_text(text)
        assert time.monotonic() - started < 3, text[:20]
