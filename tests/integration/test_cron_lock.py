"""Issue 10 §4: `--lock` under real concurrent `python -m rmmctl` processes (2 and 5), `--lock-wait`, a holder
killed with SIGKILL (its lock taken over), a holder stopped with SIGTERM (the lock released), and `--quiet`.

The runs are `rmmctl run all --lock... -- sh -c ...` on this machine (the embedded default inventory). A
holder keeps the lock by running a command that waits for a file the test creates (a readiness gate, not a
sleep); the test knows it holds the lock when the store's own `lock()` says so (LockHeld).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

import rmmctl
from rmmctl.store import LockHeld, open_store

SRC = Path(rmmctl.__file__).parent.parent
DEADLINE_S = 60.0


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    home = tmp_path / "home"
    home.mkdir()
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "TMPDIR")}
    return {**keep, "HOME": str(home), "PYTHONPATH": str(SRC), "RMMCTL_DB": str(tmp_path / "h.db"),
            "COLUMNS": "160"}


def rmmctl_proc(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "rmmctl", *args], env=env, text=True, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)


def gated(gate: Path) -> list[str]:
    """The command of a holder: it runs until `gate` exists."""
    return ["sh", "-c", f"while [ ! -e {gate} ]; do sleep 0.02; done"]


def holder_of(env: dict[str, str], name: str) -> int | None:
    """The pid holding lock `name` now (asked through the store interface), or None when it is free."""
    with open_store(env["RMMCTL_DB"]) as store:
        try:
            with store.lock(name):
                return None
        except LockHeld as held:
            return held.holder.pid


def wait_until_held(env: dict[str, str], name: str, proc: subprocess.Popen[str]) -> int:
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"the holder exited {proc.returncode}: {proc.communicate()}"
        if (pid := holder_of(env, name)) is not None:
            return pid
        time.sleep(0.02)  # readiness poll
    pytest.fail(f"nobody took lock {name!r} within {DEADLINE_S} s")


def finish(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=DEADLINE_S)
    return proc.returncode, out, err


def assert_refused(result: tuple[int, str, str], name: str, pid: int) -> None:
    code, out, err = result
    assert code == 75, (code, out, err)
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err  # one line naming the holder
    assert lines[0].startswith(f"rmmctl: lock '{name}' is held by pid {pid} on {socket.gethostname()} since 20"), err
    assert "not run (exit 75" in lines[0]


def test_two_runs_the_second_exits_75_naming_the_holder_and_sigterm_releases_it(env: dict[str, str],
                                                                                 tmp_path: Path) -> None:
    name = "run - all"  # the default name: command, inventory (- for this machine), pattern
    holder = rmmctl_proc(env, "run", "all", "--lock", "--", *gated(tmp_path / "never"))
    try:
        assert wait_until_held(env, name, holder) == holder.pid
        assert_refused(finish(rmmctl_proc(env, "run", "all", "--lock", "--", "true")), name, holder.pid)
        # another name is another lock: it runs at once
        assert finish(rmmctl_proc(env, "run", "all", "--lock=other", "-q", "--", "true"))[0] == 0
        os.kill(holder.pid, signal.SIGTERM)
        code, _, err = finish(holder)
        assert code == 143, err
    finally:
        (tmp_path / "never").touch()  # the holder's remote command ends too
        if holder.poll() is None:
            holder.kill()
    assert holder_of(env, name) is None  # released on SIGTERM: the next run takes it at once
    assert finish(rmmctl_proc(env, "run", "all", "--lock", "-q", "--", "true")) == (0, "", "")


def test_five_at_once_exactly_one_runs_the_others_exit_75_naming_it(env: dict[str, str], tmp_path: Path) -> None:
    gate = tmp_path / "go"
    marks = tmp_path / "ran"
    command = ["sh", "-c", f"echo $PPID >> {marks}; while [ ! -e {gate} ]; do sleep 0.02; done"]
    procs = [rmmctl_proc(env, "run", "all", "--lock=nightly", "-q", "--", *command) for _ in range(5)]
    try:
        refused = []
        deadline = time.monotonic() + DEADLINE_S
        while len(refused) < 4 and time.monotonic() < deadline:  # the four losers exit on their own
            refused = [p for p in procs if p.poll() is not None]
            time.sleep(0.02)
        assert len(refused) == 4, [p.poll() for p in procs]
        (winner,) = [p for p in procs if p not in refused]
        assert holder_of(env, "nightly") == winner.pid
        for p in refused:
            assert_refused(finish(p), "nightly", winner.pid)
        gate.touch()
        assert finish(winner) == (0, "", "")
        assert len(marks.read_text().split()) == 1  # the command ran once
    finally:
        gate.touch()
        for p in procs:
            if p.poll() is None:
                p.kill()


def test_five_with_lock_wait_run_one_after_another(env: dict[str, str], tmp_path: Path) -> None:
    log = tmp_path / "order"
    command = ["sh", "-c", f"echo start >> {log}; sleep 0.1; echo end >> {log}"]  # a window for an overlap
    procs = [rmmctl_proc(env, "run", "all", "--lock=weekly", "--lock-wait", "60", "-q", "--", *command)
             for _ in range(5)]
    results = [finish(p) for p in procs]
    assert results == [(0, "", "")] * 5
    assert log.read_text().split() == ["start", "end"] * 5  # never two at once


def test_lock_wait_gives_up_after_its_seconds_naming_the_holder(env: dict[str, str], tmp_path: Path) -> None:
    holder = rmmctl_proc(env, "run", "all", "--lock=w", "--", *gated(tmp_path / "go"))
    try:
        wait_until_held(env, "w", holder)
        log = tmp_path / "log" / "cron.log"
        code, _, err = finish(rmmctl_proc(env, "run", "all", "--lock=w", "--lock-wait", "0.3", "--log-file", str(log),
                                          "--", "true"))
        assert code == 75
        assert f"is held by pid {holder.pid} on " in err and "(waited 0.3" in err
        assert f" INFO rmmctl.lock: lock 'w' is held by pid {holder.pid} on " in log.read_text()  # the log says so too
    finally:
        (tmp_path / "go").touch()
        finish(holder)


def test_a_holder_killed_with_sigkill_leaves_a_stale_lock_the_next_run_takes_over(env: dict[str, str],
                                                                                 tmp_path: Path) -> None:
    gate = tmp_path / "go"
    holder = rmmctl_proc(env, "run", "all", "--lock=stale", "--", *gated(gate))
    try:
        wait_until_held(env, "stale", holder)
        os.kill(holder.pid, signal.SIGKILL)
        assert holder.wait(timeout=DEADLINE_S) == -signal.SIGKILL
        lock_file = Path(env["RMMCTL_DB"] + ".locks") / "stale.lock"
        assert str(holder.pid) in lock_file.read_text()  # the dead holder's record is still there ...
        assert finish(rmmctl_proc(env, "run", "all", "--lock=stale", "-q", "--", "true")) == (0, "", "")  # ... taken over
    finally:
        gate.touch()  # the killed holder's sh loop ends


def test_quiet_says_nothing_on_success_and_only_the_summary_on_failure(env: dict[str, str]) -> None:
    assert finish(rmmctl_proc(env, "run", "all", "--quiet", "--", "echo", "hi")) == (0, "", "")
    code, out, err = finish(rmmctl_proc(env, "run", "all", "-q", "--", "false"))
    assert (code, out) == (5, "")
    lines = err.splitlines()
    assert lines[0] == "rmmctl: localhost: failed: rc=1"
    assert lines[1].startswith("rmmctl: run: 1 host: 1 failed in ") and lines[1].endswith(" s (exit 5)")
    assert len(lines) == 2
    code, out, _ = finish(rmmctl_proc(env, "run", "all", "-q", "-o", "json", "--", "true"))
    assert code == 0 and '"schema": "rmmctl/v1"' in out  # data asked for is still written


def test_lock_before_the_subcommand_and_on_any_command_is_one_lock_taken_by_the_leaf(env: dict[str, str],
                                                                                  tmp_path: Path) -> None:
    gate = tmp_path / "go"
    holder = rmmctl_proc(env, "--lock=shared", "run", "all", "--", *gated(gate))  # a common option, given first
    try:
        assert wait_until_held(env, "shared", holder) == holder.pid
        for args in (["inventory", "list", "--lock=shared"], ["--lock=shared", "history"],
                     ["history", "runs", "--lock-wait", "0", "--lock=shared"], ["schedule", "--lock=shared"]):
            assert_refused(finish(rmmctl_proc(env, *args)), "shared", holder.pid)
    finally:
        gate.touch()
    assert finish(holder)[0] == 0
    locks = sorted(p.name for p in Path(env["RMMCTL_DB"] + ".locks").iterdir())
    assert locks == ["shared.lock"]  # the groups above a command take none of their own
