"""`rmmctl shell HOST`: an interactive terminal to one host, recorded in the history as a run of kind `shell`.

- SSH: a pty on the host's existing connection (SSHTransport.open_terminal: the same host-key checking,
  jump hosts and auth as every command). The local terminal goes to raw mode (restored on every way out),
  so every key, Ctrl-C (\\x03) included, reaches the remote side as data; the window size is passed at
  open and again on each SIGWINCH; rmmctl's exit code is the remote shell's exit status. Without a
  terminal on stdin and stdout it refuses (UsageError, exit 2).
- WinRM: a `PS HOST> ` prompt (readline editing when stdin is a terminal). Each line is one PowerShell
  command in the one WinRM shell the transport keeps for the visit; its stdout and stderr are printed and
  a non-zero exit code shown. `exit` leaves (exit 0; `exit N`: N), end of input (Ctrl-D) leaves with the
  last command's exit code. Ctrl-C during a command stops it on the host (the transport signals terminate; the
  shell stays) and the prompt comes back. Without a terminal the lines
  come from stdin, with no prompt. Each line is its own PowerShell process: variables and the current
  directory do not carry over from one line to the next.
- Local hosts (connection: local) are refused: open a terminal on this machine instead.

The audit log gets the session's start (what kind of session) and its end (how it ended, the exit code,
the duration), never what was typed: not the keystrokes, not the WinRM command lines.
"""

from __future__ import annotations

import os
import re
import select
import signal
import sys
import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterable, TextIO

from rmmctl.api import RunSettings
from rmmctl.doctor import one_host
from rmmctl.errors import CommandTimeout, UsageError
from rmmctl.executor import classify
from rmmctl.inventory.model import Host, Inventory
from rmmctl.models import AuditEntry, HostError, HostResult, RunReport, Status
from rmmctl.processors import Processor, Processors, RunInfo
from rmmctl.secrets import learn_secrets
from rmmctl.transports import TransportOptions, open_transport

COMMAND = "shell"
CONNECTIONS = ("ssh", "winrm")
READ = 65536
STATUS_WAIT_S = 5.0  # after the channel's end, how long the remote exit status may take to arrive
_EXIT = re.compile(r"exit(?:\s+(-?\d+))?\s*;?", re.IGNORECASE)


@dataclass(slots=True)
class Session:
    """What a session tells the audit log and the history: its kind, how it ended, its exit code."""

    kind: str = ""
    ended: str = ""
    exit_code: int | None = None
    commands: int = 0  # WinRM: lines run (their text is never recorded)
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Streams:
    """The local side: stdin, stdout and stderr (the process's own unless a test gives others)."""

    stdin: TextIO = field(default_factory=lambda: sys.stdin)
    stdout: TextIO = field(default_factory=lambda: sys.stdout)
    stderr: TextIO = field(default_factory=lambda: sys.stderr)

    def terminal(self) -> bool:
        return _isatty(self.stdin) and _isatty(self.stdout)


def _isatty(stream: TextIO) -> bool:
    try:
        return os.isatty(stream.fileno())
    except (AttributeError, OSError, ValueError):
        return False


def shell(inventory: Inventory, pattern: str, settings: RunSettings, processors: Iterable[Processor] = (), *,
          become: bool = False, streams: Streams | None = None) -> RunReport:
    """`rmmctl shell HOST`: one session on the one ssh or winrm host `pattern` names. The host's result has
    `data["exit_code"]` (the remote shell's exit code) once the session ran."""
    streams = streams or Streams()
    host = one_host(inventory, pattern, settings, CONNECTIONS, command="shell")
    if host.connection == "ssh" and not streams.terminal():
        raise UsageError(f"{host.name}: `rmmctl shell` over SSH needs a terminal on stdin and stdout; to run a "
                         f"command without one use `rmmctl run {host.name} -- COMMAND`")
    host = settings.pin(host)
    learn_secrets([host], settings.redactor)
    started_at, started = time.time(), time.monotonic()
    run = RunInfo(COMMAND, settings.argv, (host,), started_at)
    fan = Processors(processors)
    fan.run_started(run)
    fan.host_started(run, host)
    result = _visit(host, settings.transport_options(inventory), settings.redactor, become, streams)
    fan.host_finished(run, result)
    interrupted = result.status is Status.INTERRUPTED
    report = RunReport(COMMAND, started_at, time.monotonic() - started, (result,), interrupted=interrupted,
                       argv=settings.argv, interrupted_by=str((result.data or {}).get("stopped_by") or ""))
    fan.run_finished(run, report)
    return replace(report, store_error=run.store_error) if run.store_error else report


def _visit(host: Host, options: TransportOptions, redact: Callable[[str], str], become: bool,
           streams: Streams) -> HostResult:
    """Open the transport, run the session, close; never raises (like the executor's host visit)."""
    started = time.monotonic()
    session = Session()
    audit: list[AuditEntry] = []
    status, error, stopped_by = Status.OK, None, None
    transport = open_transport(host, options)
    try:
        transport.connect()
        audit.append(AuditEntry(host.name, "shell", "", None, 0.0, time.time()))
        opened = time.monotonic()
        try:
            if host.connection == "ssh":
                ssh_session(transport, session, streams, become=become)
            else:
                winrm_session(transport, host.name, session, streams)
        except KeyboardInterrupt as exc:
            session.ended = f"interrupted ({getattr(exc, 'reason', 'SIGINT')})"
            raise
        finally:
            audit[0] = replace(audit[0], detail=redact(f"session start: {session.kind}"))
            audit.append(AuditEntry(host.name, "shell", redact(f"session end: {session.ended or 'failed'}"),
                                    session.exit_code, time.monotonic() - opened, time.time()))
        if session.exit_code is None:
            status, error = Status.UNREACHABLE, HostError("unreachable", f"{host.name}: {session.ended}")
        elif session.exit_code != 0:
            status = Status.FAILED
    except KeyboardInterrupt as exc:  # SIGTERM, or Ctrl-C outside a WinRM command
        status, error = Status.INTERRUPTED, HostError("interrupted", "interrupted during the session")
        stopped_by = getattr(exc, "reason", "SIGINT")
    except Exception as exc:  # noqa: BLE001 - one line and an exit code, like any host
        status, error = classify(exc)
        error = HostError(error.kind, redact(error.message))
    finally:
        try:
            transport.close()
        except Exception:  # noqa: BLE001 - closing is best effort
            pass
    data = {"transport": host.connection, "session": session.kind or None, "ended": session.ended or None,
            "exit_code": session.exit_code, **({"commands": session.commands} if host.connection == "winrm" else {}),
            **({"stopped_by": stopped_by} if stopped_by else {})}
    return HostResult(host.name, host.address, status, error, data, time.monotonic() - started, tuple(audit))


# -- SSH: a pty, the local terminal raw --------------------------------------------------------------


def _size(fd: int) -> tuple[int, int]:
    try:
        size = os.get_terminal_size(fd)
        return size.columns or 80, size.lines or 24
    except OSError:
        return 80, 24


def ssh_session(transport: Any, session: Session, streams: Streams, *, become: bool = False) -> None:
    """The remote login shell in a pty, the local terminal in raw mode until it ends; sets `session`."""
    import termios
    import tty

    fd_in, fd_out = streams.stdin.fileno(), streams.stdout.fileno()
    term = os.environ.get("TERM") or "xterm"
    cols, rows = _size(fd_out)
    session.kind = "ssh pty (refused)"
    chan = transport.open_terminal(term, cols, rows, become=become)
    session.kind = f"ssh pty {term} {cols}x{rows}" + (", sudo -i" if become else "")
    session.ended = "connection lost"
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)

    def on_winch(signum: int, frame: object) -> None:
        try:
            os.write(wake_w, b"w")
        except OSError:
            pass

    saved = termios.tcgetattr(fd_in)
    previous = signal.signal(signal.SIGWINCH, on_winch)
    try:
        streams.stdout.flush()
        tty.setraw(fd_in, termios.TCSANOW)
        _pump(chan, fd_in, fd_out, wake_r, session)
    finally:
        termios.tcsetattr(fd_in, termios.TCSADRAIN, saved)
        signal.signal(signal.SIGWINCH, previous)
        os.close(wake_r)
        os.close(wake_w)
        chan.close()


def _pump(chan: Any, fd_in: int, fd_out: int, wake: int, session: Session) -> None:
    """Keys to the channel, the channel to the terminal, resizes to the pty, until the remote side ends."""
    reading = True
    while True:
        ready, _, _ = select.select([chan, wake, *([fd_in] if reading else [])], [], [])
        if wake in ready:
            os.read(wake, 512)
            cols, rows = _size(fd_out)
            chan.resize_pty(width=cols, height=rows)
        if chan in ready:
            data = chan.recv(READ)
            while chan.recv_stderr_ready():
                data += chan.recv_stderr(READ)
            if not data:
                break
            _write(fd_out, data)
        if reading and fd_in in ready:
            try:
                keys = os.read(fd_in, READ)
            except OSError:  # the local terminal went away (EIO): end the session
                keys = b""
            if keys:
                chan.sendall(keys)
            else:
                reading = False
                chan.shutdown_write()
    end = time.monotonic() + STATUS_WAIT_S  # the exit status follows the output; a dropped connection has none
    while not chan.status_event.wait(0.05):
        transport = chan.get_transport()
        if time.monotonic() > end or transport is None or not transport.is_active():
            break
    if chan.status_event.is_set() and chan.exit_status >= 0:
        session.exit_code = int(chan.exit_status)
        session.ended = "the remote shell exited"


def _write(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


# -- WinRM: a PowerShell prompt ----------------------------------------------------------------------


def winrm_session(transport: Any, name: str, session: Session, streams: Streams) -> None:
    """Lines to PowerShell in the host's one WinRM shell until `exit` or end of input; sets `session`."""
    interactive = _isatty(streams.stdin)
    if interactive:
        try:
            import readline  # noqa: F401 - input() gets line editing and history
        except ImportError:
            pass
    session.kind = "winrm powershell prompt" if interactive else "winrm powershell, lines from stdin"
    last = 0
    while True:
        line = _read_line(streams, f"PS {name}> " if interactive else None)
        if line is None:
            session.exit_code, session.ended = last, f"end of input after {session.commands} command(s)"
            return
        if not line.strip():
            continue
        leave = _EXIT.fullmatch(line.strip())
        if leave:
            session.exit_code = int(leave.group(1)) if leave.group(1) else 0
            session.ended = f"exit after {session.commands} command(s)"
            return
        session.commands += 1
        last = _run_line(transport, line, streams)


def _read_line(streams: Streams, prompt: str | None) -> str | None:
    """One line (without its newline), or None at end of input; Ctrl-C at the prompt gives an empty line."""
    if prompt is None:
        text = streams.stdin.readline()
        return text.rstrip("\r\n") if text else None
    try:
        return input(prompt)
    except EOFError:
        streams.stdout.write("\n")
        return None
    except KeyboardInterrupt:
        streams.stdout.write("^C\n")
        return ""


def _run_line(transport: Any, line: str, streams: Streams) -> int:
    """Run one line; its output printed, a non-zero exit shown. The exit code (130 when interrupted)."""
    try:
        result = transport.run(line)
    except KeyboardInterrupt:
        streams.stderr.write("^C: the command was stopped on the host\n")
        return 130
    except CommandTimeout as exc:  # the prompt stays: the command was terminated, the next line opens a shell
        streams.stderr.write(f"rmmctl: {exc}\n")
        return 124
    for text, stream in ((result.stdout, streams.stdout), (result.stderr, streams.stderr)):
        if text:  # Windows line ends become this terminal's
            text = text.replace("\r\n", "\n")
            stream.write(text if text.endswith("\n") else text + "\n")
    if result.truncated:
        streams.stderr.write("[output truncated to --max-output]\n")
    if result.exit_code != 0:
        streams.stderr.write(f"[exit {result.exit_code}]\n")
    streams.stdout.flush()
    streams.stderr.flush()
    return int(result.exit_code)
