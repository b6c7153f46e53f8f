"""WinRM auth for transports/winrm.py: what each winrm_transport needs before anything is sent (its
library, its vars), and the one-line message, with the fix, for each way a login can fail.

No pywinrm import here (that stays in transports/winrm.py): pywinrm's own "is the library there" flags are
passed in. CredSSP's failures come from requests-credssp (an optional extra) and are mapped here.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Any

from rmmctl.errors import ConfigError

METHODS = ("ntlm", "basic", "kerberos", "credssp", "certificate")
# the WWW-Authenticate schemes each winrm_transport answers to (certificate: a TLS client certificate)
SCHEMES = {"ntlm": ("negotiate", "ntlm"), "kerberos": ("negotiate", "kerberos"), "basic": ("basic",),
           "credssp": ("credssp",), "certificate": ()}
# the modules a winrm_transport needs beyond pywinrm's own (pykerberos is `kerberos`; on Windows `winkerberos`)
LIBRARIES = {"credssp": (("requests_credssp",), "requests-credssp"),
             "kerberos": (("kerberos", "winkerberos"), "pykerberos")}
ENABLE = {  # how the host turns a method on (as administrator)
    "ntlm": 'winrm set winrm/config/service/auth @{Negotiate="true"}',
    "kerberos": 'winrm set winrm/config/service/auth @{Kerberos="true"} (and join the host to the domain)',
    "basic": 'winrm set winrm/config/service/auth @{Basic="true"} (local accounts only)',
    "credssp": "Enable-WSManCredSSP -Role Server -Force",
    "certificate": "Set-Item WSMan:\\localhost\\Service\\Auth\\Certificate $true",
}
CERT_MAPPING = ("map it to a local user on the host: New-Item -Path WSMan:\\localhost\\ClientCertificate -Subject "
                "'<user>@localhost' -URI * -Issuer <thumbprint of the CA that signed it> -Credential "
                "(Get-Credential) -Force, and enable certificate auth: "
                "Set-Item WSMan:\\localhost\\Service\\Auth\\Certificate $true")
CERT_VARS = "winrm_cert_pem (the client certificate, PEM) and winrm_cert_key_pem (its unencrypted key)"


def missing_library(name: str, auth: str, available: bool = True) -> str | None:
    """The one-line ConfigError text if `auth` needs a library that is not installed here, else None.
    `available`: pywinrm's own flag for it (HAVE_CREDSSP, HAVE_KERBEROS)."""
    if auth not in LIBRARIES:
        return None
    modules, dist = LIBRARIES[auth]
    found = False
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError:
            continue
        found = True
        break
    if found and available:
        return None
    extra = (" (pykerberos builds against the system's Kerberos: apt-get install libkrb5-dev gcc first; the "
             "machine needs a krb5.conf for the host's realm)") if auth == "kerberos" else ""
    return (f"{name}: winrm_transport {auth} needs {dist}, which is not installed where rmmctl runs: "
            f"pip install 'rmmctl[{auth}]'{extra}")


def client_certificate(name: str, scheme: str, cert: Any, key: Any) -> tuple[str, str]:
    """The (certificate, key) files of winrm_transport certificate, checked before connecting."""
    if scheme != "https":
        raise ConfigError(f"{name}: winrm_transport certificate works only over https: set winrm_scheme: https "
                          "(port 5986)")
    missing = [var for var, value in (("winrm_cert_pem", cert), ("winrm_cert_key_pem", key)) if not value]
    if missing:
        raise ConfigError(f"{name}: winrm_transport certificate needs {' and '.join(missing)} in the host's vars "
                          f"({CERT_VARS})")
    files = []
    for var, value in (("winrm_cert_pem", cert), ("winrm_cert_key_pem", key)):
        path = Path(str(value)).expanduser()
        if not path.is_file():
            raise ConfigError(f"{name}: {var} {str(value)!r} is not a readable file")
        files.append(str(path))
    return files[0], files[1]


def offered_names(offered: list[str]) -> list[str]:
    """The scheme names of WWW-Authenticate values ('Basic realm="WSMAN"' -> 'Basic')."""
    return [o.split()[0] for o in offered if o.strip()]


def hint(names: list[str]) -> str | None:
    """The winrm_transport that fits what the server offers (ntlm before kerberos: it needs no domain)."""
    lower = [n.lower() for n in names]
    return next((m for m in ("ntlm", "kerberos", "credssp", "basic") if any(k in lower for k in SCHEMES[m])), None)


def not_offered(auth: str, names: list[str]) -> str | None:
    """The fix if the server does not offer `auth` (None if it does, or for certificate)."""
    lower = [n.lower() for n in names]
    if auth == "certificate" or any(k in lower for k in SCHEMES[auth]):
        return None
    better = hint(names)
    fix = f"use winrm_transport: {better}" if better else "enable an auth method in the WinRM service"
    return f"{fix} (or enable {auth} on the host: {ENABLE[auth]})" if auth == "credssp" else fix


def rejected(name: str, auth: str, user: str, offered: list[str], cert: str | None = None) -> str:
    """The one-line AuthError text for a 401 to `auth`."""
    names = offered_names(offered)
    offers = f"server offers {', '.join(names)}" if names else "server offers no auth method"
    fix = not_offered(auth, names)
    if fix:
        return f"{name}: {offers}; winrm_transport {auth} is not enabled there: {fix}"
    if auth == "certificate":
        return (f"{name}: the host does not map the client certificate {cert or ''} to a user: {CERT_MAPPING}")
    if auth == "credssp":
        return (f"{name}: credssp login as {user!r} rejected ({offers}); check the user and password (a domain "
                "account is DOMAIN\\user), and that the user may log on to the host")
    return (f"{name}: {auth} login as {user!r} rejected ({offers}); check the user and password (a domain "
            "account needs DOMAIN\\user; basic works only for local accounts)")


def credssp_failure(exc: BaseException) -> str | None:
    """What a requests-credssp exception says: 'rejected' (a bad login), 'not offered', or None if
    `exc` is not one of its exceptions."""
    try:
        from requests_credssp.exceptions import AuthenticationException, NTStatusException
    except ImportError:
        return None
    if isinstance(exc, NTStatusException):
        return "rejected"
    if isinstance(exc, AuthenticationException):
        return "not offered" if "did not response CredSSP" in str(exc) else "rejected"
    return None


CLIENT_CERT_ALERT = re.compile(r"alert (certificate required|unknown ca|bad certificate|certificate unknown|"
                               r"handshake failure|access denied)|EOF occurred in violation|"
                               r"unexpected eof|Connection reset", re.I)


def client_cert_refused(name: str, auth: str, cert: str | None, reason: str) -> str | None:
    """The one-line AuthError text if a TLS failure is the listener refusing our client certificate (or
    wanting one we did not send), else None."""
    if not CLIENT_CERT_ALERT.search(reason) or re.search(r"CERTIFICATE_VERIFY_FAILED|certificate verify failed",
                                                         reason):
        return None
    if auth == "certificate":
        return (f"{name}: the host refused the client certificate {cert} at the TLS handshake (not signed by a CA "
                f"it trusts); set {CERT_VARS} to a certificate from the CA the host trusts (its "
                "Cert:\\LocalMachine\\Root) and " + CERT_MAPPING.replace("map it", "map that certificate", 1))
    return (f"{name}: the listener ended the TLS handshake: it requires a client certificate; use "
            f"winrm_transport: certificate with {CERT_VARS}, and {CERT_MAPPING}")
