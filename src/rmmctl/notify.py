"""Alert channels (docs/alerts.md, "Channels"): email over SMTP, a signed JSON webhook, apprise URLs.

`send(channel, doc)` delivers one rmmctl/v1 alert document or raises NotifyError with one line (no
secret in it). Secrets are resolved at send time from what the config names (env, command, keyring).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import smtplib
import socket
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

from rmmctl import __version__
from rmmctl.config import Channel
from rmmctl.errors import RmmctlError

SIGNATURE_HEADER = "X-Rmmctl-Signature"  # "sha256=" + hex HMAC-SHA256 of the body with the secret_env value
EVENT_HEADER = "X-Rmmctl-Event"  # "alert" or "test"


class NotifyError(RmmctlError):
    """A channel could not deliver (one line: the channel's failure, never a secret)."""


def send(channel: Channel, doc: Mapping[str, Any], *, sleep: Callable[[float], None] = time.sleep) -> None:
    """Deliver `doc` through `channel`; NotifyError when it did not arrive."""
    try:
        if channel.kind == "email":
            _email(channel, doc)
        elif channel.kind == "webhook":
            _webhook(channel, doc, sleep)
        else:
            _apprise(channel, doc)
    except NotifyError:
        raise
    except RmmctlError as exc:  # a secret reference that does not resolve (unset, command failed): say why
        raise NotifyError(str(exc)) from None


def _secret(channel: Channel, prefix: str = "password") -> str | None:
    from rmmctl.secrets import resolve_secret

    o = channel.options
    return resolve_secret(f"channel {channel.name}", env=o.get(f"{prefix}_env"), cmd=o.get(f"{prefix}_cmd"),
                          keyring_ref=o.get(f"{prefix}_keyring"), what=prefix)


def _tls_context(channel: Channel) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=channel.options.get("ca_file"))


def _email(channel: Channel, doc: Mapping[str, Any]) -> None:
    from rmmctl.alerts import render_text

    o = channel.options
    subject, body = render_text(doc)
    msg = EmailMessage()
    msg["Subject"], msg["From"], msg["To"] = subject, o["from"], ", ".join(o["to"])
    msg["Date"], msg["Message-ID"] = formatdate(localtime=True), make_msgid("rmmctl")
    msg["X-Rmmctl-Event"] = "test" if doc.get("test") else "alert"
    msg.set_content(body)
    password = _secret(channel) if o.get("username") else None
    where = f"SMTP {o['host']}:{o['port']}"
    try:
        if o["tls"] == "tls":
            server: smtplib.SMTP = smtplib.SMTP_SSL(o["host"], o["port"], timeout=o["timeout"],
                                                    context=_tls_context(channel))
        else:
            server = smtplib.SMTP(o["host"], o["port"], timeout=o["timeout"])
        with server:
            if o["tls"] == "starttls":
                server.starttls(context=_tls_context(channel))
            if o.get("username"):
                _login(server, o["username"], password or "", where)
            refused = server.send_message(msg, from_addr=o["from"], to_addrs=list(o["to"]))
        if refused:
            raise NotifyError(f"{where} refused {', '.join(sorted(refused))}")
    except smtplib.SMTPAuthenticationError as exc:
        raise NotifyError(f"{where}: login as {o['username']!r} refused ({exc.smtp_code})") from None
    except smtplib.SMTPResponseException as exc:
        text = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
        raise NotifyError(f"{where}: {exc.smtp_code} {' '.join(text.split())}") from None
    except smtplib.SMTPRecipientsRefused as exc:
        raise NotifyError(f"{where} refused every recipient ({', '.join(sorted(exc.recipients))})") from None
    except (smtplib.SMTPException, OSError) as exc:
        raise NotifyError(f"{where}: {_reason(exc)}") from None


def _login(server: smtplib.SMTP, user: str, password: str, where: str) -> None:
    """One login attempt with the best method offered (PLAIN, LOGIN, CRAM-MD5): smtplib's login() tries each
    in turn after a refusal, which counts as several failed logins on servers that lock accounts."""
    server.ehlo_or_helo_if_needed()
    offered = server.esmtp_features.get("auth", "").upper().split()
    server.user, server.password = user, password
    for mechanism, answer in (("PLAIN", server.auth_plain), ("LOGIN", server.auth_login),
                              ("CRAM-MD5", server.auth_cram_md5)):
        if mechanism in offered:
            server.auth(mechanism, answer)
            return
    raise NotifyError(f"{where}: the server offers no login method rmmctl knows (PLAIN, LOGIN, CRAM-MD5)"
                      + ("" if offered else "; does it need tls: starttls first?"))


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS certificate not trusted ({exc.verify_message}); set ca_file for a private CA"
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return "timed out"
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return " ".join(str(text).split())


def signature(secret: str, body: bytes) -> str:
    """The X-Rmmctl-Signature value: `sha256=` + hex HMAC-SHA256 of the exact body bytes."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _webhook(channel: Channel, doc: Mapping[str, Any], sleep: Callable[[float], None]) -> None:
    o = channel.options
    url = o.get("url") or os.environ.get(o["url_env"], "")
    if not url:
        raise NotifyError(f"channel {channel.name}: url_env names ${o['url_env']}, which is not set")
    body = json.dumps(doc, sort_keys=True).encode()
    headers = {"Content-Type": "application/json", "User-Agent": f"rmmctl/{__version__}",
               EVENT_HEADER: "test" if doc.get("test") else "alert"}
    if o.get("secret_env"):
        secret = os.environ.get(o["secret_env"])
        if not secret:
            raise NotifyError(f"channel {channel.name}: secret_env names ${o['secret_env']}, which is not set")
        headers[SIGNATURE_HEADER] = signature(secret, body)
    context = _tls_context(channel) if url.startswith("https://") else None
    last = ""
    for attempt in range(o["retries"] + 1):
        if attempt:
            sleep(o["backoff"] * 2 ** (attempt - 1))
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=o["timeout"], context=context) as response:
                if 200 <= response.status < 300:
                    return
                last = f"HTTP {response.status}"
        except urllib.error.HTTPError as exc:
            last = f"HTTP {exc.code} {exc.reason}"
            if 400 <= exc.code < 500 and exc.code not in (408, 429):  # the receiver refuses it: no retry helps
                break
        except (urllib.error.URLError, OSError) as exc:
            last = _reason(getattr(exc, "reason", exc) if isinstance(exc, urllib.error.URLError) else exc)
    host = urllib.parse.urlsplit(url).hostname
    raise NotifyError(f"webhook to {host}: {last} after {attempt + 1} attempt{'s' if attempt else ''}")


def _apprise(channel: Channel, doc: Mapping[str, Any]) -> None:
    from rmmctl.alerts import render_text

    try:
        import apprise  # optional: pip install 'rmmctl[notify]'
    except ImportError:
        raise NotifyError(f"channel {channel.name}: apprise is not installed; pip install 'rmmctl[notify]'") from None
    name = channel.options["urls_env"]
    urls = os.environ.get(name, "").replace(",", " ").split()
    if not urls:
        raise NotifyError(f"channel {channel.name}: urls_env names ${name}, which is not set or empty")
    notifier = apprise.Apprise()
    for url in urls:
        if not notifier.add(url):
            raise NotifyError(f"channel {channel.name}: apprise does not know one of the URLs in ${name}")
    subject, body = render_text(doc)
    if not notifier.notify(title=subject, body=body):
        raise NotifyError(f"channel {channel.name}: apprise could not deliver to every URL in ${name}")

