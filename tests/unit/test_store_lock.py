"""A4: `lock(name)`, the primitive cron locking will use, tested across real processes.

Two processes contend for one name; a waiter gets it when the holder lets go; a holder killed with SIGKILL
leaves nothing behind that blocks the next one.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import rmmctl
from rmmctl.store import LockHeld, open_store

SRC = Path(rmmctl.__file__).parent.parent

# argv: db, name, wait seconds. Prints "held <pid>" when it has the lock, then releases it on a line on
# stdin (or holds it until killed); "busy <message>" and exit 7 when another process has it.
LOCKER = textwrap.dedent("""
    import os, sys
    from rmmctl.store import LockHeld, open_store
    db, name, wait = sys.argv[1], sys.argv[2], float(sys.argv[3])
    with open_store(db) as s:
        print("trying", flush=True)
        try:
            with s.lock(name, wait=wait) as info:
                print("held", info.pid, flush=True)
                sys.stdin.readline()
        except LockHeld as exc:
            print("busy", exc, flush=True)
            sys.exit(7)
    print("released", flush=True)
""")


def _locker(db: Path, name: str = "cron:status acme", wait: float = 0.0) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", LOCKER, str(db), name, str(wait)], text=True,
                            env={**os.environ, "PYTHONPATH": str(SRC)}, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _line(proc: subprocess.Popen[str]) -> str:
    line = proc.stdout.readline()  # type: ignore[union-attr]
    assert line, f"locker exited {proc.wait()} without a word: {proc.stderr.read()}"  # type: ignore[union-attr]
    return line.strip()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    db = tmp_path / "h.db"
    open_store(db).close()
    return db


def test_a_second_process_is_refused_naming_the_holder_and_a_waiter_gets_it_on_release(db: Path) -> None:
    holder = _locker(db)
    procs = [holder]
    try:
        assert _line(holder) == "trying"
        assert _line(holder) == f"held {holder.pid}"
        refused = _locker(db)
        out, err = refused.communicate(timeout=60)
        assert refused.returncode == 7, err
        assert f"busy lock 'cron:status acme' is held by pid {holder.pid} on " in out
        waiter = _locker(db, wait=60)
        procs.append(waiter)
        assert _line(waiter) == "trying"
        holder.stdin.write("\n")  # type: ignore[union-attr]
        holder.stdin.flush()  # type: ignore[union-attr]
        assert _line(holder) == "released"
        assert holder.wait(timeout=60) == 0  # before the clean-up below: "released" comes just before its exit
        assert _line(waiter) == f"held {waiter.pid}"  # it waited, and got the lock once the holder let go
        waiter.communicate("\n", timeout=60)
        assert waiter.returncode == 0
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()


def test_the_lock_of_a_killed_holder_is_taken_over_at_once(db: Path) -> None:
    holder = _locker(db)
    assert _line(holder) == "trying" and _line(holder) == f"held {holder.pid}"
    with open_store(db) as s:  # the holder is killed inside: nothing left running to clean up
        with pytest.raises(LockHeld, match=f"pid {holder.pid}"):
            with s.lock("cron:status acme"):
                pass
        holder.send_signal(signal.SIGKILL)  # no release, no clean-up code runs
        assert holder.wait(timeout=60) == -signal.SIGKILL
        started = time.monotonic()
        with s.lock("cron:status acme") as info:
            assert info.pid == os.getpid()
        assert time.monotonic() - started < 1


def test_other_names_are_independent_and_the_wait_is_bounded(db: Path) -> None:
    holder = _locker(db, name="a/../b")  # any text is a name; it never escapes the lock directory
    try:
        assert _line(holder) == "trying" and _line(holder).startswith("held")
        with open_store(db) as s:
            with s.lock("another"):
                pass
            started = time.monotonic()
            with pytest.raises(LockHeld, match=r"waited 0\.[34]") as info:
                with s.lock("a/../b", wait=0.3):
                    pass
            assert 0.3 <= time.monotonic() - started < 2
            assert info.value.holder.pid == holder.pid and "\n" not in str(info.value)
            with pytest.raises(ValueError):
                with s.lock("x", wait=float("nan")):
                    pass
    finally:
        holder.communicate("\n", timeout=60)
    assert sorted(p.name for p in (db.parent / "h.db.locks").iterdir()) == ["a%2F..%2Fb.lock", "another.lock"]


def test_a_lock_is_not_reentrant_and_is_free_after_the_block(db: Path) -> None:
    with open_store(db) as s, open_store(db) as other:
        with s.lock("job") as info:
            assert (db.parent / "h.db.locks" / "job.lock").read_text().startswith('{"pid": %d' % os.getpid())
            with pytest.raises(LockHeld, match=f"pid {os.getpid()}"):
                with other.lock("job"):
                    pass
            assert info.name == "job"
        assert (db.parent / "h.db.locks" / "job.lock").read_text() == ""  # no stale holder written
        with other.lock("job"):
            pass


def test_a_holder_that_has_the_lock_but_not_yet_its_line_is_still_named(db: Path) -> None:
    """The holder takes the flock, then writes its pid, machine and start: a second process trying in
    between looks again (briefly) instead of saying "held by another process" with no name."""
    import fcntl
    import json
    import threading

    with open_store(db) as s:
        with s.lock("job"):  # creates the lock directory and file
            pass
        path = db.parent / "h.db.locks" / "job.lock"
        fd = os.open(path, os.O_RDWR)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a holder between its flock and its line

        def write_line() -> None:
            time.sleep(0.15)
            os.pwrite(fd, json.dumps({"pid": 4242, "host": "cron-box", "since": 1_780_000_000.0}).encode(), 0)

        writer = threading.Thread(target=write_line)
        writer.start()
        try:
            with pytest.raises(LockHeld) as caught:
                with s.lock("job"):
                    pass
        finally:
            writer.join()
            os.close(fd)
        assert caught.value.holder.pid == 4242 and caught.value.holder.host == "cron-box", str(caught.value)
