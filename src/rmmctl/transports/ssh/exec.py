"""One command on one SSH session channel: the wire command line, stdin, output, exit code, deadline.

Killing on timeout. Closing a channel does NOT stop an OpenSSH command that has no pty (it keeps
running, orphaned), and sshd refuses the RFC 4254 "signal" request for root logins ("session
signalling requires privilege separation"). So the wire command runs the user's command under the
host's `timeout -s KILL` (coreutils/busybox; it kills its whole process group) set just past our
deadline, and we also send a "signal KILL" request (honoured for non-root logins) before closing.
Hosts without `timeout` run the command plainly. A plain command line (words of safe characters
naming a program, e.g. the probe's `sh -c SCRIPT`) goes to `timeout` as argv without another `sh -c` level:
dash keeps `sh -c` alive as an extra process around its last command.

Stopping on interrupt (Ctrl-C, SIGTERM): `stop_sessions` runs one more command on the same
connection that kills the process group of every other session of that connection: sshd forks each
session's shell as a session and group leader, and all of them are children of the connection's own
sshd process, which is the parent of the stopping command too. No PID is sent or stored while
commands run, so the normal path costs nothing. It reaches processes of the login user; with
`become` from a non-root login, the sudo'd command gets SIGTERM through sudo and otherwise ends by
the remote `timeout`.
"""

from __future__ import annotations

import re
import shlex
import threading
import time

import paramiko  # type: ignore[import-untyped]
from paramiko.common import cMSG_CHANNEL_REQUEST  # type: ignore[import-untyped]

from rmmctl.transports.base import Capped

CHUNK = 1 << 20
REMOTE_GRACE_S = 0.1  # the remote kill fires this long after our own deadline, so ours always wins
_PLAIN_WORD = re.compile(r"[A-Za-z0-9_@%+,./:=-]+")
# A line of words as shlex.join() writes them: plain runs, single-quoted runs, the "'" that shlex puts
# between them ('it'"'"'s'), and single spaces between words. The shell reads such a line exactly as shlex
# does, so it can go to `set --` without an `sh -c` level. Atomic groups and possessive quantifiers: the
# match never backtracks, so it is linear in the line (the probe's 7 KB line, every round of a watch).
_ARGV_LINE = re.compile(r"""(?:[A-Za-z0-9_@%+,./:=-]++|'[^']*+'|"'"| (?! |$))++""")
# Words a shell runs itself (reserved words, builtins without a program of the same name).
_SHELL_ONLY = frozenset(
    "! { } [[ ]] case do done elif else esac fi for function if in select then time until while "
    ". : alias bg break builtin cd command continue declare eval exec exit export fc fg getopts hash jobs "
    "let local read readonly return set shift source times trap type typeset ulimit umask unalias unset wait"
    .split()
)


# POSIX sh, builtins only: every sibling of this shell under the connection's sshd, TERM then KILL by group.
# Only ever under a live sshd: a shell whose sshd went away before it started (the client left at once)
# has PPID 1, and "every child of init" is the whole machine. So the parent must be an sshd process
# (sshd, or OpenSSH 9.8's sshd-session) other than PID 1, and still our parent just before the kills.
# Last, whatever is left in those shells' sessions (sshd makes each one a session leader, so its PID is
# the session id) is killed too: a `timeout` inside the command (the probe's `timeout 20 apt ...`) runs its
# command in a process group of its own, which the group kills miss.
STOP_SESSIONS = (
    'me=$$ pp=$PPID g=; [ "$pp" -gt 1 ] 2>/dev/null || exit 0; '
    'IFS= read -r c 2>/dev/null < "/proc/$pp/comm" || exit 0; case $c in sshd*) ;; *) exit 0;; esac; '
    'for s in /proc/[0-9]*/stat; do IFS= read -r l 2>/dev/null < "$s" || continue; '
    'set -- ${l##*) }; [ "$2" = "$pp" ] || continue; p=${s#/proc/}; p=${p%/stat}; '
    '[ "$p" = "$me" ] || g="$g $p"; done; '
    'IFS= read -r l 2>/dev/null < "/proc/$me/stat" || exit 0; set -- ${l##*) }; [ "$2" = "$pp" ] || exit 0; '
    'for p in $g; do kill -TERM -- "-$p" 2>/dev/null; done; '
    'for p in $g; do kill -KILL -- "-$p" 2>/dev/null; done; '
    'for s in /proc/[0-9]*/stat; do IFS= read -r l 2>/dev/null < "$s" || continue; set -- ${l##*) }; '
    'q=${s#/proc/}; for p in $g; do [ "$4" = "$p" ] && kill -KILL "${q%/stat}" 2>/dev/null; done; done; echo $g'
)


class Expired(Exception):
    """The command's deadline passed."""


class Refused(Exception):
    """The server refused the exec request (a forced command, a session limit, a policy)."""


# A shell started on a spare channel before its command is known (connection.py opens it while the
# previous command runs). It reads the command from stdin: a line with the number of lines, then the
# lines (the shell's `read` takes one byte at a time from a pipe, so nothing past them is consumed), and
# evaluates it in that same shell, the login shell sshd started, as `$SHELL -c COMMAND` would (no second
# shell to start; its own variables unset first), with the rest of stdin as the command's stdin. Why:
# OpenSSH opens a session's window only once its exec has started, so stdin sent with a fresh exec waits
# a round trip; on a warm channel the window is open and a command with stdin costs one round trip.
WARM_SHELL = (
    'IFS= read -r __rmm_n || exit 255; __rmm_s=; __rmm_i=0; '
    'while [ "$__rmm_i" -lt "$__rmm_n" ]; do IFS= read -r __rmm_l || exit 255; __rmm_s="$__rmm_s$__rmm_l\n"; '
    '__rmm_i=$((__rmm_i+1)); done; unset __rmm_n __rmm_i __rmm_l; eval "$__rmm_s"'
)


def frame(wire: str) -> bytes:
    """The command as WARM_SHELL reads it: its line count, then its lines."""
    lines = wire.split("\n")
    return (f"{len(lines)}\n" + "\n".join(lines) + "\n").encode()


def send_exec(chan: paramiko.Channel, wire: str) -> None:
    """RFC 4254 "exec" with want-reply, not waiting for the reply: stdin and output follow at once, so a
    command costs one round trip on an open channel instead of two. The reply still comes, before any
    output: success marks the channel (`event_ready`); failure closes it (ChannelCommand raises Refused)."""
    if chan.closed or chan.eof_received or chan.eof_sent or not chan.active:
        raise paramiko.SSHException("Channel is not open")
    m = paramiko.Message()
    m.add_byte(cMSG_CHANNEL_REQUEST)
    m.add_int(chan.remote_chanid)
    m.add_string("exec")
    m.add_boolean(True)
    m.add_string(wire)
    chan._event_pending()  # noqa: SLF001 - what Channel.exec_command does before sending
    chan.transport._send_user_message(m)  # noqa: SLF001


def wire_command(command: str, seconds: float, *, become: bool = False, with_password: bool = False,
                 stdin: bool = True) -> str:
    """The POSIX sh line sent to the login shell for `command`: `sh -c` under a remote kill timer,
    through sudo for `become`. A sudo password comes first on stdin; the shell drops that line itself
    when sudo needs none, so it never reaches the command. The command appears once, shell-quoted.
    `stdin=False`: the command reads /dev/null, so the channel needs no EOF from us (one packet less).
    """
    parts = [
        f"set -- {_argv(command)}",
        f'command -v timeout >/dev/null 2>&1 && set -- timeout -s KILL {seconds + REMOTE_GRACE_S:.2f} "$@"',
    ]
    null = "" if stdin else " </dev/null"
    if not become:
        parts.append(f'exec "$@"{null}')
    elif not with_password:
        parts.append(f'exec sudo -n -H -- "$@"{null}')
    else:
        parts.append('if sudo -n true 2>/dev/null; then IFS= read -r _ || :; exec sudo -n -H -- "$@"; fi')
        parts.append("exec sudo -S -p '' -H -- \"$@\"")
    return "; ".join(parts)


def _argv(command: str) -> str:
    """`command` itself when it is words naming a program (plain or quoted as shlex.join quotes them: it
    runs without a shell level), else `sh -c COMMAND`."""
    first = command.split(" ", 1)[0]
    if _is_argv_line(command) and _PLAIN_WORD.fullmatch(first) and first not in _SHELL_ONLY and "=" not in first:
        return command
    return f"sh -c {shlex.quote(command)}"


def _is_argv_line(command: str) -> bool:
    """True when `command` is nothing but shlex-quoted words (see _ARGV_LINE)."""
    return _ARGV_LINE.fullmatch(command) is not None


class ChannelCommand:
    """Feeds stdin (in a thread when it exceeds the send window) while reading stdout and stderr
    together in large chunks; waits by select() on the channel's event pipe, never by sleeping.
    Output past `max_output` bytes per stream is still read (so the remote side never blocks) but
    dropped and counted: memory stays bounded whatever the host prints."""

    def __init__(self, chan: paramiko.Channel, end: float, max_output: int = 1 << 20) -> None:
        self.chan = chan
        self.end = end
        self.out = Capped(max_output)
        self.err = Capped(max_output)

    def run(self, wire: str, data: bytes | None, *, warm: bool = False) -> int | None:
        """The exit code (None if the connection died); output in .out/.err; raises Expired past the deadline.

        `data` None on a new channel: no stdin and no EOF sent (the wire command must read /dev/null).

        `warm`: the channel already runs WARM_SHELL, so the command goes in over its stdin (framed) ahead of
        the data instead of in an exec request."""
        chan = self.chan
        if warm:
            data = frame(wire) + (data or b"")
        else:
            try:
                send_exec(chan, wire)
            except (paramiko.SSHException, EOFError, OSError):
                return None
        if data is not None or warm:
            self._feed(data)
        else:  # the wire command reads /dev/null (wire_command(stdin=False)): no EOF, now or at close (a packet)
            chan.eof_sent = True
        self._drain()
        if not chan.status_event.wait(max(self.end - time.monotonic(), 0)):
            raise Expired()
        if chan.exit_status in (-1, 128 + 9) and time.monotonic() >= self.end:
            raise Expired()  # the host's `timeout -s KILL` fired (just past our deadline) before we noticed ours
        if chan.exit_status == -1:
            if not chan.get_transport().is_active():
                return None
            if not chan.event_ready:  # the server answered the exec request with a failure
                raise Refused()
        return chan.exit_status

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

    def _drain(self) -> None:
        """Read both streams until EOF, waking at EOF (or close) and every WAKE_FEEDS data packets (see
        _Wake): a command's output of a packet or two costs the worker one wake, not one per packet. Both
        streams are checked after every wake, and the wait happens only when both were found empty."""
        chan, out, err = self.chan, self.out, self.err
        ready = _Wake(chan)
        chan.in_buffer.set_event(ready)
        chan.in_stderr_buffer.set_event(ready)
        while True:
            idle = True
            if chan.recv_ready():
                out.add(chan.recv(CHUNK))
                idle = False
            if chan.recv_stderr_ready():
                err.add(chan.recv_stderr(CHUNK))
                idle = False
            if idle:
                if chan.eof_received or chan.closed:
                    return
                remaining = self.end - time.monotonic()
                if remaining <= 0:
                    raise Expired()
                ready.wait(remaining)


WAKE_FEEDS = 8  # data packets (<= 32 KB each) buffered before the worker reads them: 256 KB, far below the window


class _Wake:
    """The event both of a channel's buffers set (BufferedPipe.set_event): on every data packet before it is
    buffered, and when the buffer closes (EOF, the channel closed, the connection lost: paramiko sets
    eof_received or closed first). It wakes the waiting worker only at EOF or close, or once WAKE_FEEDS
    packets came in since the last wake, so output stays bounded in memory and the window stays open.
    The buffers clear it when a read empties one (the worker checks both after each wake)."""

    __slots__ = ("_chan", "_event", "_feeds")

    def __init__(self, chan: paramiko.Channel) -> None:
        self._chan = chan
        self._event = threading.Event()
        self._feeds = 0

    def set(self) -> None:
        self._feeds += 1
        if self._feeds >= WAKE_FEEDS or self._chan.eof_received or self._chan.closed:
            self._feeds = 0
            self._event.set()

    def clear(self) -> None:
        self._event.clear()

    def wait(self, timeout: float) -> bool:
        return self._event.wait(timeout)


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


def stop_sessions(transport: paramiko.Transport, seconds: float) -> list[int]:
    """Kill the process groups of every other session on this connection (see the module doc);
    returns their PIDs. Best effort within `seconds`: [] if the connection cannot run it."""
    end = time.monotonic() + seconds
    try:
        chan = transport.open_session(timeout=seconds)
    except (paramiko.SSHException, EOFError, OSError):
        return []
    try:
        cmd = ChannelCommand(chan, end, 1 << 16)
        cmd.run(STOP_SESSIONS, b"")  # EOF at once: the script reads no stdin
        return [int(p) for p in cmd.out.text().split() if p.isdigit()]
    except Expired:
        return []
    finally:
        chan.close()
