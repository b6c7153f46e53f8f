"""The WinRM transport through the real pywinrm client against the WS-Management test double."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from rmmctl.errors import AuthError, CommandTimeout, ConfigError, ConnectError
from rmmctl.inventory.model import Host
from rmmctl.transports import TransportOptions, open_transport

try:
    import winrm  # type: ignore[import-untyped]  # noqa: F401

    from winrm_double import FakeWinRM, Invocation, Result, self_signed
    MISSING = None
except ImportError as exc:  # pywinrm is a dependency: missing it under CI is a failure, not a skip
    MISSING = str(exc)


@pytest.fixture(autouse=True)
def _need_pywinrm() -> None:
    if MISSING is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"pywinrm unavailable in CI: {MISSING}; install the project's dependencies", pytrace=False)
    pytest.skip(f"pywinrm unavailable: {MISSING}")


def need_credssp() -> None:
    """requests-credssp is in the test extra: missing it under CI fails, elsewhere skips."""
    try:
        import requests_credssp  # noqa: F401
    except ImportError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"requests-credssp unavailable in CI: {exc}; install '.[test]'", pytrace=False)
        pytest.skip(f"requests-credssp unavailable: {exc} (pip install 'rmmctl[credssp]')")


def host(port: int, **vars: Any) -> Host:
    base = {"winrm_transport": "basic", "winrm_scheme": "http", "winrm_allow_basic_http": True,
            "password_env": "RMMCTL_TEST_WINRM_PW"}
    return Host(name="win01", address="127.0.0.1", connection="winrm", port=port, user="rmm", os="windows",
                vars={**base, **vars})


@pytest.fixture(autouse=True)
def _password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RMMCTL_TEST_WINRM_PW", "s3cret")


@pytest.fixture
def calls() -> list[Invocation]:
    return []


@pytest.fixture
def answers() -> dict[str, Result]:
    """Scripted PowerShell: the first key found in the script picks the answer."""
    return {}


@pytest.fixture
def double(calls: list[Invocation], answers: dict[str, Result]) -> Iterator[FakeWinRM]:
    def handler(inv: Invocation) -> Result:
        calls.append(inv)
        for key, res in answers.items():
            if key in (inv.script or inv.command_line):  # a --cmd line has no script
                return res
        raise AssertionError(f"the double does not know this script: {inv.script[:200]!r}")

    with FakeWinRM(handler) as srv:
        yield srv
        assert not srv.shells, f"shells left open: {list(srv.shells)}"


def transport(double: FakeWinRM, options: TransportOptions | None = None, **vars: Any) -> Any:
    t = open_transport(host(double.port, **vars), options or TransportOptions(connect_timeout=3, command_timeout=10))
    return t


def test_stdout_and_exit_code_round_trip(double: FakeWinRM, answers: dict[str, Result],
                                         calls: list[Invocation]) -> None:
    answers["Get-Service Spooler"] = Result(stdout="Running\r\nDrucker ü\r\n", rc=3)
    t = transport(double)
    try:
        t.connect()
        res = t.run("(Get-Service Spooler).Status; exit 3")
    finally:
        t.close()
    assert (res.exit_code, res.stdout, res.stderr) == (3, "Running\r\nDrucker ü\r\n", "")
    assert calls[0].script == "(Get-Service Spooler).Status; exit 3"
    assert double.log == ["Create", "Command", "Send", "Receive", "Signal", "Delete"]
    assert double.codepages == ["65001"]


def test_several_commands_share_one_shell_deleted_at_close(double: FakeWinRM, answers: dict[str, Result]) -> None:
    answers["one"] = Result(stdout="1")
    answers["two"] = Result(stdout="2", timeouts_first=2)  # two OperationTimeout faults: normal polling
    answers["three"] = Result(stdout="x" * 3000, chunk=1000)
    t = transport(double)
    t.connect()
    outs = [t.run(f"'{n}'").stdout for n in ("one", "two", "three")]
    assert double.created == 1 and len(double.shells) == 1
    t.close()
    t.close()  # idempotent
    assert outs == ["1", "2", "x" * 3000]
    assert double.log.count("Create") == 1 and double.log.count("Delete") == 1
    assert double.log.count("Command") == 3 and double.signals == ["terminate"] * 3
    assert not double.shells


def test_stdin_past_the_command_line_limit_arrives_whole(double: FakeWinRM, answers: dict[str, Result],
                                                         calls: list[Invocation]) -> None:
    answers["$input"] = Result(stdout="ok")
    big = "".join(f"line {i} äöü €\n" for i in range(2000))  # ~34 000 characters
    script = "$n = 0; $input | % { $n++ }; $n  # " + "y" * 9000
    t = transport(double)
    try:
        res = t.run(script, stdin=big)
    finally:
        t.close()
    assert res.stdout == "ok"
    assert calls[0].script == script and calls[0].data == big
    assert all(len(inv.command_line) < 8191 for inv in double.invocations)
    assert double.log.count("Send") >= 1


def test_a_hanging_command_is_terminated_at_its_deadline(double: FakeWinRM, answers: dict[str, Result]) -> None:
    answers["Start-Sleep"] = Result(hang=True)
    answers["after"] = Result(stdout="still usable")
    t = transport(double)
    try:
        t.connect()
        started = time.monotonic()
        with pytest.raises(CommandTimeout, match=r"^win01: command did not finish within 1\.5 s"):
            t.run("Start-Sleep 3600", timeout=1.5)
        assert 1.4 < time.monotonic() - started < 4
        assert double.signals == ["terminate"] and not double.shells  # terminated, shell deleted
        assert t.run("'after'").stdout == "still usable"  # the next command gets a new shell
    finally:
        t.close()
    assert double.created == 2 and double.log.count("Delete") == 2


def test_clixml_stderr_becomes_the_error_message(double: FakeWinRM, answers: dict[str, Result]) -> None:
    clixml = (
        '#< CLIXML\r\n<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04">'
        '<Obj S="progress" RefId="0"><TN RefId="0"><T>System.Management.Automation.PSCustomObject</T></TN>'
        '<MS><I64 N="SourceId">1</I64><PR N="Record"><AV>Preparing modules for first use.</AV></PR></MS></Obj>'
        '<S S="Error">Get-Printer : The spooler service is not reachable. Ensure the spooler service is '
        'running._x000D__x000A_</S><S S="Error">At line:1 char:1_x000D__x000A_</S>'
        '<S S="Error">+ Get-Printer_x000D__x000A_</S>'
        '<S S="Error">    + CategoryInfo          : NotSpecified: (MSFT_Printer:ROOT/StandardCimv2/MSFT_Printer) '
        '[Get-Printer], CimException_x000D__x000A_</S><S S="Error">    + FullyQualifiedErrorId : HRESULT 0x800706ba,'
        'Get-Printer_x000D__x000A_</S><S S="Error"> _x000D__x000A_</S></Objs>')
    answers["Get-Printer"] = Result(stderr=clixml, rc=1)
    t = transport(double)
    try:
        res = t.run("Get-Printer")
    finally:
        t.close()
    assert res.exit_code == 1
    assert res.stderr == ("Get-Printer : The spooler service is not reachable. Ensure the spooler service is "
                          "running.")


def test_a_megabyte_of_output_arrives_whole_over_chunked_receives_after_long_poll_timeouts(
        double: FakeWinRM, answers: dict[str, Result]) -> None:
    line = "Drucker ü Büro " + "x" * 100 + "\r\n"
    body = line * (1_100_000 // len(line.encode()))  # > 1 MB of UTF-8 with non-ASCII text
    answers["flood"] = Result(stdout=body, chunk=65536, timeouts_first=2)
    t = transport(double, TransportOptions(command_timeout=30, max_output=4 << 20))
    try:
        res = t.run("'flood'")
    finally:
        t.close()
    assert res.exit_code == 0 and res.stdout == body and res.stdout_truncated_bytes == 0
    receives = double.log.count("Receive")
    assert receives == 2 + -(-len(body.encode()) // 65536)  # the two empty polls, then one per chunk
    assert double.log.count("Create") == 1 and double.log[-1] == "Delete"


def test_output_is_capped_like_the_other_transports(double: FakeWinRM, answers: dict[str, Result]) -> None:
    answers["big"] = Result(stdout="z" * 5000, chunk=1500)
    t = transport(double, TransportOptions(command_timeout=10, max_output=1000))
    try:
        res = t.run("'big'")
    finally:
        t.close()
    assert (len(res.stdout), res.stdout_truncated_bytes) == (1000, 4000)


def test_ntlm_with_message_encryption_is_the_default_over_http(calls: list[Invocation]) -> None:
    def handler(inv: Invocation) -> Result:
        calls.append(inv)
        return Result(stdout=f"{len(inv.data or '')} chars, ü")

    with FakeWinRM(handler, auth="ntlm") as srv:
        h = host(srv.port)
        vars = {k: v for k, v in h.vars.items() if not k.startswith("winrm_")}  # ntlm is the default
        t = open_transport(Host(name="win01", address="127.0.0.1", connection="winrm", port=srv.port,
                                user="rmm", vars={**vars, "winrm_scheme": "http"}), TransportOptions(command_timeout=10))
        try:
            first = t.run("$input | Measure-Object -Character", stdin="a" * 20000)
            second = t.run("'again'")
        finally:
            t.close()
        assert not srv.shells
    assert (first.stdout, second.stdout) == ("20000 chars, ü", "0 chars, ü")
    assert srv.encrypted and all(srv.encrypted)  # every SOAP message sealed
    assert srv.created == 1 and srv.log[-1] == "Delete"


def test_ntlm_wrong_password_is_an_auth_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RMMCTL_TEST_WINRM_PW", "wrong")
    with FakeWinRM(lambda inv: Result(), auth="ntlm") as srv:
        t = open_transport(host(srv.port, winrm_transport="ntlm"), TransportOptions(connect_timeout=3))
        with pytest.raises(AuthError, match=r"^win01: ntlm login as 'rmm' rejected \(server offers Negotiate, Basic\)"):
            t.connect()
        t.close()
        assert not srv.shells


def test_401_names_the_methods_the_server_offers(calls: list[Invocation]) -> None:
    srv = FakeWinRM(lambda inv: Result(), offered=("Negotiate", "Kerberos", 'Basic realm="WSMAN"'), basic=False)
    with srv:
        t = open_transport(host(srv.port), TransportOptions(connect_timeout=3))
        with pytest.raises(AuthError) as err:
            t.connect()
        t.close()
    assert str(err.value) == ("win01: server offers Negotiate, Kerberos; winrm_transport basic is not enabled "
                              "there: use winrm_transport: ntlm")
    assert not srv.shells


def test_a_wrong_password_is_an_auth_error(double: FakeWinRM, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RMMCTL_TEST_WINRM_PW", "wrong")
    t = transport(double)
    with pytest.raises(AuthError, match=r"^win01: basic login as 'rmm' rejected \(server offers Negotiate, Basic\)"):
        t.connect()
    t.close()


def test_connection_refused_is_one_line() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, never listening: refused
        t = open_transport(host(port), TransportOptions(connect_timeout=3))
        with pytest.raises(ConnectError) as err:
            t.connect()
        t.close()
    assert str(err.value) == (f"win01: connection refused by 127.0.0.1:{port}; is a WinRM listener there? "
                              "(`winrm quickconfig` on the host, or check port/winrm_scheme)")


def test_basic_over_http_needs_the_explicit_opt_in() -> None:
    with pytest.raises(ConfigError, match="winrm_allow_basic_http: true"):
        open_transport(host(5985, winrm_allow_basic_http=False), TransportOptions())


def test_settings_default_to_ntlm_over_https_and_read_ansible_names() -> None:
    from rmmctl.transports.winrm import WinRMTransport

    t = WinRMTransport(Host(name="w", address="198.51.100.7", connection="winrm"), TransportOptions())
    assert (t.auth, t.url) == ("ntlm", "https://198.51.100.7:5986/wsman")
    t = WinRMTransport(Host(name="w", address="198.51.100.7", connection="winrm", port=5985), TransportOptions())
    assert t.url == "http://198.51.100.7:5985/wsman"
    t = WinRMTransport(Host(name="w", address="198.51.100.7", connection="winrm", port=5985,
                            vars={"ansible_winrm_transport": "credssp", "ansible_winrm_scheme": "https"}),
                       TransportOptions())
    assert (t.auth, t.url) == ("credssp", "https://198.51.100.7:5985/wsman")


def test_quoted_arguments_stay_data(double: FakeWinRM, answers: dict[str, Result], calls: list[Invocation]) -> None:
    from rmmctl.transports.winrm import ps_command

    answers["Write-Output"] = Result(stdout="$(whoami); Remove-Item C:\\ -Recurse\r\n")
    line = ps_command(["Write-Output", "$(whoami); Remove-Item C:\\ -Recurse", "it's ‘quoted’"])
    assert line == "& 'Write-Output' '$(whoami); Remove-Item C:\\ -Recurse' 'it''s ‘‘quoted’’'"
    t = transport(double)
    try:
        t.run(line)
    finally:
        t.close()
    assert calls[0].script == line  # exactly what was quoted: no expansion, no second statement


def test_rmmctl_run_and_ping_on_a_windows_host(tmp_path: Any, env: dict[str, str], double: FakeWinRM,
                                               answers: dict[str, Result], calls: list[Invocation]) -> None:
    from conftest import cli

    answers["rmmctl-ping"] = Result(stdout="rmmctl-ping\r\nFAKE\\rmm\r\nWIN01\r\n")
    answers["Write-Output"] = Result(stdout="it's $(x); y\r\n")
    inv = tmp_path / "inv.yaml"
    inv.write_text(f"version: 1\nhosts:\n  win01:\n    address: 127.0.0.1\n    connection: winrm\n"
                   f"    port: {double.port}\n    user: rmm\n    password_env: RMMCTL_TEST_WINRM_PW\n"
                   "    vars: {winrm_transport: basic, winrm_scheme: http, winrm_allow_basic_http: true}\n")
    res = cli("-i", str(inv), "ping", "win01", "--json")
    assert res.exit_code == 0, res.output
    assert '"user": "FAKE\\\\rmm"' in res.output and '"remote_hostname": "WIN01"' in res.output
    res = cli("-i", str(inv), "run", "win01", "--", "Write-Output", "it's $(x); y")
    assert res.exit_code == 0, res.output
    assert calls[-1].script == "& 'Write-Output' 'it''s $(x); y'"  # PowerShell quoting, not sh's
    assert "it's $(x); y" in res.output


def test_cmd_lines_run_as_winrs_runs_them_with_cmd_exes_limit(double: FakeWinRM, answers: dict[str, Result],
                                                               calls: list[Invocation]) -> None:
    answers["ipconfig"] = Result(stdout="Windows IP Configuration\r\n", rc=0)
    t = transport(double)
    try:
        res = t.run("ipconfig /all & echo %COMPUTERNAME%", interpreter="cmd")
        assert (res.exit_code, res.stdout) == (0, "Windows IP Configuration\r\n")
        assert calls[-1].command_line == "ipconfig /all & echo %COMPUTERNAME%" and not calls[-1].encoded
        with pytest.raises(ConfigError, match="^win01: the cmd.exe command line is 8192 characters; cmd.exe takes "
                                              "at most 8191: run it as PowerShell"):
            t.run("x" * 8192, interpreter="cmd")
    finally:
        t.close()


def test_rmmctl_run_cmd_in_a_mixed_selection(tmp_path: Any, env: dict[str, str], double: FakeWinRM,
                                            answers: dict[str, Result], calls: list[Invocation]) -> None:
    from conftest import cli

    answers["ver"] = Result(stdout="Microsoft Windows [Version 10.0.19045.3803]\r\n")
    inv = tmp_path / "inv.yaml"
    inv.write_text(f"version: 1\nhosts:\n  win01:\n    address: 127.0.0.1\n    connection: winrm\n"
                   f"    port: {double.port}\n    user: rmm\n    password_env: RMMCTL_TEST_WINRM_PW\n"
                   "    vars: {winrm_transport: basic, winrm_scheme: http, winrm_allow_basic_http: true}\n"
                   "  here:\n    connection: local\n")
    res = cli("-i", str(inv), "run", "all", "--cmd", "ver", "-o", "json")
    doc = __import__("json").loads(res.stdout)
    by = {h["name"]: h for h in doc["hosts"]}
    assert by["win01"]["status"] == "ok" and "10.0.19045" in by["win01"]["data"]["stdout"]
    assert by["here"]["status"] == "error"
    assert by["here"]["error"]["message"] == ("here: --cmd runs cmd.exe, which only winrm hosts have (this host's "
                                              "connection is local); run it without --cmd")
    assert calls[-1].command_line == "ver"
    res = cli("-i", str(inv), "run", "all", "--cmd", "--shell", "ver")
    assert res.exit_code == 2 and "--cmd and --shell exclude each other" in res.output


def test_close_from_another_thread_stops_the_command_and_deletes_the_shell(
        double: FakeWinRM, answers: dict[str, Result]) -> None:
    import threading

    answers["Wait-Event"] = Result(hang=True)
    t = transport(double)
    t.connect()
    timer = threading.Timer(0.5, t.close)  # Ctrl-C: the executor closes every live transport
    timer.start()
    started = time.monotonic()
    with pytest.raises(ConnectError, match="^win01: interrupted; the command was stopped on the host$"):
        t.run("Wait-Event", timeout=30)
    timer.join()
    assert time.monotonic() - started < 5
    assert double.signals == ["terminate"] and not double.shells


def test_https_validates_the_certificate_and_names_winrm_ca_trust_path(tmp_path: Any) -> None:
    cert, key = self_signed(tmp_path)
    with FakeWinRM(lambda inv: Result(stdout="over tls"), tls=(cert, key)) as srv:
        opts = TransportOptions(connect_timeout=3, command_timeout=10)
        t = open_transport(host(srv.port, winrm_scheme="https"), opts)
        with pytest.raises(ConnectError) as err:
            t.connect()
        t.close()
        assert str(err.value) == (f"win01: TLS to 127.0.0.1:{srv.port} failed (certificate not signed by a trusted "
                                  "CA); set winrm_ca_trust_path to the CA that signed the listener certificate")
        t = open_transport(host(srv.port, winrm_scheme="https", winrm_ca_trust_path=cert), opts)
        try:
            assert t.run("'tls'").stdout == "over tls"
        finally:
            t.close()
        assert not srv.shells


def test_a_shell_quota_fault_says_what_to_change() -> None:
    with FakeWinRM(lambda inv: Result(), max_shells=0) as srv:
        t = open_transport(host(srv.port), TransportOptions(connect_timeout=3))
        with pytest.raises(ConnectError) as err:
            t.connect()
        t.close()
    assert str(err.value) == ("win01: WinRM refused opening a shell: WS-Man fault 2150859173; too many shells open "
                              "for this user (MaxShellsPerUser): wait for idle shells to expire, or raise it: "
                              'winrm set winrm/config/winrs @{MaxShellsPerUser="50"}')


# the other auth methods: CredSSP (sealed bodies), certificate (TLS client certificate), kerberos (library)
def test_credssp_round_trip_with_every_body_sealed(calls: list[Invocation]) -> None:
    need_credssp()
    def handler(inv: Invocation) -> Result:
        calls.append(inv)
        return Result(stdout=f"{len(inv.data or '')} chars, ü\r\n" + "y" * 40000, rc=3)  # a reply past 16 KiB

    with FakeWinRM(handler, auth="credssp") as srv:
        t = open_transport(host(srv.port, winrm_transport="credssp"), TransportOptions(command_timeout=20))
        try:
            first = t.run("$input | Measure-Object -Character", stdin="a" * 30000)  # a request past 16 KiB
            second = t.run("'again'")
        finally:
            t.close()
        assert not srv.shells
    assert (first.exit_code, first.stdout[:18]) == (3, "30000 chars, ü\r\nyy")
    assert len(second.stdout) == len("0 chars, ü\r\n") + 40000
    assert calls[0].data == "a" * 30000
    assert srv.encrypted and all(srv.encrypted)  # every SOAP message sealed with CredSSP's TLS channel
    assert "multipart/x-multi-encrypted" in srv.sealed_kinds  # the stdin Send, in 16 KiB pieces
    assert "multipart/encrypted" in srv.sealed_kinds
    assert srv.log == ["Create", "Command", "Send", "Receive", "Signal", "Command", "Send", "Receive", "Signal",
                       "Delete"]


def test_credssp_wrong_password_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    need_credssp()
    monkeypatch.setenv("RMMCTL_TEST_WINRM_PW", "wrong")
    with FakeWinRM(lambda inv: Result(), auth="credssp") as srv:
        t = open_transport(host(srv.port, winrm_transport="credssp"), TransportOptions(connect_timeout=3))
        with pytest.raises(AuthError) as err:
            t.connect()
        t.close()
        assert not srv.shells
    assert str(err.value) == ("win01: credssp login as 'rmm' rejected (server offers Negotiate, Basic, CredSSP); "
                              "check the user and password (a domain account is DOMAIN\\user), and that the user "
                              "may log on to the host")


def test_credssp_against_a_server_without_it_names_what_it_offers() -> None:
    need_credssp()
    with FakeWinRM(lambda inv: Result(), auth="ntlm") as srv:
        t = open_transport(host(srv.port, winrm_transport="credssp"), TransportOptions(connect_timeout=3))
        with pytest.raises(AuthError) as err:
            t.connect()
        t.close()
    assert str(err.value) == ("win01: server offers Negotiate, Basic; winrm_transport credssp is not enabled there: "
                              "use winrm_transport: ntlm (or enable credssp on the host: Enable-WSManCredSSP "
                              "-Role Server -Force)")


@pytest.mark.parametrize("auth,module,flag", [("credssp", "requests_credssp", "HAVE_CREDSSP"),
                                              ("kerberos", "kerberos", "HAVE_KERBEROS")])
def test_a_missing_auth_library_names_the_extra(monkeypatch: pytest.MonkeyPatch, auth: str, module: str,
                                                flag: str) -> None:
    import sys

    import winrm.transport

    for name in (module, "winkerberos"):
        monkeypatch.setitem(sys.modules, name, None)  # `import` of it raises ImportError
    monkeypatch.setattr(winrm.transport, flag, False)
    t = open_transport(host(9, winrm_transport=auth), TransportOptions(connect_timeout=1))  # nothing listens
    with pytest.raises(ConfigError) as err:
        t.connect()
    t.close()
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(f"win01: winrm_transport {auth} needs "
                              f"{'requests-credssp' if auth == 'credssp' else 'pykerberos'}, which is not installed "
                              f"where rmmctl runs: pip install 'rmmctl[{auth}]'")


def test_a_kerberos_only_server_tells_a_basic_client_to_use_kerberos() -> None:
    with FakeWinRM(lambda inv: Result(), offered=("Kerberos",), basic=False) as srv:
        t = open_transport(host(srv.port), TransportOptions(connect_timeout=3))
        with pytest.raises(AuthError) as err:
            t.connect()
        t.close()
    assert str(err.value) == ("win01: server offers Kerberos; winrm_transport basic is not enabled there: use "
                              "winrm_transport: kerberos")


@pytest.fixture
def pki(tmp_path: Any) -> dict[str, Any]:
    from winrm_double.pki import CA

    ca, other = CA.create(tmp_path), CA.create(tmp_path, "other CA")
    return {"ca": ca.cert_file, "server": ca.issue("127.0.0.1"), "client": ca.issue("rmm", client=True),
            "unmapped": ca.issue("nobody", client=True), "foreign": other.issue("rmm", client=True, stem="foreign")}


def cert_host(port: int, pki: dict[str, Any], which: str = "client", **vars: Any) -> Host:
    cert = pki[which]
    base = {"winrm_transport": "certificate", "winrm_scheme": "https", "winrm_ca_trust_path": pki["ca"],
            "winrm_cert_pem": cert[0], "winrm_cert_key_pem": cert[1]}
    return Host(name="win01", address="127.0.0.1", connection="winrm", port=port, os="windows",
                vars={k: v for k, v in {**base, **vars}.items() if v is not None})


def cert_double(pki: dict[str, Any], handler: Any = None) -> FakeWinRM:
    return FakeWinRM(handler or (lambda inv: Result(stdout="by certificate\r\n")), auth="certificate",
                     tls=pki["server"], client_ca=pki["ca"], cert_users={"rmm": "WIN01\\rmm"})


def test_certificate_auth_round_trip(pki: dict[str, Any]) -> None:
    with cert_double(pki) as srv:
        t = open_transport(cert_host(srv.port, pki), TransportOptions(connect_timeout=3, command_timeout=10))
        try:
            res = t.run("whoami")
        finally:
            t.close()
        assert not srv.shells
    assert (res.exit_code, res.stdout) == (0, "by certificate\r\n")
    assert srv.cert_logins and set(srv.cert_logins) == {"WIN01\\rmm"}  # every request mapped to the user
    assert srv.log == ["Create", "Command", "Send", "Receive", "Signal", "Delete"]


@pytest.mark.parametrize("which,start", [
    ("unmapped", "win01: the host does not map the client certificate "),
    ("foreign", "win01: the host refused the client certificate "),
])
def test_an_unknown_client_certificate_says_what_to_configure(pki: dict[str, Any], which: str, start: str) -> None:
    with cert_double(pki) as srv:
        t = open_transport(cert_host(srv.port, pki, which), TransportOptions(connect_timeout=3))
        with pytest.raises(AuthError) as err:
            t.connect()
        t.close()
        assert not srv.shells and not srv.cert_logins
    message = str(err.value)
    assert message.startswith(start + pki[which][0]) and "\n" not in message
    assert "New-Item -Path WSMan:\\localhost\\ClientCertificate" in message
    if which == "foreign":
        assert "winrm_cert_pem" in message and "winrm_cert_key_pem" in message


@pytest.mark.parametrize("tls12", [False, True])
def test_no_client_certificate_where_the_listener_wants_one(pki: dict[str, Any], tls12: bool) -> None:
    with FakeWinRM(lambda inv: Result(), auth="certificate", tls=pki["server"], client_ca=pki["ca"],
                   cert_users={"rmm": "WIN01\\rmm"}, tls12=tls12) as srv:
        h = host(srv.port, winrm_scheme="https", winrm_ca_trust_path=pki["ca"])  # basic over https, no certificate
        t = open_transport(h, TransportOptions(connect_timeout=3))
        with pytest.raises(AuthError) as err:
            t.connect()
        t.close()
    message = str(err.value)
    assert message.startswith("win01: the listener ended the TLS handshake: it requires a client certificate; use "
                              "winrm_transport: certificate with winrm_cert_pem")
    assert "New-Item -Path WSMan:\\localhost\\ClientCertificate" in message and "\n" not in message


@pytest.mark.parametrize("missing", ["winrm_cert_pem", "winrm_cert_key_pem"])
def test_a_missing_certificate_var_is_a_config_error_before_connecting(pki: dict[str, Any], missing: str) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        s.settimeout(0.5)
        h = cert_host(s.getsockname()[1], pki, **{missing: None})
        t = open_transport(h, TransportOptions(connect_timeout=1))
        with pytest.raises(ConfigError) as err:
            t.connect()
        t.close()
        with pytest.raises(socket.timeout):
            s.accept()  # nothing connected
    assert str(err.value) == (f"win01: winrm_transport certificate needs {missing} in the host's vars (winrm_cert_pem "
                              "(the client certificate, PEM) and winrm_cert_key_pem (its unencrypted key))")


def test_certificate_auth_over_http_is_refused_before_connecting(pki: dict[str, Any]) -> None:
    t = open_transport(cert_host(9, pki, winrm_scheme="http"), TransportOptions(connect_timeout=1))
    with pytest.raises(ConfigError, match=r"^win01: winrm_transport certificate works only over https: set "
                                          r"winrm_scheme: https \(port 5986\)$"):
        t.connect()
    t.close()
