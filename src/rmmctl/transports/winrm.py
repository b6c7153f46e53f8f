"""The WinRM transport: Windows hosts over WS-Management with pywinrm (the only module importing winrm).

On `winrm.Protocol`, not `Session.run_ps` (research/winrm.md §0): one shell per host visit, opened at
connect with codepage 65001 and used by every command of the visit, always deleted at close (also after
errors, deadlines and an interrupt). A command is PowerShell: the script goes in over stdin (base64 of
UTF-8, so code pages cannot mangle it) behind a small `-EncodedCommand` bootstrap, so the cmd.exe limit
of 8191 characters never applies. Receive's OperationTimeout faults are the normal long poll; the hard
per-command deadline is ours: past it the command gets the terminate signal and the shell is deleted.
CLIXML on stderr becomes the first error record's message. Every error is one line saying the fix.

Host settings: `connection: winrm`, `port`, `user`, `password`/`password_env`/`password_cmd`/
`password_keyring`, vars `winrm_transport` (ntlm | basic | kerberos | credssp | certificate; default
ntlm), `winrm_scheme` (https | http; default https, http when the port is 5985), `winrm_ca_trust_path`,
`winrm_allow_basic_http`, `winrm_server_cert_validation` (validate | ignore), and for certificate auth
`winrm_cert_pem`/`winrm_cert_key_pem`. The `ansible_winrm_*` variables of an Ansible inventory are read too.
What each auth method needs and how its failures read: transports/winrm_auth.py.
"""

from __future__ import annotations

import base64
import logging
import math
import re
import threading
import time
import warnings
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import TYPE_CHECKING, Any

import requests
import winrm  # type: ignore[import-untyped]
from winrm.exceptions import (  # type: ignore[import-untyped]
    InvalidCredentialsError,
    WinRMError,
    WinRMOperationTimeoutError,
    WinRMTransportError,
    WSManFaultError,
)

from rmmctl.errors import AuthError, CommandTimeout, ConfigError, ConnectError, TransportError
from rmmctl.models import CommandResult
from rmmctl.secrets import SecretCommands, resolve_secret
from rmmctl.transports import TransportOptions
from rmmctl.transports.base import Capped
from rmmctl.transports.winrm_auth import (
    METHODS,
    client_cert_refused,
    client_certificate,
    credssp_failure,
    missing_library,
    rejected,
)

if TYPE_CHECKING:
    from collections.abc import Iterable

    from rmmctl.inventory.model import Host

log = logging.getLogger("rmmctl.transports.winrm")

AUTH_METHODS = METHODS
OPERATION_TIMEOUT_S = 5  # how long the server holds one Receive open (a poll, not a limit)
READ_MARGIN_S = 10  # the HTTP read timeout is the operation timeout plus this
BOOTSTRAP_MARK = "# rmmctl-bootstrap@1"
# Reads two base64 lines from stdin ($input, as Ansible's bootstrap does): the script (UTF-8) and,
# optionally, the text piped into it (one string in the script's $input).
BOOTSTRAP = BOOTSTRAP_MARK + """
$ProgressPreference = 'SilentlyContinue'
$u = New-Object Text.UTF8Encoding $false
try { [Console]::OutputEncoding = $u } catch { }
$l = @($input | ForEach-Object { "$_" })
$s = $u.GetString([Convert]::FromBase64String($l[0].Trim()))
$sb = [ScriptBlock]::Create($s)
if ($l.Count -gt 1 -and $l[1].Trim()) { $u.GetString([Convert]::FromBase64String($l[1].Trim())) | & $sb }
else { & $sb }
if (-not $?) { exit 1 }
exit [int]$LASTEXITCODE
"""
BOOTSTRAP_COMMAND = "powershell.exe -NoProfile -NonInteractive -ExecutionPolicy Bypass -EncodedCommand " + \
    base64.b64encode(BOOTSTRAP.encode("utf-16-le")).decode()
CMD_LIMIT = 8191  # cmd.exe's command-line limit (only --cmd lines meet it: PowerShell goes over stdin)
SEND_CHUNK = 200_000  # stdin bytes per Send (as Ansible): well under the server's MaxEnvelopeSizekb
FAULT_FIXES = {  # WS-Man fault codes -> what to change on the host
    5: "the user must be an administrator or in Remote Management Users on the host",
    2150859173: "too many shells open for this user (MaxShellsPerUser): wait for idle shells to expire, or "
                "raise it: winrm set winrm/config/winrs @{MaxShellsPerUser=\"50\"}",
    2150859174: "too many operations in one shell (MaxConcurrentOperationsPerUser): run again",
    2150858843: "the shell is gone on the host (it timed out or was closed): run again",
}
IDENTIFY_NS = "http://schemas.dmtf.org/wbem/wsman/identity/1/wsmanidentity.xsd"
IDENTIFY = (f'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:wsmid="{IDENTIFY_NS}">'
            '<s:Header/><s:Body><wsmid:Identify/></s:Body></s:Envelope>')
_PS_QUOTES = "'\u2018\u2019\u201a\u201b"  # PowerShell treats all of these as single quotes


def ps_quote(arg: str) -> str:
    """`arg` as one PowerShell single-quoted string: `$(...)`, `;`, backticks stay data."""
    return "'" + "".join(c * 2 if c in _PS_QUOTES else c for c in arg) + "'"


def ps_command(argv: Iterable[str]) -> str:
    """A PowerShell line running `argv[0]` with every argument quoted as data."""
    parts = list(argv)
    return "& " + " ".join(ps_quote(p) for p in parts)


def clixml_text(stderr: str) -> str:
    """Windows PowerShell's CLIXML stderr as readable text: the first error record's message (with a
    count of the others), then any warnings. Text that is not CLIXML is returned unchanged."""
    if not stderr.lstrip().startswith("#< CLIXML"):
        return stderr
    errors: list[str] = []
    warnings: list[str] = []
    for block in re.findall(r"<Objs\b.*?</Objs>", stderr, re.S):
        try:
            root = ET.fromstring(block)
        except ET.ParseError:
            continue
        for node in root.iter():
            if node.tag.rpartition("}")[2] != "S" or node.text is None:
                continue
            kind = (node.get("S") or "").lower()
            if kind == "error":
                errors.append(_unescape(node.text))
            elif kind == "warning":
                warnings.append(_unescape(node.text).strip())
    records: list[list[str]] = [[]]
    for piece in "".join(errors).splitlines():
        if not piece.strip():
            if records[-1]:
                records.append([])
            continue
        records[-1].append(piece)
    records = [r for r in records if r]
    out: list[str] = []
    if records:
        message = [p.strip() for p in records[0]
                   if not p.lstrip().startswith("+ ") and not re.match(r"\s*At (line:|.+:\d+ char:)", p)]
        text = " ".join(m for m in message if m) or records[0][0].strip()
        if len(records) > 1:
            text += f" (and {len(records) - 1} more error{'s' if len(records) > 2 else ''})"
        out.append(text)
    out += [f"WARNING: {w}" for w in warnings if w]
    return "\n".join(out)


def _unescape(text: str) -> str:
    return re.sub(r"_x([0-9A-Fa-f]{4})_", lambda m: chr(int(m.group(1), 16)), text)


class WinRMTransport:
    """One host over WinRM: a shell opened at connect, every command in it, deleted at close."""

    def __init__(self, host: Host, options: TransportOptions, *, deadline: float | None = None) -> None:
        self.name = host.name
        self._host = host
        self._options = options
        self._deadline = deadline
        self.auth = str(self._var("winrm_transport") or "ntlm").lower()
        if self.auth == "ssl":
            self.auth = "basic"  # pywinrm's name for Basic over HTTPS
        if self.auth not in AUTH_METHODS:
            raise ConfigError(f"{self.name}: winrm_transport {self.auth!r} is not one of {', '.join(AUTH_METHODS)}")
        scheme = self._var("winrm_scheme")
        if scheme is None:
            scheme = "http" if host.port == 5985 else "https"
        self.scheme = str(scheme).lower()
        if self.scheme not in ("http", "https"):
            raise ConfigError(f"{self.name}: winrm_scheme {scheme!r} must be https or http")
        self.port = host.port or (5986 if self.scheme == "https" else 5985)
        self.address = host.address
        netloc = f"[{self.address}]" if ":" in self.address else self.address
        self.url = f"{self.scheme}://{netloc}:{self.port}/wsman"
        if self.auth == "basic" and self.scheme == "http" and not _truthy(self._var("winrm_allow_basic_http")):
            raise ConfigError(f"{self.name}: winrm_transport basic over http sends the password in clear; use "
                              "winrm_scheme: https, winrm_transport: ntlm, or set winrm_allow_basic_http: true")
        self._children = SecretCommands()
        self._proto: Any = None
        self._shell: str | None = None
        self._lock = threading.Lock()  # one command at a time in the shell
        self._state = threading.Lock()  # guards _closing / _running
        self._idle = threading.Event()
        self._idle.set()
        self._closing = False

    @property
    def user(self) -> str:
        return self._host.user or ""

    def _var(self, key: str) -> Any:
        value = self._host.var(key)
        return value if value is not None else self._host.var(f"ansible_{key}")

    # connection -------------------------------------------------------------------------------
    def connect(self) -> None:
        """Open the visit's shell; after close() too (HostContext.reconnect after a reboot: a new shell)."""
        with self._state:
            self._closing = False
        with self._lock:
            self._open_shell(self._end(None))

    def rearm(self, deadline: float | None) -> None:
        """A new visit on the kept transport (rmmctl watch): its deadline; the shell stays open for it."""
        self._deadline = deadline

    def _end(self, timeout: float | None) -> float:
        limit = timeout if timeout is not None else self._options.command_timeout
        end = time.monotonic() + limit
        if self._deadline is not None:
            if self._deadline <= time.monotonic():
                raise CommandTimeout(f"{self.name}: the host's deadline has passed")
            end = min(end, self._deadline)
        return end

    @property
    def client_cert(self) -> tuple[str, str] | None:
        """winrm_transport certificate: the (certificate, key) files; ConfigError naming a missing var."""
        if self.auth != "certificate":
            return None
        return client_certificate(self.name, self.scheme, self._var("winrm_cert_pem"), self._var("winrm_cert_key_pem"))

    def check_library(self) -> None:
        """ConfigError (one line: what to pip install) if the winrm_transport's library is missing here."""
        flag = {"credssp": "HAVE_CREDSSP", "kerberos": "HAVE_KERBEROS"}.get(self.auth)
        problem = missing_library(self.name, self.auth, bool(getattr(winrm.transport, flag, True)) if flag else True)
        if problem:
            raise ConfigError(problem)

    def _protocol(self, end: float) -> Any:
        if self._proto is not None:
            return self._proto
        self.check_library()
        cert = self.client_cert  # certificate auth: both files named and there, before anything is sent
        if not self._host.user and self.auth != "certificate":
            raise AuthError(f"{self.name}: no user for winrm; set user: in the inventory")
        password = self._password(end)
        if password is None and self.auth != "certificate":
            raise AuthError(f"{self.name}: no password for winrm_transport {self.auth}; "
                            "set password_env, password_cmd or password_keyring")
        ca = self._var("winrm_ca_trust_path")
        validation = str(self._var("winrm_server_cert_validation") or "validate").lower()
        kwargs: dict[str, Any] = {}
        if cert is not None:
            kwargs = {"cert_pem": cert[0], "cert_key_pem": cert[1]}
        transport = {"basic": "basic" if self.scheme == "http" else "ssl"}.get(self.auth, self.auth)
        try:
            proto = winrm.Protocol(
                self.url, transport=transport, username=self._host.user, password=password,
                ca_trust_path=str(Path(str(ca)).expanduser()) if ca else None,
                server_cert_validation="ignore" if validation == "ignore" else "validate",
                operation_timeout_sec=OPERATION_TIMEOUT_S, read_timeout_sec=OPERATION_TIMEOUT_S + READ_MARGIN_S,
                message_encryption="auto", **kwargs)
        except (WinRMError, InvalidCredentialsError, ValueError) as exc:
            raise AuthError(f"{self.name}: winrm_transport {self.auth} cannot be used: {exc}") from None
        # requests takes (connect, read): connect within the host's connect timeout, read past the poll.
        connect_s = float(self._host.var("connect_timeout") or self._options.connect_timeout)
        proto.transport.read_timeout_sec = (connect_s, OPERATION_TIMEOUT_S + READ_MARGIN_S)
        self._proto = proto
        return proto

    def _password(self, end: float) -> str | None:
        h = self._host
        literal = h.var("password")
        if literal:
            self._options.redactor.add(str(literal))
            return str(literal)
        return resolve_secret(h.name, env=h.var("password_env"), cmd=h.var("password_cmd"),
                              keyring_ref=h.var("password_keyring"), what="password",
                              redactor=self._options.redactor, deadline=end, children=self._children)

    def _open_shell(self, end: float) -> str:
        if self._shell is None:
            proto = self._protocol(end)
            self._shell = self._call(lambda: proto.open_shell(codepage=65001, noprofile=True), "opening a shell")
            log.debug("%s: shell %s opened at %s", self.name, self._shell, self.url)
        return self._shell

    def _call(self, fn: Any, what: str) -> Any:
        """One WS-Man exchange with its failures mapped onto rmmctl's errors (one line each)."""
        try:
            return fn()
        except InvalidCredentialsError:
            raise AuthError(self._auth_message()) from None
        except WSManFaultError as exc:
            code = exc.wsman_fault_code or exc.wmierror_code
            fix = FAULT_FIXES.get(code or 0)
            if code == 5:
                raise AuthError(f"{self.name}: WinRM refused {what}: access denied (WS-Man fault 5); {fix}") from None
            detail = f"; {fix}" if fix else f" ({(exc.reason or '').strip()[:200]})"
            raise ConnectError(f"{self.name}: WinRM refused {what}: WS-Man fault {code}{detail}") from None
        except WinRMTransportError as exc:
            if exc.code == 500:
                raise ConnectError(f"{self.name}: WinRM answered 500 to {what} (no WS-Man fault): the service "
                                   "failed; is message encryption required (use ntlm, not basic, over http)?") from None
            raise ConnectError(f"{self.name}: WinRM answered HTTP {exc.code} to {what}; "
                               "check the port and winrm_scheme") from None
        except requests.exceptions.SSLError as exc:
            refused = client_cert_refused(self.name, self.auth, self._var("winrm_cert_pem"), str(exc))
            if refused:
                raise AuthError(refused) from None
            raise ConnectError(f"{self.name}: TLS to {self.address}:{self.port} failed ({_tls_reason(exc)}); set "
                               "winrm_ca_trust_path to the CA that signed the listener certificate") from None
        except requests.exceptions.ConnectTimeout:
            raise ConnectError(f"{self.name}: no answer from {self.address}:{self.port}; host down or "
                               "port filtered (WinRM listens on 5985 http, 5986 https)") from None
        except requests.exceptions.ReadTimeout:
            raise CommandTimeout(f"{self.name}: WinRM did not answer {what} in time") from None
        except requests.exceptions.ConnectionError as exc:
            if "refused" in str(exc).lower():
                raise ConnectError(f"{self.name}: connection refused by {self.address}:{self.port}; is a WinRM "
                                   "listener there? (`winrm quickconfig` on the host, or check port/winrm_scheme)") from None
            raise ConnectError(f"{self.name}: cannot connect to {self.address}:{self.port}: "
                               f"{_short(exc)}") from None
        except WinRMError as exc:
            raise ConnectError(f"{self.name}: WinRM error while {what}: {exc}") from None
        except Exception as exc:
            if credssp_failure(exc) is None:  # requests-credssp raises its own from inside requests
                raise
            raise AuthError(self._auth_message()) from None

    def _auth_message(self) -> str:
        return rejected(self.name, self.auth, self.user, self._offered(), self._var("winrm_cert_pem"))

    def offered(self) -> list[str]:
        """The auth methods the server offers (WWW-Authenticate of an unauthenticated POST)."""
        return self._offered()

    @property
    def verify(self) -> bool | str:
        """What requests verifies the listener certificate against (False: winrm_server_cert_validation ignore)."""
        if str(self._var("winrm_server_cert_validation") or "validate").lower() == "ignore":
            return False
        ca = self._var("winrm_ca_trust_path")
        return str(Path(str(ca)).expanduser()) if ca else True

    def identify(self) -> dict[str, str]:
        """An unauthenticated WS-Man Identify (header WSMANIDENTIFY: unauthenticated): the protocol version,
        vendor and product version the server names. Errors as one line (ConnectError)."""
        def post() -> dict[str, str]:
            resp = requests.post(self.url, data=IDENTIFY.encode(), verify=self.verify, cert=self.client_cert,
                                 timeout=(self._options.connect_timeout, 15),
                                 headers={"Content-Type": "application/soap+xml;charset=UTF-8",
                                          "WSMANIDENTIFY": "unauthenticated"})
            if resp.status_code != 200:
                raise ConnectError(f"{self.name}: Identify answered HTTP {resp.status_code}: no WS-Man service "
                                   f"on {self.address}:{self.port}")
            try:
                root = ET.fromstring(resp.content)
            except ET.ParseError:
                raise ConnectError(f"{self.name}: {self.address}:{self.port} answers HTTP but not WS-Man "
                                   "(the Identify reply is not XML)") from None
            found = {n.tag.rpartition("}")[2]: (n.text or "").strip() for n in root.iter()
                     if n.tag.startswith("{" + IDENTIFY_NS)}
            if "ProtocolVersion" not in found:
                raise ConnectError(f"{self.name}: {self.address}:{self.port} answers but not with a WS-Man "
                                   "IdentifyResponse")
            return found
        return self._call(post, "Identify")

    def authenticate(self) -> None:
        """One authenticated Identify with the configured winrm_transport (and its message encryption):
        AuthError if the login is refused, ConnectError (a 500) if the body's protection is refused."""
        end = self._end(None)
        proto = self._protocol(end)
        self._call(lambda: proto.transport.send_message(IDENTIFY), "an authenticated Identify")

    def check_shell(self) -> str:
        """Create a shell and delete it again: its id (a quota fault says MaxShellsPerUser)."""
        with self._lock:
            shell = self._open_shell(self._end(None))
            self._shell = None
            proto = self._proto
            self._call(lambda: proto.close_shell(shell, close_session=False), "deleting the shell")
        return shell

    def _offered(self) -> list[str]:
        """The WWW-Authenticate values of an unauthenticated POST (pywinrm's 401 error drops them)."""
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # an unverified https request: only its headers are read
                resp = requests.post(self.url, data=b"", timeout=(self._options.connect_timeout, 10),
                                     verify=False if self.scheme == "https" else True, cert=self.client_cert,
                                     headers={"Content-Type": "application/soap+xml;charset=UTF-8"})
        except requests.RequestException:
            return []
        raw = resp.raw.headers.getlist("WWW-Authenticate") if hasattr(resp.raw.headers, "getlist") else []
        return list(raw) or [v.strip() for v in resp.headers.get("WWW-Authenticate", "").split(",") if v.strip()]

    # commands ---------------------------------------------------------------------------------
    def run(
        self,
        command: str,
        *,
        stdin: bytes | str | None = None,
        timeout: float | None = None,
        become: bool = False,
        interpreter: str = "powershell",
    ) -> CommandResult:
        """Run a PowerShell script (`command`) in the host's shell; `stdin` is piped into it as text.
        `become` changes nothing: a WinRM logon already has the account's full token.
        interpreter="cmd": `command` is one cmd.exe command line, run as WinRS runs it (`cmd /c`), with
        cmd.exe's own 8191-character limit; `stdin` is its standard input."""
        if interpreter not in ("powershell", "cmd"):
            raise ConfigError(f"{self.name}: unknown interpreter {interpreter!r} (powershell or cmd)")
        data = stdin.decode("utf-8", "replace") if isinstance(stdin, bytes) else stdin
        if interpreter == "cmd":
            if len(command) > CMD_LIMIT:
                raise ConfigError(f"{self.name}: the cmd.exe command line is {len(command)} characters; cmd.exe "
                                  f"takes at most {CMD_LIMIT}: run it as PowerShell (without --cmd), which has no limit")
            payload = data.encode() if data is not None else b""
        else:
            payload = base64.b64encode(command.encode()) + b"\n"
            if data is not None:
                payload += base64.b64encode(data.encode()) + b"\n"
        with self._lock:
            end = self._end(timeout)
            limit = end - time.monotonic()
            with self._state:
                if self._closing:
                    raise ConnectError(f"{self.name}: interrupted; not starting another command")
                self._idle.clear()
            try:
                return self._run(command, payload, end, limit, cmd=interpreter == "cmd")
            finally:
                self._idle.set()

    def _run(self, command: str, payload: bytes, end: float, limit: float, *, cmd: bool = False) -> CommandResult:
        started = time.monotonic()
        shell = self._open_shell(end)
        proto = self._proto
        line, skip = (command, False) if cmd else (BOOTSTRAP_COMMAND, True)
        cid = self._call(lambda: proto.run_command(shell, line, console_mode_stdin=False, skip_cmd_shell=skip),
                         "starting a command")
        out, err = Capped(self._options.max_output), Capped(self._options.max_output)
        try:
            if cmd and not payload:  # nothing to feed: close stdin so the command never waits on it
                self._call(lambda: proto.send_command_input(shell, cid, b"", end=True), "closing stdin")
            for i in range(0, len(payload), SEND_CHUNK):
                part = payload[i:i + SEND_CHUNK]
                last = i + SEND_CHUNK >= len(payload)
                self._call(lambda: proto.send_command_input(shell, cid, part, end=last), "sending stdin")
            code = self._receive(shell, cid, end, out, err)
        except KeyboardInterrupt:  # Ctrl-C in this thread (rmmctl shell's prompt): stop the command, keep the shell
            self._terminate(shell, cid)
            raise
        except BaseException:  # a failure in this thread
            self._abandon(shell, cid)  # a deadline or a failure: terminate, delete the shell
            raise
        if code is None:
            self._abandon(shell, cid)
            raise ConnectError(f"{self.name}: interrupted; the command was stopped on the host")
        if code == "timeout":
            self._abandon(shell, cid)
            raise CommandTimeout(f"{self.name}: command did not finish within {limit:.1f} s; it was "
                                 "terminated and its shell deleted")
        try:  # Signal terminate after every command, as WinRS expects: it frees the command's quota
            self._call(lambda: proto.cleanup_command(shell, cid), "ending the command")
        except (ConnectError, CommandTimeout) as exc:
            log.debug("%s: terminate after the command failed: %s", self.name, exc)
        return CommandResult(command=command, exit_code=code, stdout=out.text(), stderr=clixml_text(err.text()),
                             duration_s=time.monotonic() - started, stdout_truncated_bytes=out.dropped,
                             stderr_truncated_bytes=err.dropped)

    def _receive(self, shell: str, cid: str, end: float, out: Capped, err: Capped) -> int | str | None:
        """Poll Receive until Done: the exit code; None if close() interrupted it, "timeout" past `end`."""
        proto = self._proto
        while True:
            if self._closing:
                return None
            remaining = end - time.monotonic()
            if remaining <= 0:
                return "timeout"
            proto.operation_timeout_sec = max(1, min(OPERATION_TIMEOUT_S, math.ceil(remaining)))
            try:
                o, e, code, done = self._call(lambda: proto.get_command_output_raw(shell, cid), "reading output")
            except WinRMOperationTimeoutError:
                continue  # the long poll ended without output: the command still runs
            except CommandTimeout:
                if time.monotonic() >= end:
                    return "timeout"
                raise
            out.add(o)
            err.add(e)
            if done:
                return int(code)

    def _terminate(self, shell: str, cid: str) -> None:
        """Signal terminate to one command (best effort); the shell stays for the next command."""
        self._proto.operation_timeout_sec = OPERATION_TIMEOUT_S
        try:
            self._proto.cleanup_command(shell, cid)
        except Exception as exc:  # noqa: BLE001 - if it failed, close() deletes the shell and its commands
            log.debug("%s: terminate failed: %s", self.name, exc)

    def _abandon(self, shell: str, cid: str) -> None:
        """Terminate the command and delete the shell (the next command opens a new one)."""
        proto = self._proto
        proto.operation_timeout_sec = OPERATION_TIMEOUT_S
        for what, fn in (("terminate", lambda: proto.cleanup_command(shell, cid)),
                         ("delete the shell", lambda: proto.close_shell(shell, close_session=False))):
            try:
                fn()
            except Exception as exc:  # noqa: BLE001 - best effort; the shell's idle timeout is the backstop
                log.debug("%s: %s failed: %s", self.name, what, exc)
        self._shell = None

    def put(self, local: Path, remote: str, *, mode: int = 0o644) -> None:
        """Copy a file to `remote` (base64 over stdin; `mode` has no meaning on Windows)."""
        try:
            data = local.read_bytes()
        except OSError as exc:
            raise TransportError(f"{self.name}: put {remote}: cannot read {local}: {exc.strerror or exc}") from None
        script = ("$b = [Convert]::FromBase64String((@($input) -join '').Trim()); "
                  f"[IO.File]::WriteAllBytes({ps_quote(remote)}, $b)")
        res = self.run(script, stdin=base64.b64encode(data).decode())
        if not res.ok:
            raise TransportError(f"{self.name}: put {remote} failed: {res.stderr.strip() or res.exit_code}")

    def get(self, remote: str, local: Path) -> None:
        """Copy the file `remote` to `local` (base64 over stdout)."""
        res = self.run(f"[Convert]::ToBase64String([IO.File]::ReadAllBytes({ps_quote(remote)}))")
        if not res.ok or res.truncated:
            why = "too large for one command" if res.truncated else (res.stderr.strip() or res.exit_code)
            raise TransportError(f"{self.name}: get {remote} failed: {why}")
        try:
            local.write_bytes(base64.b64decode(res.stdout.strip()))
        except (OSError, ValueError) as exc:
            raise TransportError(f"{self.name}: get {remote}: cannot write {local}: {exc}") from None

    def close(self) -> None:
        """Delete the shell (idempotent, safe from another thread: a running command is stopped first)."""
        with self._state:
            self._closing = True
        self._children.kill()
        if not self._idle.wait(OPERATION_TIMEOUT_S + READ_MARGIN_S):
            log.debug("%s: a command is still running at close", self.name)
        shell, proto = self._shell, self._proto
        self._shell = None
        if shell is not None and proto is not None:
            try:
                proto.close_shell(shell, close_session=False)
            except Exception as exc:  # noqa: BLE001 - close never raises
                log.debug("%s: deleting shell %s failed: %s", self.name, shell, exc)
        if proto is not None:
            try:
                proto.transport.close_session()
            except Exception:  # noqa: BLE001
                pass


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() in ("1", "true", "yes", "on")


def _short(exc: BaseException) -> str:
    text = str(exc)
    m = re.search(r"\] ([^'\")]+)", text)
    return (m.group(1) if m else text).strip()[:160]


def _tls_reason(exc: BaseException) -> str:
    text = str(exc)
    for pattern, reason in (("hostname mismatch|doesn't match|not valid for", "the certificate names another host"),
                            ("self.signed|unable to get local issuer|unknown ca|CERTIFICATE_VERIFY_FAILED",
                             "certificate not signed by a trusted CA"),
                            ("expired", "the certificate has expired")):
        if re.search(pattern, text, re.I):
            return reason
    return _short(exc)
