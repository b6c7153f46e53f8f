"""Run the rmmctl CLI with some per-host costs removed by monkeypatching, to price a suggested fix.

    python benchmarks/ablate.py keys,sshconfig,knownhosts -- run all -i INV -o json -- uname -a

Nothing in src/ changes; this only shows what a change there would buy. Features:
  keys        load each key file once per process, not once per host (PKey.from_path memoized)
  sshconfig   parse ~/.ssh/config once, and resolve getuser()/gethostname() once (paramiko's
              SSHConfig.lookup calls both for every host, even with no config file)
  knownhosts  read known_hosts once per process, without a stat() per file per host
  fastexit    flush stdout/stderr and os._exit() when main() ends, skipping interpreter teardown
              (module and thread cleanup: ~50-100 ms measured after a 20-100 host run)
  plaincmd    send the bare command, without the remote `timeout -s KILL` wrapper (prices the wrapper;
              not a suggested change: the wrapper is what kills a command past its deadline)

Under 50 busy threads every blocking call releases the GIL and waits up to the 5 ms switch
interval to get it back, so a few extra stat()/open()/getpwuid() calls per host cost wall time.
"""

from __future__ import annotations

import functools
import sys
from typing import Any


def patch_keys() -> None:
    """Memoize paramiko.PKey.from_path by (path, passphrase)."""
    import paramiko

    original = paramiko.PKey.from_path  # a staticmethod in paramiko 5
    cache: dict[tuple[str, Any], Any] = {}

    def from_path(path: Any, password: Any = None) -> Any:
        key = (str(path), password)
        if key not in cache:
            cache[key] = original(path, password)
        return cache[key]

    paramiko.PKey.from_path = staticmethod(from_path)


def patch_sshconfig() -> None:
    """Parse the ssh config once; getuser/gethostname once."""
    import getpass
    import socket

    from rmmctl.transports.ssh import config as sshconfig
    from rmmctl.transports.ssh import connection as ssh

    getpass.getuser = functools.lru_cache(maxsize=None)(getpass.getuser)
    socket.gethostname = functools.lru_cache(maxsize=None)(socket.gethostname)
    cached = functools.lru_cache(maxsize=None)(sshconfig.load_ssh_config)
    sshconfig.load_ssh_config = cached
    ssh.load_ssh_config = cached


def patch_knownhosts() -> None:
    """Parse each known_hosts file once per process, with no stat() per host."""
    from rmmctl.transports.ssh import known_hosts as hostkeys

    hostkeys._file_entries = functools.lru_cache(maxsize=None)(hostkeys._file_entries)


def patch_plaincmd() -> None:
    """Send the command as it is (no remote timeout wrapper)."""
    from rmmctl.transports.ssh import connection as ssh

    ssh.wire_command = lambda command, seconds, **kw: command


PATCHES = {"keys": patch_keys, "sshconfig": patch_sshconfig, "knownhosts": patch_knownhosts,
           "plaincmd": patch_plaincmd, "fastexit": lambda: None}


def _fast_exit(code: object) -> None:
    """What a CLI can do once its output is written: skip interpreter teardown."""
    import logging
    import os

    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code if isinstance(code, int) else (0 if code is None else 1))


def main() -> None:
    """Apply the named patches, then run the rmmctl CLI with the remaining arguments."""
    features, *rest = sys.argv[1:]
    if rest[:1] == ["--"]:
        rest = rest[1:]
    import rmmctl.cli

    for name in filter(None, features.split(",")):
        PATCHES[name]()
    sys.argv = ["rmmctl", *rest]
    if "fastexit" not in features.split(","):
        rmmctl.cli.main()
        return
    try:
        rmmctl.cli.main()
    except SystemExit as exc:
        _fast_exit(exc.code)
    _fast_exit(0)


if __name__ == "__main__":
    main()
