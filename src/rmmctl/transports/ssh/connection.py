"""The SSH transport (paramiko): one connection per host per run, strict host keys, hard deadlines.

We open the TCP socket ourselves with TCP_NODELAY (without it every exec on an open connection
stalls ~45 ms) and hand it to paramiko; ProxyJump chains ride `direct-tcpip` channels. Every command
gets its own session channel on that one connection (see exec.py for how a command past its
deadline is killed: closing the channel alone leaves it running).

Exit codes: a command killed by signal N reports 128+N, like a POSIX shell (and the local transport).

Trace (logger `rmmctl.transports.ssh`, on stderr with -v like `ssh -v`): INFO has the connect
(address, port, time), the handshake, the host key (type, SHA256 fingerprint, the known_hosts file and
line that matched), the auth result, and each exec with its exit status, bytes and time; DEBUG (-vv)
adds the algorithms, the server's auth methods, each auth attempt and each channel. Never a secret:
passwords and passphrases are never formatted into a message, and the CLI's handler redacts too.
"""

from __future__ import annotations

import base64
import logging
import socket
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import paramiko  # type: ignore[import-untyped]

from rmmctl.errors import CommandTimeout, ConnectError, HostKeyError, TransportError
from rmmctl.models import CommandResult
from rmmctl.transports import TransportOptions
from rmmctl.transports.ssh import known_hosts as hostkeys
from rmmctl.transports.ssh.auth import Credentials, authenticate
from rmmctl.transports.ssh.config import Hop, load_ssh_config, resolve_hops
from rmmctl.transports.ssh.exec import (
    WARM_SHELL,
    ChannelCommand,
    Expired,
    Refused,
    kill,
    send_exec,
    stop_sessions,
    wire_command,
)
from rmmctl.transports.ssh.link import Transport, open_socket, remaining_s

if TYPE_CHECKING:
    from collections.abc import Callable

    from rmmctl.inventory.model import Host

    Observe = Callable[[Hop, str, str], None]

logging.getLogger("paramiko").addHandler(logging.NullHandler())  # no lastResort tracebacks on stderr
log = logging.getLogger("rmmctl.transports.ssh")

WINDOW = 8 << 20  # our receive window per channel: 10 MB of output flows without stalls
SPARES = 2  # warm channels kept ready from a host's second command on (plays); see _open_spares
SPARE_WAIT_S = 10.0  # at most this long for the spare channel's open (else a channel of its own)
ROUNDS_POLL_S = 5.0  # expect_rounds(): how often an idle connection's reader thread wakes (paramiko: 0.1 s)
ROUNDS_CIPHERS = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com")  # AEAD: no HMAC per packet in Python,
# ~0.2 ms less client CPU per exec measured (benchmarks/README.md, Issue 10: watch)
STOP_S = 2.0  # close() while commands run (Ctrl-C, SIGTERM): at most this long to stop them on the host


def _preview(command: str) -> str:
    """A command for a log line: one line (a line break shown as \\n), at most 200 characters."""
    text = command if len(command) <= 200 else command[:200] + "..."
    return text.replace("\r", "\\r").replace("\n", "\\n")


def start_ssh(sock: object, label: str, end: float, key_types: tuple[str, ...] | None = None,
              ciphers: tuple[str, ...] | None = None) -> Transport:
    """Run the SSH handshake (banner + key exchange, nothing trusted yet) within `end`; `ciphers` first
    in the cipher preference when given (the server still decides among what both offer)."""
    remaining = remaining_s(label, end, "the SSH handshake")
    t = Transport(sock, default_window_size=WINDOW)
    if key_types:  # paramiko's defaults already prefer ed25519 keys and (mlkem768)x25519 key exchange
        t.get_security_options().key_types = key_types
    if ciphers:
        options = t.get_security_options()
        offered = tuple(options.ciphers)
        options.ciphers = tuple(c for c in ciphers if c in offered) + tuple(c for c in offered if c not in ciphers)
    t.banner_timeout = t.handshake_timeout = remaining
    try:
        t.start_client(timeout=remaining)
    except (paramiko.SSHException, EOFError, OSError) as exc:
        t.close()
        if isinstance(exc, paramiko.ssh_exception.IncompatiblePeer):
            raise
        _raise_handshake_error(label, exc, end, remaining)
    if not t.initial_kex_done:
        t.close()
        _raise_handshake_error(label, TimeoutError(), end, remaining)
    return t


def _log_handshake(hop: Hop, t: paramiko.Transport, started: float) -> None:
    log.info("%s: SSH handshake done in %.1f ms (server %s)", hop.label, (time.monotonic() - started) * 1000,
             t.remote_version)
    if log.isEnabledFor(logging.DEBUG):
        log.debug("%s: kex %s, host key algorithm %s, cipher %s, mac %s", hop.label,
                  getattr(t, "kex_engine", None).__class__.__name__, t.host_key_type, t.remote_cipher,
                  t.remote_mac)


def _raise_handshake_error(label: str, exc: BaseException, end: float, limit: float) -> None:
    if isinstance(exc, TimeoutError) or isinstance(exc.__context__, TimeoutError) or time.monotonic() >= end:
        raise CommandTimeout(f"{label}: no SSH answer within {limit:.1f} s (the port accepts connections but "
                             "no SSH banner or key exchange came); check that sshd runs there and is not overloaded")
    reason = str(exc).strip() or type(exc).__name__
    raise ConnectError(f"{label}: SSH handshake failed ({reason}); is this port an SSH server?")


def _key_order(entries: list[hostkeys.KnownEntry]) -> tuple[str, ...] | None:
    """Host-key algorithms with the types we already know first (as OpenSSH does), else None."""
    known: list[str] = []
    for e in entries:
        if e.marker is None:
            known += ["rsa-sha2-512", "rsa-sha2-256"] if e.key_type == "ssh-rsa" else [e.key_type]
    default = list(paramiko.Transport._preferred_keys)
    first = [k for k in dict.fromkeys(known) if k in default]
    return tuple(first + [k for k in default if k not in first]) if first else None


# -- the transport -------------------------------------------------------------------------------------


GET_WINDOW = 64 * 32768  # bytes a get asks for at once (64 SFTP reads in flight)


class SSHTransport:
    """A lazily opened, reused paramiko connection to one host (through its ProxyJump chain)."""

    def __init__(self, host: Host, options: TransportOptions, *, deadline: float | None = None) -> None:
        self.name = host.name
        self._host = host
        self._options = options
        self._deadline = deadline
        self._creds = Credentials(host, options)
        self._lock = threading.Lock()
        self._chain: list[paramiko.Transport] = []  # jump hosts first, the target last
        self._connecting: list[paramiko.Transport] | None = None
        self._sftp: paramiko.SFTPClient | None = None
        self._running = 0  # commands on their channels now (close() stops them on the host)
        self._stopped = False  # close() stopped running commands (an interrupt): no reconnect after it
        self._running_lock = threading.Lock()
        self._commands = 0  # commands started on this transport (from the second on, a spare channel waits)
        self._spares: list[_Spare] = []
        self._many = False  # expect_many(): warm channels from the first command on
        self._rounds = False  # expect_rounds(): never warm channels (idle gaps between commands)
        self.warm_commands = 0  # commands that found a warm channel ready (one round trip each)
        self._spare_lock = threading.Lock()

    # -- connection ------------------------------------------------------------------------------

    def connect(self, observe: Observe | None = None) -> None:
        """Open the connection (no-op if open): TCP, handshake, host-key check, auth, for every hop.

        `observe(hop, step, detail)` (rmmctl doctor) hears each step that succeeded, in order: "tcp",
        "banner", "host key", "auth"; the first step not heard of for a hop is the one that failed. With it,
        auth also asks the server which methods it offers (one round trip more)."""
        with self._lock:
            if self._chain and self._chain[-1].is_active():
                return
            if self._stopped:
                raise ConnectError(f"{self.name}: interrupted; not reconnecting")
            self._shut()
            end = self._end(float(self._host.var("connect_timeout") or self._options.connect_timeout))
            cfg = self._options.cache.get(("ssh_config", self._options.ssh_config),
                                          lambda: load_ssh_config(self._options.ssh_config))
            hops = resolve_hops(self._host, cfg)
            chain: list[paramiko.Transport] = []
            self._connecting = chain  # so close() from another thread can interrupt us
            try:
                for hop in hops:
                    chain.append(self._open_hop(hop, end, chain[-1] if chain else None, observe))
            except BaseException:
                _close_all(chain)
                raise
            finally:
                self._connecting = None
            self._chain = chain
            if self._rounds:  # paramiko's reader wakes every 0.1 s, ~0.5 ms CPU a second per connection here
                for t in chain:
                    t.sock.settimeout(ROUNDS_POLL_S)

    def _open_hop(self, hop: Hop, end: float, via: paramiko.Transport | None,
                  observe: Observe | None = None) -> paramiko.Transport:
        note = observe or (lambda *_: None)
        entries = hostkeys.entries_for(self._known_files(), hop.address, hop.port)
        started = time.monotonic()
        log.info("%s: connecting to %s port %d as %s%s", hop.label, hop.address, hop.port, hop.user,
                 " (through the jump host's tunnel)" if via else "")
        sock = _tunnel(via, hop, end) if via else open_socket(hop.label, hop.address, hop.port, end)
        tcp_ms = (time.monotonic() - started) * 1000
        log.info("%s: connected in %.1f ms", hop.label, tcp_ms)
        note(hop, "tcp", f"{hop.address}:{hop.port} {'tunnelled through the jump host' if via else 'connected'} "
                         f"in {tcp_ms:.1f} ms")
        t = start_ssh(sock, hop.label, end, _key_order(entries), ROUNDS_CIPHERS if self._rounds else None)
        _log_handshake(hop, t, started)
        note(hop, "banner", f"{t.remote_version}; key exchange done (host key {t.host_key_type}, cipher {t.remote_cipher})")
        try:
            note(hop, "host key", self._check_host_key(hop, t.get_remote_server_key(), entries))
            offered: list[str] | None = [] if observe else None
            what = authenticate(t, hop, self._creds, end, offered=offered)
            methods = f" (the server offers: {', '.join(offered)})" if offered else ""
            note(hop, "auth", f"as {hop.user} with {what}{methods}")
        except BaseException:
            t.close()
            raise
        return t

    def _known_files(self) -> list[Path]:
        return hostkeys.known_hosts_files(self._options, self._host)

    def _check_host_key(self, hop: Hop, key: paramiko.PKey, entries: list[hostkeys.KnownEntry]) -> str:
        """What was decided about the key ("ssh-ed25519 SHA256:... known, matches FILE:LINE"), or HostKeyError."""
        blob = bytes(key.asbytes())
        verdict = hostkeys.verify(entries, blob)
        offered = f"{key.get_name()} {hostkeys.fingerprint(blob)}"
        if verdict.state == "known" and verdict.entry:
            log.info("%s: server host key %s: known, matches %s", hop.label, offered, verdict.entry.where)
            return f"{offered} known, matches {verdict.entry.where}"
        log.info("%s: server host key %s: %s (files checked: %s)", hop.label, offered, verdict.state,
                 ", ".join(map(str, self._known_files())))
        if verdict.state == "revoked" and verdict.entry:
            raise HostKeyError(f"{hop.label}: host key {offered} is marked @revoked in {verdict.entry.where}; refusing")
        if verdict.state == "changed" and verdict.entry:
            old = verdict.entry
            raise HostKeyError(
                f"{hop.label}: HOST KEY CHANGED: {old.where} has {old.key_type} {old.fingerprint} but the server "
                f"now offers {offered}; if it was really reinstalled run `rmmctl hostkeys forget {hop.name}` "
                "then scan and approve it, otherwise suspect a man-in-the-middle")
        return self._trust_new(hop, blob, offered)

    def _trust_new(self, hop: Hop, blob: bytes, offered: str) -> str:
        policy = str(self._host.var("host_key_policy") or self._options.host_key_policy)
        if policy != "accept-new":
            raise HostKeyError(
                f"{hop.label}: unknown host key ({offered}); run `rmmctl hostkeys scan {hop.name}` then "
                f"`rmmctl hostkeys approve {hop.name}`, or set host_key_policy: accept-new")
        target = hostkeys.trust_file(self._options)
        b64 = base64.b64encode(blob).decode()
        key = hostkeys.ScannedKey(hostkeys.blob_type(blob), b64, hostkeys.fingerprint(blob))
        hostkeys.approve(target, hop.address, hop.port, [key])
        log.warning("%s: accepted new host key %s, recorded in %s", hop.label, offered, target)
        return f"{offered} was unknown: accepted (host_key_policy accept-new) and recorded in {target}"

    # -- commands --------------------------------------------------------------------------------

    def run(
        self,
        command: str,
        *,
        stdin: bytes | str | None = None,
        timeout: float | None = None,
        become: bool = False,
    ) -> CommandResult:
        """Run one shell command on its own channel; CommandResult whatever the exit code."""
        end = self._end(timeout if timeout is not None else self._options.command_timeout)
        limit = end - time.monotonic()
        data = stdin.encode() if isinstance(stdin, str) else stdin
        password = self._creds.become_password(end) if become else None
        if password is not None:
            data = password.encode() + b"\n" + (data or b"")
        self.connect()
        started = time.monotonic()
        chan, warm = self._take_channel(end)
        wire = wire_command(command, limit, become=become, with_password=password is not None,
                            stdin=data is not None or warm)
        self._commands += 1
        if not self._rounds and self._commands >= (1 if self._many else 2):  # several commands (a play): the next channels open meanwhile
            self._open_spares()
        self.warm_commands += warm
        log.debug("%s: command %d on a %s channel", self.name, self._commands, "warm" if warm else "new")
        log.debug("%s: channel %d open in %.1f ms", self.name, chan.get_id(), (time.monotonic() - started) * 1000)
        cmd = ChannelCommand(chan, end, self._options.max_output)
        with self._running_lock:
            self._running += 1
        try:
            code = cmd.run(wire, data, warm=warm)
        except Expired:
            kill(chan)
            raise CommandTimeout(f"{self.name}: command did not finish within {limit:.1f} s") from None
        except Refused:
            raise ConnectError(f"{self.name}: the server refused to run the command (exec request denied: "
                               "a forced command or a session limit in sshd_config?)") from None
        finally:
            with self._running_lock:
                self._running -= 1
            chan.close()
        log.info("%s: exec %s%s: exit %s, %d bytes out, %d bytes err%s, %.1f ms", self.name, "sudo " if become else "",
                 _preview(command), code,
                 len(cmd.out.data) + cmd.out.dropped, len(cmd.err.data) + cmd.err.dropped,
                 " (truncated to --max-output)" if cmd.out.dropped or cmd.err.dropped else "",
                 (time.monotonic() - started) * 1000)
        if self._stopped:
            raise ConnectError(f"{self.name}: interrupted; the command was stopped on the host")
        if code is None:
            raise ConnectError(f"{self.name}: connection lost while the command ran; check the host")
        return CommandResult(command, code, cmd.out.text(), cmd.err.text(), time.monotonic() - started,
                             stdout_truncated_bytes=cmd.out.dropped, stderr_truncated_bytes=cmd.err.dropped)

    def open_terminal(self, term: str, width: int, height: int, *, become: bool = False) -> paramiko.Channel:
        """An interactive session channel (rmmctl shell): a pty of `term` at `width` x `height` running the
        login shell (`sudo -i` with `become`: sudo asks for its password in the terminal if it needs one).
        The caller owns the channel (resize_pty, recv_exit_status, close); no deadline applies once open."""
        self.connect()
        chan = self._open_channel(self._end(float(self._host.var("connect_timeout") or self._options.connect_timeout)))
        try:
            chan.get_pty(term=term, width=width, height=height)
            if become:
                chan.exec_command("sudo -i")
            else:
                chan.invoke_shell()
        except (paramiko.SSHException, EOFError, OSError) as exc:
            chan.close()
            raise ConnectError(f"{self.name}: the server refused an interactive session ({exc}); check "
                               "PermitTTY and ForceCommand in sshd_config") from None
        log.info("%s: interactive session on channel %d (pty %s %dx%d%s)", self.name, chan.get_id(), term,
                 width, height, ", sudo -i" if become else "")
        return chan

    def expect_many(self) -> None:
        """Several commands will follow (a play's tasks): keep warm channels from the first one on, so
        every command after the first costs one round trip, stdin included."""
        self._many = True

    def expect_rounds(self) -> None:
        """Commands come one at a time with idle time between them (rmmctl watch keeps the connection open
        between rounds): no warm channels, so no remote shell waits idle between rounds, and the reader
        thread of a connection wakes every ROUNDS_POLL_S instead of every 0.1 s (its only work then is
        noticing a close; close() shuts the socket down, which wakes it at once)."""
        self._rounds = True

    def rearm(self, deadline: float | None) -> None:
        """A new visit on the kept connection: the host's deadline for it (None: only command timeouts)."""
        self._deadline = deadline

    def _take_channel(self, end: float) -> tuple[paramiko.Channel, bool]:
        """(the oldest warm spare channel, True) if it is ready, alive and on this connection; else (a new
        channel, False): a round trip more."""
        with self._spare_lock:
            spare = self._spares.pop(0) if self._spares else None
        if spare is not None:
            chan = spare.take(max(0.0, min(end - time.monotonic(), SPARE_WAIT_S)))
            if chan is not None and chan.active and not chan.closed and not chan.eof_received \
                    and not chan.exit_status_ready() and self._chain and chan.get_transport() is self._chain[-1]:
                return chan, True
            if chan is not None:
                chan.close()
        return self._open_channel(end), False

    def _open_spares(self) -> None:
        """Keep SPARES warm channels opening in the background for the next commands: a warm channel takes
        two round trips to get ready (open, then exec and its window), a command one, so two stay ahead."""
        chain = self._chain
        if not chain or self._stopped:
            return
        with self._spare_lock:
            while len(self._spares) < SPARES:
                self._spares.append(_Spare(chain[-1]))

    def _open_channel(self, end: float) -> paramiko.Channel:
        try:
            return self._chain[-1].open_session(timeout=remaining_s(self.name, end, "opening a channel"))
        except (paramiko.SSHException, EOFError, OSError) as exc:
            raise ConnectError(f"{self.name}: cannot open a session channel ({exc}); check MaxSessions") from None

    def _end(self, seconds: float) -> float:
        end = time.monotonic() + seconds
        if self._deadline is not None:
            end = min(end, self._deadline)
        if end <= time.monotonic():
            raise CommandTimeout(f"{self.name}: the host's deadline has passed")
        return end

    # -- files -----------------------------------------------------------------------------------

    def put(self, local: Path, remote: str, *, mode: int = 0o644) -> None:
        """Copy a local file to the host over SFTP with `mode` (set before any byte is written)."""
        def action(s: paramiko.SFTPClient, in_time: Any) -> None:
            with open(local, "rb") as fl, s.file(remote, "wb") as fr:
                fr.chmod(mode)
                fr.set_pipelined(True)
                while chunk := fl.read(32768):
                    fr.write(chunk)
                    in_time()
        self._sftp_call(f"put {remote}", action)

    def get(self, remote: str, local: Path) -> None:
        """Copy a file from the host over SFTP, GET_WINDOW bytes per round trip (pipelined reads), checking
        the deadline between windows: a stop is prompt and leaves no read-ahead thread behind."""
        def action(s: paramiko.SFTPClient, in_time: Any) -> None:
            with s.open(remote, "rb") as fr, open(local, "wb") as fl:
                size, offset = fr.stat().st_size or 0, 0
                while offset < size:
                    in_time()
                    n = min(GET_WINDOW, size - offset)
                    for data in fr.readv([(offset, n)]):
                        fl.write(data)
                    offset += n
        self._sftp_call(f"get {remote}", action)

    def _sftp_call(self, what: str, action: Any) -> None:
        """`action(sftp, in_time)` on the (reused) SFTP session, within the command timeout and the host's
        deadline: each network wait is bounded by what is left, and `in_time()` (called per chunk) stops a
        long transfer at the deadline."""
        end = self._end(self._options.command_timeout)
        self.connect()

        def in_time() -> None:
            if time.monotonic() >= end:
                raise TimeoutError

        try:
            if self._sftp is None:
                self._sftp = self._chain[-1].open_sftp_client()
            self._sftp.get_channel().settimeout(remaining_s(self.name, end, what))
            action(self._sftp, in_time)
        except TimeoutError:
            self._drop_sftp()
            raise CommandTimeout(f"{self.name}: {what} did not finish in time") from None
        except (OSError, paramiko.SSHException, EOFError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            raise TransportError(f"{self.name}: {what} failed: {reason}") from None

    def _drop_sftp(self) -> None:
        """Close an SFTP session cut short (a timeout): the next transfer opens a fresh one."""
        sftp, self._sftp = self._sftp, None
        if sftp is not None:
            try:
                sftp.close()
            except Exception:  # noqa: BLE001 - best effort
                pass

    def close(self) -> None:
        """Close the SFTP session and every connection of the chain; idempotent, and safe to call from
        another thread to interrupt a connect or a command (which then raises ConnectError). Commands
        still running are stopped on the host first (their process groups killed, see exec.py), and a
        password_cmd still running is killed: an interrupted run leaves nothing behind."""
        connecting = self._connecting
        self._creds.interrupt()
        chain = self._chain
        if self._running and chain and chain[-1].is_active():
            self._stopped = True
            stopped = stop_sessions(chain[-1], STOP_S)
            log.info("%s: stopped %d remote command(s) (process groups %s)", self.name, len(stopped),
                     " ".join(map(str, stopped)) or "none found")
        self._shut()
        if connecting:
            _close_all(connecting)

    def _shut(self) -> None:
        with self._spare_lock:
            spares, self._spares = self._spares, []
        for spare in spares:
            spare.drop()
        chain, self._chain = self._chain, []
        sftp, self._sftp = self._sftp, None
        if sftp is not None:
            sftp.close()
        if self._rounds:  # the reader threads block up to ROUNDS_POLL_S: a shutdown wakes them (EOF) now
            for t in chain:
                if isinstance(t.sock, socket.socket):
                    try:
                        t.sock.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
        _close_all(chain)


class _Spare:
    """A session channel opening in the background for the next command; whoever comes last (the
    opener or the dropper) closes it when nobody takes it."""

    def __init__(self, transport: paramiko.Transport) -> None:
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._chan: paramiko.Channel | None = None
        self._dropped = False
        threading.Thread(target=self._open, args=(transport,), daemon=True, name="rmmctl-ssh-spare").start()

    def _open(self, transport: paramiko.Transport) -> None:
        try:
            chan = transport.open_session(timeout=SPARE_WAIT_S)
            send_exec(chan, WARM_SHELL)  # its reply and window adjust arrive while the last command runs
        except (paramiko.SSHException, EOFError, OSError):
            chan = None
        with self._lock:
            self._chan = chan
            dropped = self._dropped
            self._ready.set()
        if dropped and chan is not None:
            chan.close()

    def take(self, wait: float) -> paramiko.Channel | None:
        """The channel once open (waiting at most `wait` s), or None; a spare not ready by then is dropped."""
        self._ready.wait(wait)
        with self._lock:
            if self._ready.is_set():
                chan, self._chan = self._chan, None
                return chan
            self._dropped = True
            return None

    def drop(self) -> None:
        with self._lock:
            chan, self._chan = self._chan, None
            self._dropped = True
        if chan is not None:
            chan.close()


def _close_all(chain: list[paramiko.Transport]) -> None:
    for t in reversed(list(chain)):
        t.close()


def _tunnel(via: paramiko.Transport, hop: Hop, end: float) -> paramiko.Channel:
    """A direct-tcpip channel from the previous hop to this one, for its SSH connection to ride on."""
    try:
        return via.open_channel("direct-tcpip", (hop.address, hop.port), ("127.0.0.1", 0),
                                timeout=remaining_s(hop.label, end, "opening the jump tunnel"))
    except (paramiko.SSHException, EOFError, OSError) as exc:
        raise ConnectError(f"{hop.label}: the jump host could not open a tunnel to {hop.address}:{hop.port} "
                           f"({exc}); check proxy_jump and that the jump host can reach it") from None
