"""`--lock [NAME]` / `--lock-wait SECONDS`: one run at a time per lock name, for cron (docs/cron.md).

The lock is the history store's (`HistoryStore.lock`, store/sqlite.py: an flock the kernel drops when the
holder dies, so a crashed or killed run never leaves a stale lock). A run that finds it held raises
LockHeld; the CLI turns it into one line naming the holder and exit 75 (EX_TEMPFAIL, cli/__init__.py).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from rmmctl.cli.options import Common
from rmmctl.cli.output import setup_logging
from rmmctl.secrets import Redactor
from rmmctl.store import LockHeld, open_store

log = logging.getLogger("rmmctl.lock")
NAME_MAX = 200  # the store's limit on a lock name


def default_name(command_path: str, inventory: Path | None, pattern: object, limit: str | None = None) -> str:
    """`status /etc/rmmctl/inventory.yaml all`: the command, the inventory's absolute path (`-` for this
    machine) and the pattern (and `-l`), so two different jobs never share a lock by accident."""
    command = command_path.split(" ", 1)[1] if " " in command_path else command_path
    where = str(inventory.expanduser().resolve()) if inventory is not None else "-"
    parts = [command, where, *([str(pattern)] if isinstance(pattern, str) else []),
             *([f"-l {limit}"] if limit else [])]
    name = " ".join(parts)
    if len(name) > NAME_MAX:  # a long path: keep the start readable, the end unique
        digest = hashlib.sha256(name.encode()).hexdigest()[:16]
        name = f"{name[:NAME_MAX - 18]}..{digest}"
    return name


@contextmanager
def held(opts: Common, command_path: str, pattern: object) -> Iterator[str]:
    """Hold the run's lock for the `with` block (LockHeld when another process has it)."""
    name = opts.lock or default_name(command_path, opts.inventory, pattern, opts.limit)
    setup_logging(opts, Redactor())  # the lock's lines reach -v and --log-file too (prepare() sets it again)
    with open_store(opts.db) as store, ExitStack() as stack:
        try:
            info = stack.enter_context(store.lock(name, wait=opts.lock_wait or 0.0))
        except LockHeld as held:
            log.info("%s: not run", held)  # for --log-file; the CLI says it on stderr and exits 75
            raise
        log.info("lock %r taken (pid %s)", name, info.pid)
        yield name
