"""`rmmctl doctor winrm HOST`: one WinRM host diagnosed step by step, in the shape of `doctor ssh`.

The steps run in order and stop at the first failure (the later ones are `skip`): tcp, tls (https: the
handshake and whether the listener certificate is trusted; http: that it is http and whether basic is
allowed), identify (an unauthenticated WS-Man Identify: the server speaks WS-Man), auth methods (the
401's WWW-Authenticate), auth (the configured winrm_transport), encryption (what protects the bodies),
shell (create and delete) and command (PowerShell's version and execution policy). Each step is the
WinRM transport's own code (rmmctl.transports.winrm), not a copy of it. The host's status is what the
failure would give in any other command (unreachable 6, auth_failed 7, a failed command 5).
"""

from __future__ import annotations

import dataclasses
import re
import socket
import ssl
import time
from typing import Any

from rmmctl.api import RunSettings, execute
from rmmctl.doctor import Steps, Stepwise, one_host
from rmmctl.errors import AuthError, ConfigError, ConnectError, TransportError
from rmmctl.executor import HostContext, JobOutcome, classify
from rmmctl.inventory.model import Host, Inventory
from rmmctl.models import RunReport, Status
from rmmctl.transports import TransportOptions
from rmmctl.transports.winrm import WinRMTransport
from rmmctl.transports.winrm_auth import CERT_MAPPING, CERT_VARS, ENABLE, client_cert_refused, not_offered

STEPS = ("tcp", "tls", "identify", "auth methods", "auth", "encryption", "shell", "command", "memory per shell")
LISTENER = "on the host (as administrator): `winrm quickconfig` or `Enable-PSRemoting -Force`"
COMMAND = ('"psversion=$($PSVersionTable.PSVersion)"; "executionpolicy=$(Get-ExecutionPolicy)"; '
           '"maxmemorypershellmb=$(try { (Get-Item WSMan:\\localhost\\Shell\\MaxMemoryPerShellMB).Value } catch { })"')
MIN_SHELL_MB = 1024  # below it, a probe or a module of a busy host can hit the quota (old WinRM 2.0: 150 MB)


def _tcp(steps: Steps, t: WinRMTransport, timeout: float) -> Status | None:
    where = f"{t.address}:{t.port}"
    started = time.monotonic()
    try:
        with socket.create_connection((t.address, t.port), timeout=timeout):
            pass
    except ConnectionRefusedError:
        steps.fail("tcp", f"connection refused by {where}",
                   f"no WinRM listener on port {t.port}: {LISTENER}; or set the host's port / winrm_scheme to the "
                   "listener's (5985 http, 5986 https; `winrm enumerate winrm/config/listener` lists them)")
        return Status.UNREACHABLE
    except (socket.timeout, TimeoutError):
        steps.fail("tcp", f"no answer from {where} in {timeout:g} s",
                   f"check that the host is up and that the firewall allows TCP {t.port} (the Windows Remote "
                   "Management rule; `Enable-PSRemoting -Force` adds it)")
        return Status.UNREACHABLE
    except OSError as exc:
        steps.fail("tcp", f"cannot connect to {where}: {exc.strerror or exc}",
                   "check the address, the VPN or the network between us")
        return Status.UNREACHABLE
    steps.ok("tcp", f"{where} connected in {(time.monotonic() - started) * 1000:.1f} ms")
    return None


def _tls(steps: Steps, t: WinRMTransport, timeout: float, basic_refused: bool = False) -> Status | None:
    if basic_refused:
        steps.fail("tls", "http (no TLS), and winrm_transport basic over http would send the password in clear: "
                          "rmmctl refuses it (winrm_allow_basic_http is not set)",
                   "use winrm_scheme: https (port 5986), or winrm_transport: ntlm (message encryption over http); "
                   "only on a trusted network set winrm_allow_basic_http: true")
        return Status.ERROR
    if t.scheme == "http":
        basic = ("allowed by winrm_allow_basic_http" if str(t._var("winrm_allow_basic_http")).lower()
                 in ("1", "true", "yes", "on") else "not allowed (winrm_allow_basic_http is not set)")
        steps.ok("tls", f"http (no TLS): the bodies are protected only by {t.auth}'s message encryption, if any; "
                        f"basic over http is {basic}")
        return None
    verify = t.verify
    context = ssl.create_default_context(cafile=verify if isinstance(verify, str) else None)
    if verify is False:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    try:
        cert = t.client_cert
        if cert is not None:
            context.load_cert_chain(*cert)
    except (ConfigError, ssl.SSLError, OSError) as exc:
        steps.fail("tls", f"the client certificate cannot be used: {exc}",
                   f"set {CERT_VARS} to the files of a certificate the host maps to a user")
        return Status.ERROR
    try:
        with socket.create_connection((t.address, t.port), timeout=timeout) as raw, \
                context.wrap_socket(raw, server_hostname=t.address) as tls:
            version, cipher = tls.version(), (tls.cipher() or ("?",))[0]
            refused = _client_cert_refused(tls, t, timeout)
        if refused:
            steps.fail("tls", f"the listener ended the TLS handshake ({refused})",
                       (client_cert_refused(t.name, t.auth, cert[0] if cert else None, refused) or
                        f": {LISTENER}").split(": ", 1)[1])
            return Status.AUTH_FAILED
    except ssl.SSLCertVerificationError as exc:
        reason = exc.verify_message or str(exc)
        fix = ("set winrm_ca_trust_path to the CA file that signed the listener certificate (or install a "
               "certificate from a trusted CA on the listener: `winrm set winrm/config/listener?Address=*+"
               "Transport=HTTPS @{CertificateThumbprint=\"...\"}`)")
        if "mismatch" in reason or "match" in reason:
            fix = (f"the listener certificate does not name {t.address}: set the host's address to a name the "
                   "certificate has, or give the listener a certificate for this name (winrm_ca_trust_path does "
                   "not help a wrong name)")
        steps.fail("tls", f"the listener certificate is not trusted: {reason}", fix)
        return Status.UNREACHABLE
    except (ssl.SSLError, OSError) as exc:
        refused = (client_cert_refused(t.name, t.auth, cert[0] if cert else None, str(exc))
                   if isinstance(exc, ssl.SSLError) and re.search(r"alert", str(exc), re.I) else None)
        if refused:  # TLS 1.2 refuses a client certificate (or its absence) inside the handshake
            steps.fail("tls", f"the listener ended the TLS handshake ({exc})", refused.split(": ", 1)[1])
            return Status.AUTH_FAILED
        steps.fail("tls", f"TLS handshake with {t.address}:{t.port} failed: {exc}",
                   "the port does not speak TLS: use winrm_scheme: http for 5985, or create an HTTPS listener "
                   "with a certificate (`winrm quickconfig -transport:https`)")
        return Status.UNREACHABLE
    trust = ("not checked (winrm_server_cert_validation: ignore)" if verify is False else
             f"trusted ({'winrm_ca_trust_path ' + verify if isinstance(verify, str) else 'system CAs'})")
    steps.ok("tls", f"{version}, {cipher}; certificate {trust}",
             "validate the certificate (set winrm_ca_trust_path) instead of ignoring it" if verify is False else None)
    return None


def _client_cert_refused(tls: ssl.SSLSocket, t: WinRMTransport, timeout: float) -> str | None:
    """TLS 1.3 checks our client certificate after the handshake returned: one plain request shows whether
    the listener kept the connection (any answer) or refused the certificate (an alert, or closed)."""
    try:
        tls.settimeout(min(timeout, 5))
        tls.sendall(f"GET /wsman HTTP/1.1\r\nHost: {t.address}:{t.port}\r\nConnection: close\r\n\r\n".encode())
        if not tls.recv(1):
            return "closed without an answer: EOF occurred in violation of protocol"
    except (socket.timeout, TimeoutError):
        return None  # no answer to a GET is not a refusal
    except (ssl.SSLError, OSError) as exc:
        reason = str(exc)
        return reason if client_cert_refused(t.name, t.auth, None, reason) else None
    return None


def _identify(steps: Steps, t: WinRMTransport) -> Status | None:
    try:
        found = t.identify()
    except AuthError as exc:
        steps.fail("identify", str(exc), "configure what the message names (the client certificate)")
        return Status.AUTH_FAILED
    except TransportError as exc:
        steps.fail("identify", str(exc), f"the port answers but not as WinRM: {LISTENER}, and check the port")
        return classify(exc)[0]
    m = re.search(r"/(\d[\d.]*)/wsman\.xsd$", found.get("ProtocolVersion", ""))
    steps.ok("identify", f"WS-Man {m.group(1) if m else found.get('ProtocolVersion', '?')}, "
                         f"{found.get('ProductVendor', '?')}, {found.get('ProductVersion', '?')}")
    return None


def _methods(steps: Steps, t: WinRMTransport) -> list[str] | None:
    offered = [o.split()[0] for o in t.offered() if o.strip()]
    if t.auth == "certificate":
        steps.ok("auth methods", f"server offers {', '.join(offered) or 'no WWW-Authenticate scheme'}; winrm_transport "
                                 "certificate is the TLS client certificate (mapped to a user on the host)")
        return offered
    if not offered:
        steps.fail("auth methods", "the server offers no auth method (no WWW-Authenticate on a 401)",
                   "enable one in the WinRM service: `winrm set winrm/config/service/auth @{Negotiate=\"true\"}`")
        return None
    ours = not_offered(t.auth, offered) is None
    steps.ok("auth methods", f"server offers {', '.join(offered)}; winrm_transport {t.auth} "
                             f"{'is' if ours else 'is not'} among them")
    return offered


def _auth(steps: Steps, t: WinRMTransport, offered: list[str]) -> Status | None:
    fix = not_offered(t.auth, offered)
    if fix:
        steps.fail("auth", f"winrm_transport {t.auth} is not offered by the server",
                   f"server offers {', '.join(offered)}; {fix}" if offered and not fix.startswith("enable") else
                   f"enable {t.auth} on the host: {ENABLE[t.auth]}")
        return Status.AUTH_FAILED
    try:
        t.authenticate()
    except AuthError as exc:
        source = next((k for k in ("password", "password_env", "password_cmd", "password_keyring")
                       if t._host.var(k)), "no password")
        if t.auth == "certificate":
            steps.fail("auth", f"{exc} (tried: the client certificate {(t.client_cert or ('?',))[0]})",
                       f"{CERT_MAPPING}; the certificate's subject must name that user")
            return Status.AUTH_FAILED
        steps.fail("auth", f"{exc} (tried: {t.auth} as {t.user!r}, password from {source})",
                   "check the user and password (password_env / password_cmd / password_keyring); a domain "
                   "account is DOMAIN\\user, basic works only for local accounts; the user must be an "
                   "administrator or in Remote Management Users" + (
                       "; CredSSP also needs `Enable-WSManCredSSP -Role Server` on the host" if t.auth == "credssp"
                       else ""))
        return Status.AUTH_FAILED
    except ConnectError as exc:
        if "500" not in str(exc):
            steps.fail("auth", str(exc), f"{LISTENER}; run again with -vv")
            return classify(exc)[0]
        steps.ok("auth", f"{t.auth} login as {t.user!r} accepted")
        fix = ("over http the host wants encrypted bodies (AllowUnencrypted=false): use winrm_transport: ntlm "
               "(message encryption) or winrm_scheme: https; only on a trusted network allow it with "
               "`winrm set winrm/config/service @{AllowUnencrypted=\"true\"}`") if t.scheme == "http" else (
               f"the host refused a {t.auth} body over https: check the service's AllowUnencrypted and "
               "`winrm get winrm/config/service` (and its event log, Microsoft-Windows-WinRM/Operational)")
        steps.fail("encryption", f"the server refused the request body: {exc}", fix)
        return Status.UNREACHABLE
    except ConfigError as exc:
        text = str(exc)
        if "pip install" in text:
            extra = text.rpartition("pip install ")[2].split()[0]
            steps.fail("auth", text, f"install it on this machine (where rmmctl runs): pip install {extra}; or use "
                                     "another winrm_transport the host offers")
            return Status.ERROR
        steps.fail("auth", text, "set user and a password source for the host")
        return Status.AUTH_FAILED
    who = (f"with the client certificate {(t.client_cert or ('?',))[0]}" if t.auth == "certificate" else
           f"as {t.user!r}")
    steps.ok("auth", f"{t.auth} login {who} accepted")
    if t.scheme == "https":
        steps.ok("encryption", "TLS protects every body")
    elif t.auth in ("ntlm", "kerberos", "credssp"):
        steps.ok("encryption", f"{t.auth} message encryption over http: every body sealed")
    else:
        steps.ok("encryption", "none: basic over http sends bodies (and the password) in clear; the host "
                               "allows it (AllowUnencrypted=true)",
                 "use winrm_scheme: https, or winrm_transport: ntlm, and set AllowUnencrypted back to false")
    return None


def _shell(steps: Steps, t: WinRMTransport) -> Status | None:
    try:
        shell = t.check_shell()
    except TransportError as exc:
        fix = ("raise MaxShellsPerUser on the host: `winrm set winrm/config/winrs @{MaxShellsPerUser=\"50\"}` (or "
               "wait for idle shells to expire)" if "MaxShellsPerUser" in str(exc) else
               "the user may log in but not open a shell: add it to Remote Management Users or Administrators; "
               "check `winrm get winrm/config/winrs` (AllowRemoteShellAccess)")
        steps.fail("shell", str(exc), fix)
        return classify(exc)[0]
    steps.ok("shell", f"shell {shell} created and deleted")
    return None


def _command(steps: Steps, ctx: HostContext) -> Status | None:
    started = time.monotonic()
    try:
        result = ctx.run(COMMAND)
    except TransportError as exc:
        steps.fail("command", str(exc), "check the host's load and MaxMemoryPerShellMB; run again with -vv")
        return classify(exc)[0]
    values = dict(line.strip().partition("=")[::2] for line in result.stdout.splitlines() if "=" in line)
    if not result.ok or "psversion" not in values:
        steps.fail("command", f"PowerShell gave exit {result.exit_code}: "
                              f"{(result.stderr or result.stdout).strip()[:300]}",
                   "rmmctl needs Windows PowerShell (5.1) on the host: check that powershell.exe runs for this user")
        return Status.FAILED
    policy = values.get("executionpolicy", "?")
    steps.ok("command", f"PowerShell {values['psversion']}, execution policy {policy} "
                        f"(rmmctl's bootstrap runs with -ExecutionPolicy Bypass) in "
                        f"{(time.monotonic() - started) * 1000:.0f} ms",
             "PowerShell older than 5.1: install WMF 5.1" if _major(values["psversion"]) < 5 else None)
    return _memory(steps, values.get("maxmemorypershellmb", ""))


def _memory(steps: Steps, raw: str) -> Status | None:
    """MaxMemoryPerShellMB: the quota a command's process tree may use before WinRM kills it."""
    fix = (f'raise it on the host: winrm set winrm/config/winrs @{{MaxMemoryPerShellMB="{MIN_SHELL_MB}"}} '
           "(and for PowerShell's plugin: Set-Item WSMan:\\localhost\\Plugin\\Microsoft.PowerShell\\Quotas\\"
           f"MaxMemoryPerShellMB {MIN_SHELL_MB}; then Restart-Service WinRM)")
    if not raw.strip().isdigit():
        steps.ok("memory per shell", "MaxMemoryPerShellMB not readable for this user (the WSMan: drive needs an "
                                     "administrator); commands that need much memory may be killed",
                 "doctor as an administrator account reads it")
        return None
    mb = int(raw.strip())
    if mb < MIN_SHELL_MB:
        steps.fail("memory per shell", f"MaxMemoryPerShellMB is {mb} MB: a command using more is killed by WinRM",
                   fix)
        return Status.FAILED
    steps.ok("memory per shell", f"MaxMemoryPerShellMB {mb} MB")
    return None


def _major(version: str) -> int:
    head = version.split(".")[0]
    return int(head) if head.isdigit() else 0


def _run_steps(steps: Steps, ctx: HostContext, t: WinRMTransport, timeout: float, basic_refused: bool) -> Status:
    for check in (lambda: _tcp(steps, t, timeout), lambda: _tls(steps, t, timeout, basic_refused),
                  lambda: _identify(steps, t)):
        status = check()
        if status is not None:
            return status
    offered = _methods(steps, t)
    if offered is None:
        return Status.AUTH_FAILED
    for check in (lambda: _auth(steps, t, offered), lambda: _shell(steps, t), lambda: _command(steps, ctx)):
        status = check()
        if status is not None:
            return status
    return Status.OK


def doctor_job(options: TransportOptions):  # noqa: ANN201
    """The doctor's executor job for one winrm host: every step a row; the status is the failure's."""

    def job(ctx: HostContext) -> JobOutcome:
        steps = Steps()
        t: WinRMTransport = ctx.transport.inner  # type: ignore[attr-defined]
        timeout = float(ctx.host.var("connect_timeout") or options.connect_timeout)
        status = _run_steps(steps, ctx, t, timeout, ctx.transport.basic_http_refused)  # type: ignore[attr-defined]
        seen = {r["step"] for r in steps.rows}
        steps.rows.extend({"step": s, "status": "skip", "detail": "not reached", "fix": None}
                          for s in STEPS if s not in seen)
        steps.rows.sort(key=lambda r: STEPS.index(r["step"]))
        failed = steps.failed
        return JobOutcome(status, {"transport": "winrm",
                                   "endpoint": {"url": t.url, "scheme": t.scheme, "winrm_transport": t.auth,
                                                "user": t.user},
                                   "steps": steps.rows, "failed_step": failed["step"] if failed else None})

    return job


class _StepwiseWinRM(Stepwise):
    """The executor's transport for the doctor: connect() waits for the job, which checks step by step."""

    def __init__(self, host: Host, options: TransportOptions, *, deadline: float | None = None) -> None:
        self.name = host.name
        # basic over http without winrm_allow_basic_http is refused at open: the doctor still checks tcp,
        # then says so at the tls step (the transport is built with the flag, and nothing is sent past tls)
        self.basic_http_refused = (str(host.var("winrm_transport") or host.var("ansible_winrm_transport") or "")
                                   .lower() in ("basic", "ssl") and not _allowed(host))
        if self.basic_http_refused:
            try:
                WinRMTransport(host, options, deadline=deadline)
                self.basic_http_refused = False  # https: basic is fine
            except ConfigError:
                host = dataclasses.replace(host, vars={**host.vars, "winrm_allow_basic_http": True})
        self.inner = WinRMTransport(host, options, deadline=deadline)


def _allowed(host: Host) -> bool:
    value = host.var("winrm_allow_basic_http")
    return value is True or str(value).lower() in ("1", "true", "yes", "on")


def doctor_winrm(inventory: Inventory, pattern: str, settings: RunSettings, **kw: Any) -> RunReport:
    """`rmmctl doctor winrm HOST`: the one winrm host `pattern` names, diagnosed step by step."""
    host = one_host(inventory, pattern, settings, "winrm")
    options = settings.transport_options(inventory)
    return execute("doctor winrm", inventory, host.name, doctor_job(options), settings,
                   opener=_StepwiseWinRM, **kw)


__all__ = ["STEPS", "doctor_job", "doctor_winrm"]
