"""Real receivers on 127.0.0.1 for the alert tests: an SMTP server (aiosmtpd) and an HTTP server (stdlib).

    with SmtpSink() as smtp, HookSink() as hook:
        smtp.port, hook.url
        smtp.messages      # email.message.Message objects, in arrival order
        hook.requests      # (headers, body bytes) in arrival order
        smtp.refuse = True # answer DATA with 451: the send fails (a temporary failure)
        hook.status = 500  # answer every POST with this status
"""

from __future__ import annotations

import email
import socket
import threading
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def self_signed(folder: Path) -> tuple[Path, Path]:
    """(cert.pem, key.pem) for 127.0.0.1, made with cryptography (paramiko's own dependency)."""
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


class SmtpSink:
    """aiosmtpd's Controller (its own thread and event loop) with a handler keeping every message.

    `tls`: None (plain), "starttls" (STARTTLS required) or "tls" (implicit TLS), with `cert` = (cert, key);
    `login`: (user, password) the server requires (over TLS only), recorded in `logins`."""

    def __init__(self, tls: str | None = None, cert: tuple[Path, Path] | None = None,
                 login: tuple[str, str] | None = None) -> None:
        self.messages: list[Message] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.logins: list[str] = []
        self.refuse = False
        self.port = free_port()
        self.tls, self.cert, self.login = tls, cert, login

    def _authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        from aiosmtpd.smtp import AuthResult

        user, password = data.login.decode(), data.password.decode()
        ok = self.login is not None and (user, password) == self.login
        if ok:
            self.logins.append(user)
        return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535 itself

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
        if self.refuse:
            return "451 4.3.0 try again later"
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"

    def __enter__(self) -> SmtpSink:
        from aiosmtpd.controller import Controller

        kw: dict[str, Any] = {}
        if self.tls:
            import ssl

            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(*map(str, self.cert))  # type: ignore[misc]
            kw = {"ssl_context": context} if self.tls == "tls" else {"tls_context": context, "require_starttls": True}
        if self.login:
            kw.update(authenticator=self._authenticate, auth_required=True)
            if self.tls == "tls":  # aiosmtpd sees STARTTLS only; under implicit TLS the whole session is TLS
                kw["auth_require_tls"] = False
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port, ready_timeout=10, **kw)
        self._controller.start()  # returns once the server answers (aiosmtpd's own readiness check)
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()

    def bodies(self) -> list[str]:
        return [m.get_payload(decode=True).decode() for m in self.messages]  # type: ignore[union-attr]


class HookSink:
    """A ThreadingHTTPServer keeping each POST's headers and body; answers `status`."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.status = 204
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                sink.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(sink.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hook"

    def __enter__(self) -> HookSink:
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True)
        self._thread.start()  # the socket listens already: bound in __init__
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
