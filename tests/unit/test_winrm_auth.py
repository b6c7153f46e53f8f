"""transports/winrm_auth.py: which winrm_transport fits what a server offers, and the one-line messages."""

from __future__ import annotations

import pytest

from rmmctl.transports.winrm_auth import client_cert_refused, hint, missing_library, not_offered, rejected


@pytest.mark.parametrize("offered,expected", [
    (["Negotiate", "Kerberos"], "ntlm"), (["Kerberos"], "kerberos"), (["CredSSP"], "credssp"),
    (["Basic"], "basic"), ([], None),
])
def test_hint_picks_the_method_the_server_offers(offered: list[str], expected: str | None) -> None:
    assert hint(offered) == expected


def test_not_offered_is_none_when_the_method_is_there() -> None:
    assert not_offered("kerberos", ["Negotiate"]) is None  # Negotiate carries Kerberos
    assert not_offered("certificate", []) is None  # a TLS client certificate, not a scheme
    assert not_offered("basic", ["Negotiate"]) == "use winrm_transport: ntlm"
    assert not_offered("ntlm", []) == "enable an auth method in the WinRM service"


def test_rejected_names_the_offer_or_the_login() -> None:
    assert rejected("w", "basic", "rmm", ['Basic realm="WSMAN"']).startswith(
        "w: basic login as 'rmm' rejected (server offers Basic); check the user and password")
    assert rejected("w", "certificate", "", ["Negotiate"], "/c.pem").startswith(
        "w: the host does not map the client certificate /c.pem to a user: map it to a local user on the host: "
        "New-Item -Path WSMan:\\localhost\\ClientCertificate")


def test_client_cert_refused_is_not_a_server_certificate_problem() -> None:
    assert client_cert_refused("w", "certificate", "/c.pem", "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify "
                                                            "failed: unable to get local issuer certificate") is None
    assert client_cert_refused("w", "basic", None, "[SSL: WRONG_VERSION_NUMBER] wrong version number") is None
    assert client_cert_refused("w", "basic", None, "tlsv13 alert certificate required").startswith(
        "w: the listener ended the TLS handshake: it requires a client certificate")


def test_no_library_is_needed_for_ntlm_basic_certificate() -> None:
    for auth in ("ntlm", "basic", "certificate"):
        assert missing_library("w", auth, False) is None
    assert missing_library("w", "kerberos", False) is not None  # pywinrm says it has no kerberos
