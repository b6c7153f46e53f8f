"""The Windows logs section (the Event Log): rmmctl's script answered by the double from fixtures in the
shapes PowerShell 5.1 prints, parsed into the logs facts schema; `rmmctl logs --source` on Windows hosts;
the notes and the logs.unreadable finding for the Event Log."""

from __future__ import annotations

import json
import time
from typing import Any

import jsonschema
import pytest

from rmmctl import health, lognotes
from rmmctl.checks.logs import unreadable_rule
from rmmctl.facts import Facts, json_schema
from rmmctl.inventory.model import Host
from rmmctl.probes.windows import bundle

from test_windows_probe import probe


def logs_of(case: str = "default", params: dict[str, Any] | None = None) -> dict[str, Any]:
    facts, _ = probe(["logs"], {"logs": case}, params=params)
    jsonschema.validate(facts.to_jsonable(), json_schema(["logs"]))
    assert not facts.errors, facts.errors
    return facts["logs"]


def test_events_oldest_first_levels_mapped_messages_flattened() -> None:
    logs = logs_of()
    assert (logs["source"], logs["file"], logs["max_level"]) == ("eventlog", "System, Application", "err")
    assert (logs["restricted"], logs["truncated"], logs["fallback"], logs["below_level"]) == (False, False, False, None)
    assert (logs["journal"], logs["journal_said"], logs["journald_running"], logs["user"]) == (None, None, None, None)
    assert abs(time.time() - 86400 - _t(logs["since"])) < 5
    entries = logs["entries"]
    assert [e["source"] for e in entries] == ["MSSQL$ACC", "Microsoft-Windows-DistributedCOM",
                                              "Microsoft-Windows-Kernel-Power", "Service Control Manager",
                                              "Application Error"]
    assert [e["level"] for e in entries] == ["err", "err", "crit", "err", "err"]
    assert [e["pid"] for e in entries] == [2412, None, 4, 712, 0]
    assert entries[1]["message"] == ""  # Message null: no rendering DLL for the event
    assert "Die Datei 'Bücher' ist gesperrt." in entries[0]["message"]
    assert entries[4]["message"].startswith("Faulting application name: spoolsv.exe") and "\r" not in entries[4]["message"]
    assert all(e["time"].endswith("Z") for e in entries)
    assert _t(entries[0]["time"]) < _t(entries[-1]["time"])


def _t(iso: str) -> float:
    import datetime as dt

    return dt.datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def test_one_event_printed_as_an_object_one_log_a_bare_string_and_the_cap_hit() -> None:
    logs = logs_of("one_entry")
    assert logs["file"] == "Application" and logs["truncated"] is True and logs["max_level"] == "warning"
    (e,) = logs["entries"]
    assert (e["level"], e["pid"], e["source"]) == ("warning", 1100, "Microsoft-Windows-User Profiles Service")
    assert abs(_t(e["time"]) - (time.time() - 60)) < 5  # a /Date(ms)/ that slipped through


def test_nothing_at_the_level_counts_what_lies_below() -> None:
    logs = logs_of("nothing")
    assert logs["entries"] == [] and logs["below_level"] == {"warning": 1, "info": 4, "debug": 1}
    notes = lognotes.nothing_notes(logs, 0, 0)
    assert notes == [f"no entries at err or worse in System, Application since {logs['since']}; 6 less severe "
                     "(1 warning, 4 info, 1 debug): see them with --level debug"]
    assert lognotes.source_notes(logs) == []


def test_nothing_at_any_level() -> None:
    logs = logs_of("empty")
    assert logs["below_level"] == {} and logs["max_level"] == "info"
    assert lognotes.nothing_notes(logs, 0, 0) == [
        f"no entries at any level in System, Application since {logs['since']}"]


def test_a_security_log_the_user_may_not_read_is_restricted_and_blind() -> None:
    logs = logs_of("security_denied")
    assert logs["restricted"] is True and logs["file"] is None and logs["entries"] == []
    assert lognotes.blind(logs) is True
    (note,) = lognotes.source_notes(logs, "acme\\svc-rmm")
    assert "acme\\svc-rmm may not read every event log" in note and "Event Log Readers" in note
    assert "journal" not in note and "systemd" not in note
    assert lognotes.nothing_notes(logs, 0, 0) == []  # blind: the source note says it
    (f,) = unreadable_rule({"logs": logs}, {}, {})
    assert f.severity.value == "warning" and f.title == "the login user may not read the event log asked for"
    assert "Event Log Readers" in f.remediation and "journal" not in f.remediation


def test_a_readable_event_log_gives_no_notes_and_no_unreadable_finding() -> None:
    logs = logs_of()
    assert lognotes.source_notes(logs) == [] and lognotes.blind(logs) is False
    assert list(unreadable_rule({"logs": logs}, {}, {})) == []


def test_an_unreadable_log_fails_the_section_with_the_hosts_message() -> None:
    facts, _ = probe(["logs"], {"logs": "broken"})
    assert facts["logs"] == {"unavailable": 'There is not an event log on the localhost computer that matches "System".'}
    assert lognotes.source_notes(facts["logs"]) == [
        'no logs could be read: There is not an event log on the localhost computer that matches "System".']


def test_the_script_filters_on_the_host_and_never_throws_on_no_match() -> None:
    script = bundle.section_script("logs")
    assert "-ErrorAction SilentlyContinue" in script and "NoMatchingEventsFound" in script
    assert "Get-WinEvent -ListLog $src" in script and "ProviderName" in script and "UnauthorizedAccessException" in script
    assert "-MaxEvents $limit" in script and "Substring(0, 400)" in script
    assert "$P.LOG_WINDOW_S" in script and "$P.LOG_MATCH" in script  # the logs checks' window and patterns


def test_some_logs_read_and_one_refused_is_a_note_and_an_info_finding() -> None:
    logs = {**logs_of(), "restricted": True, "file": "System"}
    assert lognotes.blind(logs) is False
    (note,) = lognotes.source_notes(logs)
    assert note.startswith("the login user may not read every event log asked for") and "; read System;" in note
    (f,) = unreadable_rule({"logs": logs}, {}, {})
    assert f.severity.value == "info" and f.title == "the login user may not read every event log asked for; read System"


def test_the_window_level_and_source_reach_the_script_as_data() -> None:
    params = {"since": 1795300000.0, "log_level": "warning", "log_level_num": 3, "log_limit": 50,
              "LOG_SOURCE": "Microsoft-Windows-PrintService/Admin"}
    _, host = probe(["logs"], params=params)
    assert json.loads(host.params[0]) == params


# rmmctl logs on Windows and Linux hosts

class _Ctx:
    def __init__(self, host: Host) -> None:
        self.host = host


def _run_logs(monkeypatch: pytest.MonkeyPatch, host: Host, logs: dict[str, Any],
              **kw: Any) -> tuple[Any, dict[str, Any]]:
    seen: dict[str, Any] = {}

    def fake_collect(ctx: Any, sections: Any, params: Any = None, **k: Any) -> Facts:
        seen.update(params=params, sections=tuple(sections), **k)
        return Facts({"logs": logs})

    monkeypatch.setattr(health, "collect", fake_collect)
    args = {"since": 0.0, "level": "err", "limit": 100, "grep": None, "source": None, **kw}
    out = health.logs_job(**args)(_Ctx(host))  # type: ignore[arg-type]
    return out, seen


WIN = Host("win-acc01", "127.0.0.1", connection="winrm")
LINUX = Host("web01", "127.0.0.1")


def test_windows_source_is_a_probe_param_and_not_filtered_by_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    logs = logs_of()
    out, seen = _run_logs(monkeypatch, WIN, logs, source="System")
    assert seen["params"] == {"LOG_SOURCE": "System"} and seen["log_limit"] == 100
    assert len(out.data["entries"]) == 5  # "System" is a log: no entry's provider is "System", all kept
    out, seen = _run_logs(monkeypatch, WIN, logs, source="Service Control Manager", grep="(?i)spooler")
    assert seen["params"] == {"LOG_SOURCE": "Service Control Manager"} and seen["log_limit"] == 2000
    assert [e["source"] for e in out.data["entries"]] == ["Service Control Manager"]
    out, seen = _run_logs(monkeypatch, WIN, logs)
    assert seen["params"] is None and out.data["notes"] == []


def test_linux_source_stays_a_unit_filter_and_a_path_a_file(monkeypatch: pytest.MonkeyPatch) -> None:
    logs = {"source": "journal", "file": None, "since": None, "max_level": "err", "restricted": False,
            "truncated": False, "journal": "read", "journal_said": None, "journald_running": None, "fallback": False,
            "below_level": None, "user": None,
            "entries": [{"time": None, "level": "err", "source": "nginx.service", "message": "a", "pid": 1},
                        {"time": None, "level": "err", "source": "cron", "message": "b", "pid": 2}]}
    out, seen = _run_logs(monkeypatch, LINUX, logs, source="nginx")
    assert seen["params"] is None and seen["log_limit"] == 2000
    assert [e["source"] for e in out.data["entries"]] == ["nginx.service"]
    out, seen = _run_logs(monkeypatch, LINUX, logs, source="/var/log/app.log")
    assert seen["params"] == {"LOG_FILE": "/var/log/app.log"} and len(out.data["entries"]) == 2


def test_the_windows_prober_sends_the_window_level_and_source() -> None:
    """Through WindowsProber.collect: rmmctl's level name becomes the Windows Level cap ($P.log_level_num)."""
    from rmmctl.models import CommandResult
    from rmmctl.probes.windows import PROBER
    from winrm_double import Invocation
    from winrm_double.probes import ProbeHost

    double = ProbeHost({"logs": "one_entry"})

    class Ctx:
        host, deadline = WIN, None

        def run(self, script: str, **_: Any) -> CommandResult:
            res = double(Invocation(command_line="powershell", script=script))
            return CommandResult(command="probe", exit_code=res.rc, stdout=str(res.stdout), stderr="", duration_s=0.1)

    got = PROBER.collect(Ctx(), ["logs"], {"LOG_SOURCE": "Application"}, since=1795300000.0, log_level="warning",
                         log_limit=1)  # type: ignore[arg-type]
    assert json.loads(double.params[0]) == {"LOG_SOURCE": "Application", "since": 1795300000.0,
                                            "log_level": "warning", "log_level_num": 3, "log_limit": 1}
    assert got["logs"]["file"] == "Application" and got["logs"]["truncated"] is True
    for level, num in (("crit", 1), ("err", 2), ("notice", 4), ("info", 4), ("debug", 5)):
        PROBER.collect(Ctx(), ["logs"], log_level=level)  # type: ignore[arg-type]
        assert json.loads(double.params[-1])["log_level_num"] == num
