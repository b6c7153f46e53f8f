"""The remote kill of a connection's sessions never acts outside an sshd: under any other parent (PID 1
when the sshd left before the shell started: then every child of init would be a "sibling") it kills nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import time

from rmmctl.transports.ssh.exec import STOP_SESSIONS


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_under_a_parent_that_is_not_sshd_nothing_is_killed() -> None:
    # sh starts a sibling in its own session (as sshd starts each session), then runs the kill script as
    # its child: the script's parent is that sh, not an sshd, so the sibling must survive.
    proc = subprocess.run(
        ["sh", "-c", 'setsid sleep 30 </dev/null >/dev/null 2>&1 & echo "$!"; sh -c "$1"; echo "rc=$?"', "sh",
         STOP_SESSIONS],
        capture_output=True, text=True, timeout=20, start_new_session=True,
    )
    lines = proc.stdout.split()
    sibling = int(lines[0])
    try:
        time.sleep(0.05)  # what a kill would have done is done by now (the script has exited)
        assert _alive(sibling), "the sibling of a non-sshd parent was killed"
        assert lines[-1] == "rc=0" and len(lines) == 2  # it names no group it killed
    finally:
        os.kill(sibling, signal.SIGKILL)

