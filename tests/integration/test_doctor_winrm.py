"""`rmmctl doctor winrm HOST` against the WS-Management test double: every step ok, and each failure where
it breaks with its fix (exit codes 6 unreachable, 7 auth), the JSON document validated against the schema."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from referencing import Registry, Resource

from conftest import cli

try:
    import winrm  # type: ignore[import-untyped]  # noqa: F401

    from winrm_double import FakeWinRM, Invocation, Result, self_signed
    MISSING = None
except ImportError as exc:  # pywinrm is a dependency: missing it under CI is a failure, not a skip
    MISSING = str(exc)

SCHEMAS = Path(__file__).resolve().parents[2] / "docs" / "schemas"
STEPS = ["tcp", "tls", "identify", "auth methods", "auth", "encryption", "shell", "command", "memory per shell"]
SHELL_MB = {"value": "2147483647"}  # what the double's WSMan: drive says (a test may change it)


@pytest.fixture(autouse=True)
def _need_pywinrm(monkeypatch: pytest.MonkeyPatch) -> None:
    if MISSING is not None:
        if os.environ.get("CI"):
            pytest.fail(f"pywinrm unavailable in CI: {MISSING}", pytrace=False)
        pytest.skip(f"pywinrm unavailable: {MISSING}")
    monkeypatch.setenv("RMMCTL_TEST_WINRM_PW", "s3cret")


def need_credssp() -> None:
    """requests-credssp is in the test extra: missing it under CI fails, elsewhere skips."""
    try:
        import requests_credssp  # noqa: F401
    except ImportError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"requests-credssp unavailable in CI: {exc}; install '.[test]'", pytrace=False)
        pytest.skip(f"requests-credssp unavailable: {exc} (pip install 'rmmctl[credssp]')")


def powershell(inv: Invocation) -> Result:
    if "$PSVersionTable.PSVersion" in inv.script and "Get-ExecutionPolicy" in inv.script:
        return Result(stdout="psversion=5.1.17763.592\r\nexecutionpolicy=RemoteSigned\r\n"
                             f"maxmemorypershellmb={SHELL_MB['value']}\r\n")
    raise AssertionError(f"the double does not know this script: {inv.script[:200]!r}")


@pytest.fixture
def serve() -> Iterator[Any]:
    """Start doubles; at the end each is stopped and must have no shell left open."""
    started: list[FakeWinRM] = []

    def start(**kw: Any) -> FakeWinRM:
        srv = FakeWinRM(powershell, **kw)
        srv.__enter__()
        started.append(srv)
        return srv

    yield start
    for srv in started:
        srv.__exit__(None, None, None)
        assert not srv.shells, f"shells left open: {list(srv.shells)}"


def _validate(doc: dict[str, Any]) -> None:
    schemas = [json.loads(p.read_text()) for p in SCHEMAS.glob("*.schema.json")]
    registry = Registry().with_resources((s["$id"], Resource.from_contents(s)) for s in schemas)
    ref = {"$ref": "https://rmmctl.dev/schemas/v1/doctor.schema.json"}
    jsonschema.Draft202012Validator(ref, registry=registry).validate(doc)


def _doctor(tmp_path: Path, port: int, **vars: Any) -> tuple[int, dict[str, Any], dict[str, dict[str, Any]]]:
    base = {"winrm_transport": "basic", "winrm_scheme": "http", "winrm_allow_basic_http": True}
    inv = tmp_path / "inv.yaml"
    inv.write_text(yaml.safe_dump({"hosts": {"win01": {
        "address": "127.0.0.1", "port": port, "user": "rmm", "os": "windows", "connection": "winrm",
        "password_env": "RMMCTL_TEST_WINRM_PW", "vars": {**base, **vars}}}}))
    result = cli("doctor", "winrm", "win01", "-i", str(inv), "-o", "json", "--connect-timeout", "3")
    doc = json.loads(result.stdout)
    _validate(doc)
    [host] = doc["hosts"]
    steps = {row["step"]: row for row in host["data"]["steps"]}
    assert list(steps) == STEPS
    return result.exit_code, doc, steps


def _failed_at(steps: dict[str, dict[str, Any]], step: str) -> dict[str, Any]:
    i = STEPS.index(step)
    assert all(steps[s]["status"] == "ok" for s in STEPS[:i]), steps
    assert all(steps[s]["status"] == "skip" for s in STEPS[i + 1:]), steps
    assert steps[step]["status"] == "fail" and steps[step]["fix"], steps[step]
    return steps[step]


def test_basic_over_http_passes_every_step(serve: Any, tmp_path: Path) -> None:
    srv = serve()
    code, doc, steps = _doctor(tmp_path, srv.port)
    assert code == 0, steps
    assert {s["status"] for s in steps.values()} == {"ok"}, steps
    assert doc["command"] == "doctor winrm" and doc["hosts"][0]["data"]["failed_step"] is None
    assert "basic over http is allowed" in steps["tls"]["detail"]
    assert "Microsoft Corporation" in steps["identify"]["detail"]
    assert "Negotiate, Basic" in steps["auth methods"]["detail"]
    assert "in clear" in steps["encryption"]["detail"] and steps["encryption"]["fix"]
    assert "created and deleted" in steps["shell"]["detail"]
    assert "PowerShell 5.1.17763.592" in steps["command"]["detail"]
    assert "RemoteSigned" in steps["command"]["detail"]
    assert steps["memory per shell"]["detail"] == "MaxMemoryPerShellMB 2147483647 MB"
    assert "Identify" in srv.log and srv.created == 2  # the shell step's, the command's


@pytest.mark.parametrize("value", ["150", ""])
def test_memory_per_shell_too_low_fails_with_the_winrm_set_line_unreadable_is_said(
        serve: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setitem(SHELL_MB, "value", value)
    srv = serve()
    code, doc, steps = _doctor(tmp_path, srv.port)
    if value:
        assert code == 5 and doc["hosts"][0]["data"]["failed_step"] == "memory per shell"
        row = _failed_at(steps, "memory per shell")
        assert row["detail"] == "MaxMemoryPerShellMB is 150 MB: a command using more is killed by WinRM"
        assert 'winrm set winrm/config/winrs @{MaxMemoryPerShellMB="1024"}' in row["fix"]
    else:
        assert code == 0 and "not readable for this user" in steps["memory per shell"]["detail"]


def test_ntlm_passes_every_step_with_message_encryption(serve: Any, tmp_path: Path) -> None:
    srv = serve(auth="ntlm")
    code, _, steps = _doctor(tmp_path, srv.port, winrm_transport="ntlm")
    assert code == 0, steps
    assert "every body sealed" in steps["encryption"]["detail"]
    assert srv.encrypted and all(srv.encrypted)


def test_connection_refused_is_unreachable(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code, doc, steps = _doctor(tmp_path, port)
    assert code == 6
    row = _failed_at(steps, "tcp")
    assert "refused" in row["detail"] and "winrm quickconfig" in row["fix"] and "Enable-PSRemoting" in row["fix"]
    assert doc["hosts"][0]["data"]["failed_step"] == "tcp"


def test_wrong_password_is_auth_failed_naming_what_was_tried(serve: Any, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RMMCTL_TEST_WINRM_PW", "wrong")
    srv = serve(auth="ntlm")
    code, _, steps = _doctor(tmp_path, srv.port, winrm_transport="ntlm")
    assert code == 7
    row = _failed_at(steps, "auth")
    assert "tried: ntlm as 'rmm'" in row["detail"] and "password" in row["fix"]


def test_a_transport_the_server_does_not_offer_names_what_it_offers(serve: Any, tmp_path: Path) -> None:
    srv = serve(offered=("Negotiate", "Kerberos", 'Basic realm="WSMAN"'), basic=False)
    code, _, steps = _doctor(tmp_path, srv.port)
    assert code == 7
    assert "is not among them" in steps["auth methods"]["detail"]
    row = _failed_at(steps, "auth")
    assert row["fix"] == "server offers Negotiate, Kerberos; use winrm_transport: ntlm"


def test_https_with_an_untrusted_certificate_names_winrm_ca_trust_path(serve: Any, tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    srv = serve(tls=(cert, key))
    code, _, steps = _doctor(tmp_path, srv.port, winrm_scheme="https")
    assert code == 6
    row = _failed_at(steps, "tls")
    assert "not trusted" in row["detail"] and "winrm_ca_trust_path" in row["fix"]
    code, _, steps = _doctor(tmp_path, srv.port, winrm_scheme="https", winrm_ca_trust_path=cert)
    assert code == 0, steps
    assert "trusted (winrm_ca_trust_path" in steps["tls"]["detail"]
    assert steps["encryption"]["detail"] == "TLS protects every body"


def test_https_against_an_http_listener_fails_the_handshake(serve: Any, tmp_path: Path) -> None:
    srv = serve(auth="ntlm")
    code, _, steps = _doctor(tmp_path, srv.port, winrm_transport="ntlm", winrm_scheme="https")
    assert code == 6  # https against an http listener: the TLS step says so
    assert _failed_at(steps, "tls")["fix"].startswith("the port does not speak TLS")


def test_shell_quota_names_max_shells_per_user(serve: Any, tmp_path: Path) -> None:
    srv = serve(max_shells=0)
    code, _, steps = _doctor(tmp_path, srv.port)
    assert code == 6
    row = _failed_at(steps, "shell")
    assert "MaxShellsPerUser" in row["fix"]


def test_a_plain_body_refused_fails_the_encryption_step(serve: Any, tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    srv = serve(auth="ntlm", tls=(cert, key))  # the double wants sealed bodies even over https
    code, _, steps = _doctor(tmp_path, srv.port, winrm_transport="ntlm", winrm_scheme="https",
                             winrm_ca_trust_path=cert)
    assert code == 6
    assert steps["auth"]["status"] == "ok"
    row = _failed_at(steps, "encryption")
    assert "500" in row["detail"] and "AllowUnencrypted" in row["fix"]


def test_basic_over_http_without_the_flag_is_refused_at_the_tls_step(serve: Any, tmp_path: Path) -> None:
    srv = serve()
    code, _, steps = _doctor(tmp_path, srv.port, winrm_allow_basic_http=False)
    assert code == 5
    row = _failed_at(steps, "tls")
    assert "in clear" in row["detail"] and "winrm_allow_basic_http: true" in row["fix"]
    assert "Identify" not in srv.log  # nothing sent past tcp


# every auth failure the double can produce: the step it fails at, the exit code, what the fix names
@pytest.fixture
def pki(tmp_path: Path) -> dict[str, Any]:
    from winrm_double.pki import CA

    ca, other = CA.create(tmp_path), CA.create(tmp_path, "other CA")
    return {"ca": ca.cert_file, "server": ca.issue("127.0.0.1"), "client": ca.issue("rmm", client=True),
            "unmapped": ca.issue("nobody", client=True), "foreign": other.issue("rmm", client=True, stem="foreign"),
            "wrong name": ca.issue("winrm.example.test")}


def _cert_server(pki: dict[str, Any]) -> dict[str, Any]:
    return {"auth": "certificate", "tls": pki["server"], "client_ca": pki["ca"], "cert_users": {"rmm": "WIN01\\rmm"}}


def _cert_vars(pki: dict[str, Any], which: str = "client") -> dict[str, Any]:
    return {"winrm_transport": "certificate", "winrm_scheme": "https", "winrm_ca_trust_path": pki["ca"],
            "winrm_cert_pem": pki[which][0], "winrm_cert_key_pem": pki[which][1]}


AUTH_FAILURES = {  # case: (double's kwargs, host vars, password, failing step, exit code, in the fix)
    "basic wrong password": (lambda p: {}, lambda p: {}, "wrong", "auth", 7, "check the user and password"),
    "ntlm wrong password": (lambda p: {"auth": "ntlm"}, lambda p: {"winrm_transport": "ntlm"}, "wrong", "auth", 7,
                            "DOMAIN\\user"),
    "credssp wrong password": (lambda p: {"auth": "credssp"}, lambda p: {"winrm_transport": "credssp"}, "wrong",
                               "auth", 7, "Enable-WSManCredSSP -Role Server"),
    "credssp not offered": (lambda p: {"auth": "ntlm"}, lambda p: {"winrm_transport": "credssp"}, "s3cret", "auth",
                            7, "use winrm_transport: ntlm (or enable credssp on the host: Enable-WSManCredSSP"),
    "kerberos-only server, basic client": (lambda p: {"offered": ("Kerberos",), "basic": False}, lambda p: {},
                                           "s3cret", "auth", 7, "server offers Kerberos; use winrm_transport: kerberos"),
    "nothing in common": (lambda p: {"offered": ("Negotiate",), "basic": False, "auth": "ntlm"},
                          lambda p: {"winrm_transport": "credssp"}, "s3cret", "auth", 7,
                          "use winrm_transport: ntlm"),
    "tls name mismatch": (lambda p: {"tls": p["wrong name"]},
                          lambda p: {"winrm_scheme": "https", "winrm_ca_trust_path": p["ca"]}, "s3cret", "tls", 6,
                          "the listener certificate does not name 127.0.0.1"),
    "no client certificate": (_cert_server, lambda p: {"winrm_scheme": "https", "winrm_ca_trust_path": p["ca"]},
                              "s3cret", "tls", 7, "use winrm_transport: certificate with winrm_cert_pem"),
    "client certificate from another CA": (_cert_server, lambda p: _cert_vars(p, "foreign"), "s3cret", "tls", 7,
                                           "refused the client certificate"),
    "no client certificate, TLS 1.2": (lambda p: {**_cert_server(p), "tls12": True},
                                       lambda p: {"winrm_scheme": "https", "winrm_ca_trust_path": p["ca"]},
                                       "s3cret", "tls", 7, "use winrm_transport: certificate with winrm_cert_pem"),
    "client certificate from another CA, TLS 1.2": (lambda p: {**_cert_server(p), "tls12": True},
                                                    lambda p: _cert_vars(p, "foreign"), "s3cret", "tls", 7,
                                                    "refused the client certificate"),
    "client certificate not mapped": (_cert_server, lambda p: _cert_vars(p, "unmapped"), "s3cret", "auth", 7,
                                      "New-Item -Path WSMan:\\localhost\\ClientCertificate"),
    "winrm_cert_pem missing": (_cert_server, lambda p: {**_cert_vars(p), "winrm_cert_pem": None}, "s3cret", "tls",
                               5, "set winrm_cert_pem"),
}


@pytest.mark.parametrize("case", sorted(AUTH_FAILURES))
def test_every_auth_failure_fails_its_step_with_a_fix(serve: Any, tmp_path: Path, pki: dict[str, Any],
                                                      monkeypatch: pytest.MonkeyPatch, case: str) -> None:
    server, vars, password, step, exit_code, fix = AUTH_FAILURES[case]
    if "credssp" in str(vars(pki)):
        need_credssp()
    monkeypatch.setenv("RMMCTL_TEST_WINRM_PW", password)
    srv = serve(**server(pki))
    code, doc, steps = _doctor(tmp_path, srv.port, **{k: v for k, v in vars(pki).items()})
    row = _failed_at(steps, step)
    assert fix in row["fix"], row
    assert "\n" not in row["detail"] and "\n" not in row["fix"]
    assert code == exit_code and doc["hosts"][0]["data"]["failed_step"] == step, steps
    assert not srv.cert_logins


@pytest.mark.parametrize("auth,module,flag", [("credssp", "requests_credssp", "HAVE_CREDSSP"),
                                              ("kerberos", "kerberos", "HAVE_KERBEROS")])
def test_a_missing_auth_library_fails_the_auth_step_naming_the_extra(
        serve: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, auth: str, module: str, flag: str) -> None:
    import sys

    import winrm.transport

    for name in (module, "winkerberos"):
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setattr(winrm.transport, flag, False)
    srv = serve(auth="ntlm", offered=("Negotiate", "Kerberos", "CredSSP"))
    code, _, steps = _doctor(tmp_path, srv.port, winrm_transport=auth)
    row = _failed_at(steps, "auth")
    assert f"pip install 'rmmctl[{auth}]'" in row["detail"] and f"pip install 'rmmctl[{auth}]'" in row["fix"]
    assert code == 5  # an error (nothing was tried), as basic over http without the flag


def test_credssp_passes_every_step_with_message_encryption(serve: Any, tmp_path: Path) -> None:
    need_credssp()
    srv = serve(auth="credssp")
    code, _, steps = _doctor(tmp_path, srv.port, winrm_transport="credssp")
    assert code == 0, steps
    assert {s["status"] for s in steps.values()} == {"ok"}, steps
    assert "CredSSP" in steps["auth methods"]["detail"] and "is among them" in steps["auth methods"]["detail"]
    assert steps["encryption"]["detail"] == "credssp message encryption over http: every body sealed"
    assert srv.encrypted and all(srv.encrypted)


def test_certificate_auth_passes_every_step(serve: Any, tmp_path: Path, pki: dict[str, Any]) -> None:
    srv = serve(**_cert_server(pki))
    code, _, steps = _doctor(tmp_path, srv.port, **_cert_vars(pki))
    assert code == 0, steps
    assert {s["status"] for s in steps.values()} == {"ok"}, steps
    assert steps["auth"]["detail"] == f"certificate login with the client certificate {pki['client'][0]} accepted"
    assert steps["encryption"]["detail"] == "TLS protects every body"
    assert srv.cert_logins and set(srv.cert_logins) == {"WIN01\\rmm"}
