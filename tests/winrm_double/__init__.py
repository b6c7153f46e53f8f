"""A WS-Management (WinRS) test double: a real HTTP server on 127.0.0.1 speaking the SOAP shell actions
(Create, Command, Send, Receive, Signal, Delete) to the real pywinrm client. research/winrm.md §3.2.

It "runs" PowerShell with a handler per test: `handler(Invocation) -> Result`. The stdin bootstrap's
script arrives decoded in `Invocation.stdin`. Every request is recorded in `.log` (action names), and
`.shells` holds the shells still open, so a test can assert nothing leaked. Auth: Basic over HTTP, or
NTLM (a pyspnego acceptor per TCP connection) with real HTTP message encryption: after the handshake
every body must be sealed ([MS-WSMV] 2.2.9.1), a plain one gets a 500 (`AllowUnencrypted=false`).
CredSSP the same way (pyspnego's CredSSP acceptor: its own TLS inside the HTTP auth, NTLM within it, the
bodies sealed with its TLS channel, over 16 KiB as multipart/x-multi-encrypted chunks). Certificate auth
over HTTPS: a client certificate signed by `client_ca` is required at the handshake and mapped to a user
by its subject CN (`cert_users`), as `New-Item WSMan:\\localhost\\ClientCertificate` does on Windows.
"""

from __future__ import annotations

import base64
import os
import re
import struct
import tempfile
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "a": "http://schemas.xmlsoap.org/ws/2004/08/addressing",
    "w": "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd",
    "rsp": "http://schemas.microsoft.com/wbem/wsman/1/windows/shell",
}
SHELL_URI = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"
TIMED_OUT = 2150858793
CMD_LIMIT = 8191
BOUNDARY = b"--Encrypted Boundary"
IDENTIFY_NS = "http://schemas.dmtf.org/wbem/wsman/identity/1/wsmanidentity.xsd"
SPNEGO_ENC = "application/HTTP-SPNEGO-session-encrypted"
CREDSSP_ENC = "application/HTTP-CredSSP-session-encrypted"
SIXTEEN_KB = 16384  # CredSSP seals bodies in chunks of at most this
MUTUAL = "http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/https/mutual"  # certificate auth's header
SCHEMES = {"ntlm": ("negotiate", "ntlm"), "credssp": ("credssp",)}


@dataclass
class Invocation:
    command_line: str  # Command + Arguments as cmd.exe would see them
    stdin: bytes = b""  # every byte Sent, as received
    encoded: str = ""  # the -EncodedCommand decoded (UTF-16LE), if any
    script: str = ""  # rmmctl's bootstrap: the script that came over stdin (else the encoded command)
    data: str | None = None  # rmmctl's bootstrap: the text piped into the script, if any

    def finish_stdin(self) -> None:
        """Decode rmmctl's bootstrap framing: base64(UTF-8 script) LF [base64(UTF-8 data) LF]."""
        if "# rmmctl-bootstrap@" not in self.encoded:
            return
        lines = self.stdin.decode("ascii").split("\n")
        self.script = base64.b64decode(lines[0].strip()).decode("utf-8")
        if len(lines) > 1 and lines[1].strip():
            self.data = base64.b64decode(lines[1].strip()).decode("utf-8")


@dataclass
class Result:
    stdout: bytes | str = b""
    stderr: bytes | str = b""
    rc: int = 0
    timeouts_first: int = 0  # Receives answered with the OperationTimeout fault before any output
    chunk: int = 0  # bytes per Receive (0: all at once)
    hang: bool = False  # never finishes: every Receive times out until Signal terminate


@dataclass
class _Command:
    inv: Invocation
    stdin_done: bool = False
    result: Result | None = None
    out: bytes = b""
    err: bytes = b""
    sent: int = 0


@dataclass
class _Shell:
    codepage: str
    commands: dict[str, _Command] = field(default_factory=dict)


class FakeWinRM:
    def __init__(self, handler: Callable[[Invocation], Result], *, user: str = "rmm", password: str = "s3cret",
                 offered: tuple[str, ...] | None = None, basic: bool = True,
                 auth: str = "basic", tls: tuple[str, str] | None = None, max_shells: int = 30,
                 latency_s: float = 0.0, client_ca: str | None = None,
                 cert_users: dict[str, str] | None = None, tls12: bool = False) -> None:
        if offered is None:
            offered = ("Negotiate", 'Basic realm="WSMAN"') + (("CredSSP",) if auth == "credssp" else ())
        if auth == "certificate" and (tls is None or client_ca is None):
            raise ValueError("certificate auth needs tls= (the listener) and client_ca= (who signs client certs)")
        self.handler = handler
        self.latency_s = latency_s  # added before every reply: a WAN round trip (benchmarks)
        self.requests = 0  # HTTP requests answered (auth legs included)
        self.auth = auth  # basic | ntlm | credssp | certificate
        self.cert_users = dict(cert_users or {})  # client certificate subject CN -> user (the host's mapping)
        self.cert_logins: list[str] = []  # the user each certificate-authenticated request ran as
        self.max_shells = max_shells  # MaxShellsPerUser: a Create past it gets the quota fault
        self.encrypted: list[bool] = []  # per SOAP request: did it come sealed?
        self.sealed_kinds: list[str] = []  # per sealed request: multipart/encrypted or multipart/x-multi-encrypted
        self.user, self.password = user, password
        self.offered = offered
        self.basic = basic  # False: Basic is not enabled (401 with only the other methods offered)
        self.log: list[str] = []  # action short names, in order
        self.shells: dict[str, _Shell] = {}
        self.created = 0
        self.codepages: list[str] = []  # WINRS_CODEPAGE of every shell created
        self.signals: list[str] = []
        self.invocations: list[Invocation] = []
        self.lock = threading.Lock()
        double = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # the reply's headers and body leave in two writes: with Nagle on, the body waits for the
            # client's delayed ACK (40 ms per request on Linux), which no WinRM server does
            disable_nagle_algorithm = True

            def log_message(self, *args: object) -> None:
                pass

            ctx: Any = None  # the NTLM acceptor of this TCP connection

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with double.lock:
                    double.requests += 1
                if double.latency_s:
                    time.sleep(double.latency_s)
                if self.headers.get("WSMANIDENTIFY", "").lower() == "unauthenticated" and b"Identify" in body:
                    with double.lock:
                        double.log.append("Identify")
                    self._reply(200, double.identify().encode(),
                                [("Content-Type", "application/soap+xml;charset=UTF-8")])
                    return
                if double.auth in SCHEMES:
                    self._session(body)
                    return
                if double.auth == "certificate":
                    self._certificate(body)
                    return
                expected = "Basic " + base64.b64encode(f"{double.user}:{double.password}".encode()).decode()
                if not double.basic or self.headers.get("Authorization") != expected:
                    self._reply(401, b"", [("WWW-Authenticate", m) for m in double.offered
                                           if double.basic or not m.startswith("Basic")])
                    return
                status, xml = double.dispatch(body)
                self._reply(status, xml.encode(), [("Content-Type", "application/soap+xml;charset=UTF-8")])

            def _session(self, body: bytes) -> None:
                """NTLM or CredSSP: a pyspnego acceptor per TCP connection, then every body sealed."""
                import spnego

                header = self.headers.get("Authorization", "")
                scheme, _, token = header.partition(" ")
                if scheme.lower() in SCHEMES[double.auth] and token:
                    if self.ctx is None or self.ctx.complete:
                        self.ctx = spnego.server(protocol=double.auth)
                    try:
                        out = self.ctx.step(base64.b64decode(token))
                    except spnego.exceptions.SpnegoError:  # a wrong password: the handshake fails
                        self.ctx = None
                        self._reply(401, b"", [("WWW-Authenticate", m) for m in double.offered])
                        return
                    if not self.ctx.complete:  # (CredSSP: a wrong password is a TSRequest with its NTSTATUS)
                        self._reply(401, b"", [("WWW-Authenticate", f"{scheme} {base64.b64encode(out or b'').decode()}")])
                        return
                    if not body:  # pywinrm's empty POST that finishes the handshake before encryption
                        self._reply(200, b"", [])
                        return
                elif self.ctx is None or not self.ctx.complete:
                    self._reply(401, b"", [("WWW-Authenticate", m) for m in double.offered])
                    return
                protocol = SPNEGO_ENC if double.auth == "ntlm" else CREDSSP_ENC
                kind = self.headers.get("Content-Type", "")
                if not re.match(r"multipart/(x-multi-)?encrypted;", kind) or f'protocol="{protocol}"' not in kind:
                    with double.lock:
                        double.encrypted.append(False)
                    self._reply(500, b"", [])  # AllowUnencrypted=false
                    return
                with double.lock:
                    double.encrypted.append(True)
                    double.sealed_kinds.append(kind.split(";")[0])
                status, xml = double.dispatch(_unseal(self.ctx, body))
                data = xml.encode()
                chunk = SIXTEEN_KB if double.auth == "credssp" else len(data) or 1
                multi = "x-multi-encrypted" if len(data) > chunk else "encrypted"
                self._reply(status, _seal(self.ctx, data, protocol, chunk), [(
                    "Content-Type", f'multipart/{multi};protocol="{protocol}";boundary="Encrypted Boundary"')])

            def _certificate(self, body: bytes) -> None:
                """The handshake already checked the certificate's CA; here its subject must map to a user."""
                peer = self.connection.getpeercert() or {}  # type: ignore[attr-defined]
                cn = next((v for rdn in peer.get("subject", ()) for k, v in rdn if k == "commonName"), None)
                user = double.cert_users.get(cn or "")
                if self.headers.get("Authorization") != MUTUAL or user is None:
                    self._reply(401, b"", [("WWW-Authenticate", m) for m in double.offered])
                    return
                with double.lock:
                    double.cert_logins.append(user)
                status, xml = double.dispatch(body)
                self._reply(status, xml.encode(), [("Content-Type", "application/soap+xml;charset=UTF-8")])

            def _reply(self, status: int, data: bytes, headers: list[tuple[str, str]]) -> None:
                self.send_response(status)
                for k, v in headers:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        if tls is not None:  # HTTPS with this (certificate file, key file)
            import ssl

            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            if tls12:  # as Windows Server 2016/2019 listeners: a client certificate is refused inside the handshake
                context.maximum_version = ssl.TLSVersion.TLSv1_2
            if auth == "certificate":  # a client certificate signed by client_ca, or no handshake
                context.verify_mode = ssl.CERT_REQUIRED
                context.load_verify_locations(cafile=client_ca)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}/wsman"
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True, name="fake-winrm")

    def __enter__(self) -> FakeWinRM:
        self._saved_user_file = os.environ.get("NTLM_USER_FILE")
        if self.auth in SCHEMES:  # pyspnego's acceptor (CredSSP's NTLM too) reads its accounts from this file
            fd, self._user_file = tempfile.mkstemp(prefix="fake-winrm-ntlm-")
            with os.fdopen(fd, "w") as fh:
                domain, _, name = self.user.rpartition("\\")  # DOMAIN\user logs in as that domain's user
                fh.write(f"{domain}:{name}:{self.password}\n")
            os.environ["NTLM_USER_FILE"] = self._user_file
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        if self.auth in SCHEMES:
            os.unlink(self._user_file)
            if self._saved_user_file is None:
                os.environ.pop("NTLM_USER_FILE", None)
            else:
                os.environ["NTLM_USER_FILE"] = self._saved_user_file

    # SOAP ---------------------------------------------------------------------------------------
    def dispatch(self, body: bytes) -> tuple[int, str]:
        root = ET.fromstring(body)
        if root.find(f"s:Body/{{{IDENTIFY_NS}}}Identify", NS) is not None:  # an authenticated Identify
            with self.lock:
                self.log.append("Identify")
            return 200, self.identify()
        header = root.find("s:Header", NS)
        assert header is not None
        action = header.findtext("a:Action", "", NS).rsplit("/", 1)[-1]
        msg_id = header.findtext("a:MessageID", "", NS)
        resource = header.findtext("w:ResourceURI", "", NS)
        with self.lock:
            self.log.append(action)
        if not resource.endswith("/windows/shell/cmd"):
            return self.fault(msg_id, "w:ActionNotSupported", 2150858754, "unknown resource URI")
        options = {o.get("Name"): o.text for o in header.iterfind("w:OptionSet/w:Option", NS)}
        shell_id = next((s.text for s in header.iterfind("w:SelectorSet/w:Selector", NS)
                         if s.get("Name") == "ShellId"), None)
        bodyel = root.find("s:Body", NS)
        if action == "Create":
            if len(self.shells) >= self.max_shells:
                return self.fault(msg_id, "w:QuotaLimit", 2150859173, "The WS-Management service cannot process "
                                  "the request. This user is allowed a maximum number of "
                                  f"{self.max_shells} concurrent shells, which has been exceeded.")
            sid = str(uuid.uuid4()).upper()
            with self.lock:
                self.shells[sid] = _Shell(codepage=options.get("WINRS_CODEPAGE") or "437")
                self.created += 1
                self.codepages.append(options.get("WINRS_CODEPAGE") or "437")
            return 200, self.envelope(msg_id, "http://schemas.xmlsoap.org/ws/2004/09/transfer/CreateResponse",
                                      f'<x:ResourceCreated><a:Address>{self.url}</a:Address><a:ReferenceParameters>'
                                      f'<w:ResourceURI>{SHELL_URI}/cmd</w:ResourceURI><w:SelectorSet>'
                                      f'<w:Selector Name="ShellId">{sid}</w:Selector></w:SelectorSet>'
                                      f'</a:ReferenceParameters></x:ResourceCreated>'
                                      f'<rsp:Shell><rsp:ShellId>{sid}</rsp:ShellId></rsp:Shell>')
        shell = self.shells.get(shell_id or "")
        if shell is None:
            return self.fault(msg_id, "w:InvalidSelectors", 2150858843, "The request for the Windows Remote Shell "
                              "with ShellId failed because the shell was not found on the server.")
        if action == "Delete":
            with self.lock:
                self.shells.pop(shell_id or "", None)
            return 200, self.envelope(msg_id, "http://schemas.xmlsoap.org/ws/2004/09/transfer/DeleteResponse", "")
        assert bodyel is not None
        if action == "Command":
            line = bodyel.find("rsp:CommandLine", NS)
            assert line is not None
            cmdline = (line.findtext("rsp:Command", "", NS) + " " + line.findtext("rsp:Arguments", "", NS)).strip()
            inv = Invocation(cmdline)
            m = re.search(r"-(?:EncodedCommand|enc)\s+(\S+)", cmdline, re.I)
            if m:
                inv.encoded = inv.script = base64.b64decode(m.group(1)).decode("utf-16-le")
            cid = str(uuid.uuid4()).upper()
            cmd = _Command(inv, stdin_done="# rmmctl-bootstrap@" not in inv.encoded)  # else it reads stdin first
            if options.get("WINRS_SKIP_CMD_SHELL", "FALSE").upper() != "TRUE" and len(cmdline) > CMD_LIMIT:
                cmd.stdin_done = True
                cmd.result = Result(stderr=b"The command line is too long.\r\n", rc=1)
            shell.commands[cid] = cmd
            with self.lock:
                self.invocations.append(inv)
            return 200, self.envelope(msg_id, f"{SHELL_URI}/CommandResponse",
                                      f"<rsp:CommandResponse><rsp:CommandId>{cid}</rsp:CommandId></rsp:CommandResponse>")
        if action == "Send":
            stream = bodyel.find("rsp:Send/rsp:Stream", NS)
            assert stream is not None
            cmd = shell.commands.get(stream.get("CommandId", ""))
            if cmd is None:
                return self.fault(msg_id, "w:InvalidSelectors", 2150858843, "unknown CommandId")
            cmd.inv.stdin += base64.b64decode(stream.text or "")
            if stream.get("End", "false").lower() == "true":
                cmd.stdin_done = True
                cmd.inv.finish_stdin()
            return 200, self.envelope(msg_id, f"{SHELL_URI}/SendResponse", "<rsp:SendResponse/>")
        if action == "Signal":
            sig = bodyel.find("rsp:Signal", NS)
            assert sig is not None
            cid = sig.get("CommandId", "")
            with self.lock:
                self.signals.append(sig.findtext("rsp:Code", "", NS).rsplit("/", 1)[-1])
            shell.commands.pop(cid, None)
            return 200, self.envelope(msg_id, f"{SHELL_URI}/SignalResponse", "<rsp:SignalResponse/>")
        if action == "Receive":
            desired = bodyel.find("rsp:Receive/rsp:DesiredStream", NS)
            assert desired is not None
            cid = desired.get("CommandId", "")
            cmd = shell.commands.get(cid)
            if cmd is None:
                return self.fault(msg_id, "w:InvalidSelectors", 2150858843, "unknown CommandId")
            return self.receive(msg_id, cid, cmd)
        return self.fault(msg_id, "w:ActionNotSupported", 2150858754, f"action {action} not supported")

    def receive(self, msg_id: str, cid: str, cmd: _Command) -> tuple[int, str]:
        if not cmd.stdin_done and cmd.result is None:
            time.sleep(0.05)  # still waiting for stdin: the command produces nothing yet
            return self.timed_out(msg_id)
        if cmd.result is None:
            res = self.handler(cmd.inv)
            cmd.result = res
            cmd.out = res.stdout.encode() if isinstance(res.stdout, str) else res.stdout
            cmd.err = res.stderr.encode() if isinstance(res.stderr, str) else res.stderr
        res = cmd.result
        if res.hang or res.timeouts_first > 0:
            res.timeouts_first -= 1
            time.sleep(0.05)
            return self.timed_out(msg_id)
        step = res.chunk or max(len(cmd.out), len(cmd.err), 1)
        out = cmd.out[cmd.sent:cmd.sent + step]
        err = cmd.err[cmd.sent:cmd.sent + step]
        cmd.sent += step
        done = cmd.sent >= max(len(cmd.out), len(cmd.err))
        streams = ""
        for name, data in (("stdout", out), ("stderr", err)):
            if data:
                streams += f'<rsp:Stream Name="{name}" CommandId="{cid}">{base64.b64encode(data).decode()}</rsp:Stream>'
            if done:
                streams += f'<rsp:Stream Name="{name}" CommandId="{cid}" End="true"></rsp:Stream>'
        state = (f'<rsp:CommandState CommandId="{cid}" State="{SHELL_URI}/CommandState/Done">'
                 f'<rsp:ExitCode>{res.rc}</rsp:ExitCode></rsp:CommandState>' if done else
                 f'<rsp:CommandState CommandId="{cid}" State="{SHELL_URI}/CommandState/Running"/>')
        return 200, self.envelope(msg_id, f"{SHELL_URI}/ReceiveResponse",
                                  f"<rsp:ReceiveResponse>{streams}{state}</rsp:ReceiveResponse>")

    def identify(self) -> str:
        """The IdentifyResponse as Windows gives it unauthenticated (no OS version)."""
        return (f'<s:Envelope xmlns:s="{NS["s"]}" xmlns:wsmid="{IDENTIFY_NS}"><s:Header/><s:Body>'
                '<wsmid:IdentifyResponse><wsmid:ProtocolVersion>http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd'
                '</wsmid:ProtocolVersion><wsmid:ProductVendor>Microsoft Corporation</wsmid:ProductVendor>'
                '<wsmid:ProductVersion>OS: 0.0.0 SP: 0.0 Stack: 3.0</wsmid:ProductVersion>'
                '</wsmid:IdentifyResponse></s:Body></s:Envelope>')

    def timed_out(self, msg_id: str) -> tuple[int, str]:
        return self.fault(msg_id, "w:TimedOut", TIMED_OUT, "The WS-Management service cannot complete the "
                          "operation within the time specified in OperationTimeout.")

    def fault(self, msg_id: str, subcode: str, code: int, text: str) -> tuple[int, str]:
        return 500, self.envelope(
            msg_id, "http://schemas.dmtf.org/wbem/wsman/1/wsman/fault",
            f'<s:Fault><s:Code><s:Value>s:Receiver</s:Value><s:Subcode><s:Value>{subcode}</s:Value></s:Subcode>'
            f'</s:Code><s:Reason><s:Text xml:lang="en-US">{text}</s:Text></s:Reason><s:Detail>'
            f'<f:WSManFault xmlns:f="http://schemas.microsoft.com/wbem/wsman/1/wsmanfault" Code="{code}" '
            f'Machine="fake"><f:Message>{text}</f:Message></f:WSManFault></s:Detail></s:Fault>')

    def envelope(self, msg_id: str, action: str, body: str) -> str:
        return (f'<s:Envelope xmlns:s="{NS["s"]}" xmlns:a="{NS["a"]}" xmlns:w="{NS["w"]}" xmlns:rsp="{NS["rsp"]}" '
                f'xmlns:x="http://schemas.xmlsoap.org/ws/2004/09/transfer" xml:lang="en-US"><s:Header>'
                f'<a:Action>{action}</a:Action><a:MessageID>uuid:{uuid.uuid4()}</a:MessageID>'
                f'<a:To>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:To>'
                f'<a:RelatesTo>{msg_id}</a:RelatesTo></s:Header><s:Body>{body}</s:Body></s:Envelope>')


def _unseal(ctx: Any, body: bytes) -> bytes:
    """The SOAP text of a multipart/encrypted body: each (OriginalContent, sealed) pair unwrapped and its
    Length checked (CredSSP sends bodies over 16 KiB as several pairs: multipart/x-multi-encrypted)."""
    parts = [p for p in body.split(BOUNDARY + b"\r\n") if p]
    plain = b""
    for i in range(0, len(parts) - 1, 2):
        length = int(parts[i].split(b"Length=")[1].strip())
        payload = parts[i + 1]
        if payload.endswith(BOUNDARY + b"--\r\n"):
            payload = payload[: -len(BOUNDARY + b"--\r\n")]
        payload = payload.replace(b"\tContent-Type: application/octet-stream\r\n", b"", 1)
        sig_len = struct.unpack("<I", payload[:4])[0]  # NTLM: the signature's length; CredSSP: the TLS trailer's
        piece = ctx.unwrap_winrm(payload[4:4 + sig_len], payload[4 + sig_len:])
        assert len(piece) == length, "OriginalContent Length does not match the sealed message"
        plain += piece
    assert parts and plain, "an encrypted body without a sealed part"
    return plain


def _seal(ctx: Any, data: bytes, protocol: str = SPNEGO_ENC, chunk: int = 0) -> bytes:
    out = b""
    chunk = chunk or len(data) or 1
    for i in range(0, max(len(data), 1), chunk):
        piece = data[i:i + chunk]
        wrapped = ctx.wrap_winrm(piece)
        out += (BOUNDARY + b"\r\n\tContent-Type: " + protocol.encode() + b"\r\n"
                b"\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length=" + str(len(piece)).encode() +
                b"\r\n" + BOUNDARY + b"\r\n\tContent-Type: application/octet-stream\r\n" +
                struct.pack("<I", len(wrapped.header)) + wrapped.header + wrapped.data)
    return out + BOUNDARY + b"--\r\n"


def self_signed(folder: Any, name: str = "127.0.0.1") -> tuple[str, str]:
    """A self-signed certificate (its own CA) for `name` (an IP address or a DNS name): (cert file, key file)
    in `folder`."""
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake-winrm")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([_alt_name(x509, ipaddress, name)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = f"{folder}/winrm-cert.pem", f"{folder}/winrm-key.pem"
    with open(cert_file, "wb") as fh:
        fh.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(key_file, "wb") as fh:
        fh.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                   serialization.NoEncryption()))
    return cert_file, key_file


def _alt_name(x509: Any, ipaddress: Any, name: str) -> Any:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)
