"""One command on one SSH session channel: the wire command line, stdin, output, exit code, deadline.

Killing on timeout. Closing a channel does NOT stop an OpenSSH command that has no pty (it keeps
running, orphaned), and sshd refuses the RFC 4254 "signal" request for root logins ("session
signalling requires privilege separation"). So the wire command runs the user's command under the
host's `timeout -s KILL` (coreutils/busybox; it kills its whole process group) set just past our
deadline, and we also send a "signal KILL" request (honoured for non-root logins) before closing.
Hosts without `timeout` run the command plainly. A plain command line (words of safe characters
naming a program, e.g. the probe's `sh -s`) goes to `timeout` as argv without an `sh -c` level:
dash keeps `sh -c` alive as an extra process around its last command.
"""

from __future__ import annotations

import re
import select
import shlex
import threading
import time

import paramiko  # type: ignore[import-untyped]
from paramiko.common import cMSG_CHANNEL_REQUEST  # type: ignore[import-untyped]

CHUNK = 1 << 20
REMOTE_GRACE_S = 0.1  # the remote kill fires this long after our own deadline, so ours always wins
_PLAIN_WORD = re.compile(r"[A-Za-z0-9_@%+,./:=-]+")
# A whole line of words as shlex.join() writes them: plain words or single-quoted ones ('it'"'"'s').
# The shell reads such a line exactly as shlex does, so it can go to `set --` without an `sh -c` level.
_QUOTED_WORD = r"""(?:[A-Za-z0-9_@%+,./:=-]+|'[^']*'(?:"'"'[^']*')*)+"""
_ARGV_LINE = re.compile(rf"{_QUOTED_WORD}(?: {_QUOTED_WORD})*")
# Words a shell runs itself (reserved words, builtins without a program of the same name).
_SHELL_ONLY = frozenset(
    "! { } [[ ]] case do done elif else esac fi for function if in select then time until while "
    ". : alias bg break builtin cd command continue declare eval exec exit export fc fg getopts hash jobs "
    "let local read readonly return set shift source times trap type typeset ulimit umask unalias unset wait"
    .split()
)


class Expired(Exception):
    """The command's deadline passed."""


def wire_command(command: str, seconds: float, *, become: bool = False, with_password: bool = False) -> str:
    """The POSIX sh line sent to the login shell for `command`: `sh -c` under a remote kill timer,
    through sudo for `become`. A sudo password comes first on stdin; the shell drops that line itself
    when sudo needs none, so it never reaches the command. The command appears once, shell-quoted.
    """
    parts = [
        f"set -- {_argv(command)}",
        f'command -v timeout >/dev/null 2>&1 && set -- timeout -s KILL {seconds + REMOTE_GRACE_S:.2f} "$@"',
    ]
    if not become:
        parts.append('exec "$@"')
    elif not with_password:
        parts.append('exec sudo -n -H -- "$@"')
    else:
        parts.append('if sudo -n true 2>/dev/null; then IFS= read -r _ || :; exec sudo -n -H -- "$@"; fi')
        parts.append("exec sudo -S -p '' -H -- \"$@\"")
    return "; ".join(parts)


def _argv(command: str) -> str:
    """`command` itself when it is words naming a program (plain or quoted as shlex.join quotes them: it
    runs without a shell level), else `sh -c COMMAND`."""
    first = command.split(" ", 1)[0]
    if _ARGV_LINE.fullmatch(command) and _PLAIN_WORD.fullmatch(first) and first not in _SHELL_ONLY and "=" not in first:
        return command
    return f"sh -c {shlex.quote(command)}"


class ChannelCommand:
    """Feeds stdin (in a thread when it exceeds the send window) while reading stdout and stderr
    together in large chunks; waits by select() on the channel's event pipe, never by sleeping."""

    def __init__(self, chan: paramiko.Channel, end: float) -> None:
        self.chan = chan
        self.end = end

    def run(self, wire: str, data: bytes | None) -> tuple[int | None, bytes, bytes]:
        """(exit code or None if the connection died, stdout, stderr); raises Expired past the deadline."""
        chan = self.chan
        watchdog = threading.Timer(max(self.end - time.monotonic(), 0), chan.close)  # exec's reply wait is unbounded
        watchdog.start()
        try:
            chan.exec_command(wire)
        except (paramiko.SSHException, EOFError, OSError):
            if time.monotonic() >= self.end:
                raise Expired() from None
            return None, b"", b""
        finally:
            watchdog.cancel()
        self._feed(data)
        out, err = self._drain()
        if not chan.status_event.wait(max(self.end - time.monotonic(), 0)):
            raise Expired()
        lost = chan.exit_status == -1 and not chan.get_transport().is_active()
        return (None if lost else chan.exit_status), out, err

    def _feed(self, data: bytes | None) -> None:
        if data and len(data) > self.chan.out_window_size:
            threading.Thread(target=self._send, args=(data,), daemon=True, name="rmmctl-ssh-stdin").start()
        else:
            self._send(data)

    def _send(self, data: bytes | None) -> None:
        try:
            if data:
                self.chan.sendall(data)
            self.chan.shutdown_write()
        except (OSError, paramiko.SSHException, EOFError):
            pass  # the command ended without reading all of its stdin

    def _drain(self) -> tuple[bytes, bytes]:
        chan, out, err = self.chan, bytearray(), bytearray()
        fd = chan.fileno()
        while True:
            idle = True
            if chan.recv_ready():
                out += chan.recv(CHUNK)
                idle = False
            if chan.recv_stderr_ready():
                err += chan.recv_stderr(CHUNK)
                idle = False
            if idle:
                if chan.eof_received or chan.closed:
                    return bytes(out), bytes(err)
                remaining = self.end - time.monotonic()
                if remaining <= 0:
                    raise Expired()
                select.select([fd], [], [], remaining)


def kill(chan: paramiko.Channel) -> None:
    """Ask sshd to SIGKILL the command's process group (RFC 4254 "signal"), best effort."""
    transport = chan.get_transport()
    if chan.closed or transport is None or not transport.is_active():
        return
    m = paramiko.Message()
    m.add_byte(cMSG_CHANNEL_REQUEST)
    m.add_int(chan.remote_chanid)
    m.add_string("signal")
    m.add_boolean(False)
    m.add_string("KILL")
    try:
        transport._send_user_message(m)
    except (OSError, paramiko.SSHException, EOFError):
        pass
