"""`lock(name)` of the SQLite store (a mixin of SQLiteStore): an exclusive flock on a file beside the
database, held for a `with` block, the holder's pid, machine and start written in it (docs/cron.md)."""

from __future__ import annotations

import fcntl
import json
import math
import os
import time
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from rmmctl.errors import StoreError
from rmmctl.store import LockHeld, LockInfo


class LockMixin:
    """Needs `path` (the database file), `_runner` (this machine's name) and `_clock` from the store."""

    path: Path
    _runner: str
    _clock: Callable[[], float]

    @contextmanager
    def lock(self, name: str, *, wait: float = 0.0) -> Iterator[LockInfo]:
        """Hold the named lock (an exclusive flock on `<db>.locks/<name>.lock`) for the `with` block.

        Tried at once, then again with back-off for up to `wait` seconds; LockHeld (naming the holder's pid,
        machine and start) if it stays held. Not re-entrant: a second `lock(name)` in the same process is
        refused like any other holder. The kernel releases it if this process dies.
        """
        if not isinstance(name, str) or not name or len(name) > 200:
            raise ValueError("a lock name is 1 to 200 characters")
        if not (isinstance(wait, (int, float)) and math.isfinite(wait) and wait >= 0):
            raise ValueError(f"lock wait must be finite seconds >= 0, not {wait!r}")
        path = self.path.parent / f"{self.path.name}.locks" / f"{urllib.parse.quote(name, safe='')}.lock"
        try:
            path.parent.mkdir(mode=0o700, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise StoreError(f"cannot create the lock file {path}: {exc.strerror or exc}; "
                             "point --db/RMMCTL_DB at a writable place") from None
        try:
            started, pause, looks = time.monotonic(), 0.01, 0
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    waited = time.monotonic() - started
                    if waited >= wait:
                        holder = _lock_holder(fd, name)
                        if holder.pid is None and looks < HOLDER_LOOKS:  # it has the lock, not yet its line
                            looks += 1
                            time.sleep(0.01)
                            continue  # and try the lock again: it may be free by now
                        raise LockHeld(holder, round(waited, 2) if wait else 0.0) from None
                    time.sleep(min(pause, wait - waited))
                    pause = min(pause * 2, 0.1)
            info = LockInfo(name, os.getpid(), self._runner, self._clock())
            line = json.dumps({"pid": info.pid, "host": info.host, "since": info.since}).encode()
            os.pwrite(fd, line, 0)  # then cut to its length: never an empty file between two holders' lines
            os.ftruncate(fd, len(line))
            try:
                yield info
            finally:
                os.ftruncate(fd, 0)  # no stale holder for the next reader; the lock goes with the close
        finally:
            os.close(fd)


HOLDER_LOOKS = 50  # a lock held but its holder's line not written yet: look again, 10 ms apart, this often


def _lock_holder(fd: int, name: str) -> LockInfo:
    """What the holder wrote into the lock file (pid, machine, since); blanks if it is being rewritten."""
    try:
        info = json.loads(os.pread(fd, 4096, 0) or b"{}")
        return LockInfo(name, int(info["pid"]), str(info["host"]), float(info["since"]))
    except (OSError, ValueError, KeyError, TypeError):
        return LockInfo(name, None, None, None)
