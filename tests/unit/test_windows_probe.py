"""The Windows probe without a network: the script rmmctl builds, answered by the double's fixture router
(the PowerShell 5.1 shapes), parsed into the OS-neutral facts schema."""

from __future__ import annotations

import base64
import json
import re
import time
from typing import Any

import jsonschema
import pytest

from rmmctl.facts import json_schema
from rmmctl.models import CommandResult
from rmmctl.probes.windows import bundle
from rmmctl.probes.windows.prober import ParseContext, parse_output, sections, unreadable_reason

from winrm_double import Invocation
from winrm_double.probes import ProbeHost


def probe(wanted: list[str], cases: dict[str, str] | None = None, params: dict[str, Any] | None = None,
          noise: str = "") -> tuple[Any, ProbeHost]:
    host = ProbeHost(cases, noise=noise)
    nonce = bundle.new_nonce()
    script = bundle.build_script(wanted, nonce=nonce, params=params or {}, budget_s=bundle.budgets(wanted, None))
    res = host(Invocation(command_line="powershell", script=script))
    assert not host.unknown, host.unknown
    facts = parse_output(res.stdout if isinstance(res.stdout, str) else res.stdout.decode(), nonce, wanted,
                         ParseContext(time.time(), params or {}))
    return facts, host


def test_host_and_os_in_the_neutral_schema() -> None:
    facts, host = probe(["host", "os"])
    assert host.probes == [["host", "os"]]
    assert facts["host"] == {"hostname": "win-acc01", "fqdn": "win-acc01.acme.local", "kernel": "10.0.19045",
                             "arch": "x86_64", "machine_id": "3f2b9c1e-8d4a-4e6b-9f0a-1c2d3e4f5a6b"}
    assert facts["os"]["family"] == "windows" and facts["os"]["pretty_name"] == "Windows 10 Pro 22H2"
    jsonschema.validate(facts.to_jsonable(), json_schema(["host", "os"]))


def test_a_workgroup_server_has_no_fqdn_and_is_windows_server() -> None:
    facts, _ = probe(["host", "os"], {"host": "workgroup", "os": "server2019"})
    assert facts["host"]["fqdn"] is None and facts["host"]["machine_id"] is None
    assert (facts["os"]["id"], facts["os"]["pretty_name"]) == ("windows-server", "Windows Server 2019 Standard 1809")


def test_a_throwing_section_is_unavailable_a_hung_one_timed_out_a_missing_one_an_error() -> None:
    facts, _ = probe(["host", "os"], {"os": "wmi_broken", "host": "hang"})
    assert facts["os"] == {"unavailable": 'Invalid class "Win32_OperatingSystem"'}
    assert facts["host"] == {"unavailable": "timed out: no answer within 10 s"}
    facts, _ = probe(["host", "os"], {"os": "missing"})
    assert facts.errors == {"os": "os: no output (the probe stopped before this section)"}
    assert facts["host"]["hostname"] == "win-acc01"


def test_profile_noise_and_other_nonces_are_ignored() -> None:
    facts, _ = probe(["os"], noise="Welcome, admin!\r\nRMMCTL 0000 os " + base64.b64encode(b'{"ok":false}').decode())
    assert facts["os"]["name"] == "Windows 10 Pro" and not facts.errors


def test_a_garbled_frame_is_an_error_of_that_section_only() -> None:
    nonce = "abc"
    good = bundle.FRAME.pattern and f"RMMCTL {nonce} host " + base64.b64encode(
        b'{"ok":true,"data":{"hostname":"W1","version":"10.0","arch":"AMD64"}}').decode()
    out = f"{good}\r\nRMMCTL {nonce} os !!!notbase64\r\nRMMCTL {nonce} os " + \
        base64.b64encode(b"[1,2]").decode() + "\r\n"
    facts = parse_output(out, nonce, ["host", "os"], ParseContext(time.time(), {}))
    assert facts["host"]["hostname"] == "w1"
    assert facts.errors == {"os": "os: frame without an ok flag"}


def test_no_frames_at_all_is_one_line_naming_the_exit_and_stderr() -> None:
    res = CommandResult(command="x", exit_code=1, stdout="", stderr="powershell.exe : not recognized\r\n",
                        duration_s=0.1)
    assert unreadable_reason(res, "n") == "probe produced no output (exit 1: powershell.exe : not recognized)"
    res = CommandResult(command="x", exit_code=0, stdout="garbage\n" * 3, stderr="", duration_s=0.1)
    assert unreadable_reason(res, "n") == "probe output unreadable: no rmmctl frames in 24 characters of output (exit 0)"


def test_params_reach_the_script_as_json_data_never_code() -> None:
    evil = "x'@\n$(Remove-Item C:\\ -Recurse)"
    _, host = probe(["os"], params={"BACKUP_PATHS": [evil], "since": 1700000000.0})
    doc = json.loads(host.params[0])
    assert doc == {"BACKUP_PATHS": [evil], "since": 1700000000.0}
    assert "\n" not in host.params[0]  # one line of JSON: the here-string cannot be closed from inside


def test_budgets_never_pass_the_hosts_remaining_deadline() -> None:
    assert bundle.budgets(["os", "updates"], None) == {"os": 10.0, "updates": 45.0}
    assert bundle.budgets(["os", "updates"], 20.0) == {"os": 10.0, "updates": 18.0}
    assert bundle.budgets(["os"], 0.5) == {"os": bundle.MIN_BUDGET_S}


def test_every_section_has_its_script_and_fixtures() -> None:
    from winrm_double.probes import FIXTURES

    for name in sections():
        first = bundle.section_script(name).split("\n", 1)[0]
        assert re.fullmatch(rf"# rmmctl-probe: {name}@\d+", first), name
        assert (FIXTURES / name / "default.json").exists(), f"no default fixture for {name}"


@pytest.mark.parametrize("name", ["host", "os"])
def test_unknown_sections_are_refused_by_the_double(name: str) -> None:
    host = ProbeHost()
    script = bundle.build_script([name], nonce="n", params={}, budget_s={name: 10})
    tampered = script.replace("# rmmctl-probe: " + name, "# rmmctl-probe: " + name + "\nRemove-Item x")
    res = host(Invocation(command_line="powershell", script=tampered.replace(bundle.section_script(name).split("\n")[1], "Get-Evil")))
    assert res.rc == 1 and host.unknown
