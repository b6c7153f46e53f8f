"""Opt-in: the WinRM tests that only a real Windows host can answer (PowerShell itself, WMI, the spooler).

Skipped unless RMMCTL_TEST_WINRM_HOST names a host (`pytest -m live_winrm`). Settings:

    RMMCTL_TEST_WINRM_HOST       address of a Windows host (a lab machine you may probe)
    RMMCTL_TEST_WINRM_USER       an administrator account (default Administrator)
    RMMCTL_TEST_WINRM_PASSWORD   its password (passed to rmmctl by password_env, never on a command line)
    RMMCTL_TEST_WINRM_TRANSPORT  ntlm (default) | basic | kerberos | credssp | certificate
    RMMCTL_TEST_WINRM_SCHEME     https (default) | http
    RMMCTL_TEST_WINRM_PORT       default 5986 for https, 5985 for http
    RMMCTL_TEST_WINRM_CA         a CA bundle for the listener's certificate (winrm_ca_trust_path)
    RMMCTL_TEST_WINRM_CERT       certificate auth: the client certificate and its key (winrm_cert_pem,
    RMMCTL_TEST_WINRM_CERT_KEY   winrm_cert_key_pem), mapped on the host by WSMan:\\localhost\\ClientCertificate

What only this run proves (the double cannot): that every .ps1 runs on PowerShell 5.1 and gives the shapes
the fixtures assume, that WMI/CIM, Get-Printer, Get-WinEvent, the Windows Update searcher and Defender
answer within their budgets, that real NTLM/Kerberos/CredSSP and TLS listeners accept rmmctl (Kerberos only
here: the double has no KDC, so it proves only the missing-library and not-offered messages; a real host's
certificate mapping too: the double maps a client certificate by its subject CN), and that
WinRS's quotas (MaxMemoryPerShellMB, MaxShellsPerUser) hold for a whole probe.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import jsonschema
import pytest
import yaml

from rmmctl.facts import json_schema
from rmmctl.probes.windows.prober import sections

pytestmark = pytest.mark.live_winrm
HOST = os.environ.get("RMMCTL_TEST_WINRM_HOST")


@pytest.fixture
def inventory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    if not HOST:
        pytest.skip("set RMMCTL_TEST_WINRM_HOST (and _PASSWORD ...) to run against a real Windows host")
    scheme = os.environ.get("RMMCTL_TEST_WINRM_SCHEME", "https")
    monkeypatch.setenv("RMMCTL_DB", str(tmp_path / "h.db"))
    vars_ = {"winrm_transport": os.environ.get("RMMCTL_TEST_WINRM_TRANSPORT", "ntlm"), "winrm_scheme": scheme}
    if os.environ.get("RMMCTL_TEST_WINRM_CA"):
        vars_["winrm_ca_trust_path"] = os.environ["RMMCTL_TEST_WINRM_CA"]
    for env, var in (("RMMCTL_TEST_WINRM_CERT", "winrm_cert_pem"), ("RMMCTL_TEST_WINRM_CERT_KEY", "winrm_cert_key_pem")):
        if os.environ.get(env):
            vars_[var] = os.environ[env]
    inv = tmp_path / "inv.yaml"
    inv.write_text(yaml.safe_dump({"hosts": {"live": {
        "address": HOST, "connection": "winrm", "os": "windows",
        "port": int(os.environ.get("RMMCTL_TEST_WINRM_PORT") or (5986 if scheme == "https" else 5985)),
        "user": os.environ.get("RMMCTL_TEST_WINRM_USER", "Administrator"),
        "password_env": "RMMCTL_TEST_WINRM_PASSWORD", "vars": vars_}}}))
    return inv


def rmmctl(*args: str) -> tuple[int, dict]:
    from conftest import cli

    res = cli(*args, "-o", "json")
    return res.exit_code, json.loads(res.stdout)


def test_doctor_passes_every_step(inventory: Path) -> None:
    code, doc = rmmctl("doctor", "winrm", "live", "-i", str(inventory))
    assert code == 0, doc


def test_every_probe_section_answers_in_the_facts_schema(inventory: Path) -> None:
    code, doc = rmmctl("metrics", "live", "-i", str(inventory))
    facts = doc["hosts"][0]["data"]["facts"]
    assert not facts["errors"], facts["errors"]
    jsonschema.validate(facts, json_schema(list(k for k in facts if k != "errors")))
    unavailable = {k: v for k, v in facts.items() if isinstance(v, dict) and "unavailable" in v}
    assert set(unavailable) <= {"av", "updates"}, unavailable  # Defender may be replaced; WU may be off
    assert set(sections()) >= {k for k in facts if k != "errors"}


def test_run_quotes_arguments_for_powershell(inventory: Path) -> None:
    code, doc = rmmctl("run", "live", "-i", str(inventory), "--", "Write-Output", "it's $(whoami); ok")
    assert code == 0 and doc["hosts"][0]["data"]["stdout"].strip() == "it's $(whoami); ok"


def test_diagnose_and_logs_run(inventory: Path) -> None:
    code, doc = rmmctl("diagnose", "live", "-i", str(inventory))
    assert code in (0, 4, 5) and doc["hosts"][0]["status"] in ("ok", "warn", "critical")
    code, doc = rmmctl("logs", "live", "-i", str(inventory), "--since", "1h", "--source", "System")
    assert code in (0, 4, 5) and doc["hosts"][0]["data"]["logs"]["source"] == "eventlog"
