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
from typing import Any


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class SmtpSink:
    """aiosmtpd's Controller (its own thread and event loop) with a handler keeping every message."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.refuse = False
        self.port = free_port()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
        if self.refuse:
            return "451 4.3.0 try again later"
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"

    def __enter__(self) -> SmtpSink:
        from aiosmtpd.controller import Controller

        self._controller = Controller(self, hostname="127.0.0.1", port=self.port, ready_timeout=10)
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
