"""The Windows system sections (uptime, cpu, memory, filesystems, processes, services, time): each .ps1 sent
through the bundle, answered by the double from fixtures in the shapes PowerShell 5.1 prints (one-item
arrays as bare objects, empty collections as null, /Date(ms)/, ints for enums, numbers as strings,
\\u0027, raw UTF-8), parsed into the OS-neutral facts and validated against the facts schema."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import jsonschema
import pytest

from rmmctl.facts import json_schema
from rmmctl.probes.windows import bundle
from rmmctl.probes.windows.prober import ParseContext, parse_output
from rmmctl.probes.windows.system import scm_failed, stripchart_offset

from winrm_double import Invocation
from winrm_double.probes import FIXTURES, ProbeHost, fixture, frame

SECTIONS = ["uptime", "cpu", "memory", "filesystems", "processes", "services", "time"]


def probe(wanted: list[str], cases: dict[str, str] | None = None) -> tuple[Any, ProbeHost]:
    """The script rmmctl builds for these sections, answered by the double, parsed (test_windows_probe's way)."""
    host = ProbeHost(cases)
    nonce = bundle.new_nonce()
    script = bundle.build_script(wanted, nonce=nonce, params={}, budget_s=bundle.budgets(wanted, None))
    res = host(Invocation(command_line="powershell", script=script))
    assert not host.unknown, host.unknown
    out = res.stdout if isinstance(res.stdout, str) else res.stdout.decode()
    return parse_output(out, nonce, wanted, ParseContext(time.time(), {})), host


def one(section: str, case: str = "default") -> Any:
    facts, host = probe([section], {section: case})
    assert host.probes == [[section]]
    assert not facts.errors, facts.errors
    jsonschema.validate(facts.to_jsonable(), json_schema([section]))
    return facts[section]


def test_every_case_of_every_section_parses_into_the_schema() -> None:
    cases = sorted((p.parent.name, p.stem) for s in SECTIONS for p in (FIXTURES / s).glob("*.json"))
    assert len(cases) >= 25
    for section, case in cases:
        one(section, case)


def test_all_sections_in_one_probe() -> None:
    facts, host = probe(SECTIONS)
    assert host.probes == [SECTIONS] and not facts.errors
    jsonschema.validate(facts.to_jsonable(), json_schema(SECTIONS))
    assert set(facts) == set(SECTIONS)


def test_each_script_is_what_the_double_answers_and_queries_the_documented_classes() -> None:
    wanted = {"uptime": ["Win32_OperatingSystem", "LastBootUpTime", "NumberOfProcesses"],
              "cpu": ["Win32_Processor", "Win32_PerfFormattedData_PerfOS_Processor", "Name='_Total'"],
              "memory": ["TotalVisibleMemorySize", "FreePhysicalMemory", "Win32_PageFileUsage"],
              "filesystems": ["Win32_LogicalDisk", "DriveType=3", "Win32_Volume"],
              "processes": ["Win32_PerfFormattedData_PerfProc_Process", "'_Total'", "'Idle'", "WorkingSetPrivate"],
              "services": ["StartMode='Auto'", "State<>'Running'", "DelayedAutoStart", "TriggerInfo",
                           "ServiceSpecificExitCode"],
              "time": ["/query /source", "/stripchart /computer:", "/samples:1 /dataonly", "W32Time\\Parameters",
                       "[TimeZoneInfo]::Local", "WaitForExit($wait)"]}
    for name, needles in wanted.items():
        body = bundle.section_script(name)
        for needle in needles:
            assert needle in body, f"{name}.ps1 lacks {needle}"
        assert "-OperationTimeoutSec" in body or name == "time"
        assert "CommandLine" not in body  # names only, never command lines
    assert bundle.BUDGETS_S["time"] == 12.0


_KEY = re.compile(r"(?<![$.\w])([a-z_]+) = ")


def _json_keys(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in _json_keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in _json_keys(v)}
    return set()


@pytest.mark.parametrize("name", SECTIONS)
def test_the_script_prints_the_keys_its_fixtures_and_parser_use(name: str) -> None:
    """The fixtures stand for the script's output: every key a fixture has is one the script writes (a key
    renamed on one side only would pass every fixture test and fail on every real host)."""
    written = set(_KEY.findall(bundle.section_script(name)))
    cases = [json.loads(fixture(name, p.stem)) for p in (FIXTURES / name).glob("*.json")]
    for doc in cases:
        assert _json_keys(doc) <= written, f"{name}: fixture keys the script never writes: {_json_keys(doc) - written}"
    top = {k for doc in cases for k in doc}
    final = bundle.section_script(name).rsplit("[pscustomobject]@{", 1)[1]
    assert set(_KEY.findall(final)) <= top | _json_keys(cases), f"{name}: the script writes keys no fixture shows"


# --- uptime -------------------------------------------------------------------------------------------

def test_uptime_from_the_boot_time_without_loads() -> None:
    up = one("uptime")
    assert up["seconds"] == pytest.approx(273600.12)
    assert up["boot_time"] == pytest.approx(time.time() - 273600, abs=5)
    assert (up["load1"], up["load5"], up["load15"], up["procs_running"]) == (None, None, None, None)
    assert up["procs_total"] == 187


def test_uptime_from_ms_dates_when_a_date_slipped_through() -> None:
    up = one("uptime", "date_trap")
    assert up["seconds"] == pytest.approx(90000, abs=2) and up["procs_total"] is None
    assert up["boot_time"] == pytest.approx(time.time() - 90000, abs=5)


def test_a_broken_wmi_class_makes_the_section_unavailable() -> None:
    facts, _ = probe(["uptime", "cpu"], {"uptime": "wmi_broken"})
    assert facts["uptime"] == {"unavailable": 'Invalid class "Win32_OperatingSystem"'}
    assert facts["cpu"]["count"] == 6


# --- cpu ----------------------------------------------------------------------------------------------

def test_cpu_from_the_total_perf_instance() -> None:
    assert one("cpu") == {"count": 6, "model": "Intel(R) Core(TM) i5-8500 CPU @ 3.00GHz", "percent": 23.0,
                          "user": 15.0, "system": 7.0, "iowait": None, "steal": None, "idle": 77.0}


def test_cpu_numbers_as_strings_two_sockets_and_a_padded_model() -> None:
    cpu = one("cpu", "two_sockets")
    assert cpu["count"] == 40 and cpu["model"] == "Intel(R) Xeon(R) CPU E5-2680 v2 @ 2.80GHz"
    assert (cpu["percent"], cpu["user"], cpu["system"], cpu["idle"]) == (100.0, 91.0, 12.0, 0.0)


def test_cpu_without_perf_counters_is_unavailable_and_says_the_fix() -> None:
    facts, _ = probe(["cpu"], {"cpu": "no_perf"})
    assert "lodctr /R" in facts["cpu"]["unavailable"]
    jsonschema.validate(facts.to_jsonable(), json_schema(["cpu"]))


# --- memory -------------------------------------------------------------------------------------------

def test_memory_with_one_page_file_printed_as_a_bare_object() -> None:
    assert one("memory") == {"total_kb": 16661924, "available_kb": 7345120, "used_kb": 9316804, "used_pct": 55.9,
                             "swap_total_kb": 2432 * 1024, "swap_used_kb": 310 * 1024, "swap_used_pct": 12.7}


def test_memory_page_files_are_summed_and_none_is_no_swap() -> None:
    two = one("memory", "two_pagefiles")
    assert (two["swap_total_kb"], two["swap_used_kb"]) == (12288 * 1024, 7900 * 1024)
    assert two["used_pct"] == 97.0 and two["swap_used_pct"] == 64.3
    none = one("memory", "no_pagefile")
    assert (none["swap_total_kb"], none["swap_used_kb"], none["swap_used_pct"]) == (0, 0, None)
    assert none["available_kb"] == 1048576  # a number printed as a string


# --- filesystems ----------------------------------------------------------------------------------------

def test_fixed_disks_as_mounts() -> None:
    mounts = {m["mount"]: m for m in one("filesystems")["mounts"]}
    assert list(mounts) == ["C:", "D:", "R:"]  # E: has no size (RAW): left out
    c = mounts["C:"]
    assert c == {"mount": "C:", "device": "System", "fstype": "NTFS", "size_kb": 249384508, "used_kb": 202198588,
                 "avail_kb": 47185920, "used_pct": 81.1, "inodes_total": None, "inodes_used": None,
                 "inodes_free": None, "inodes_pct": None, "read_only": False}
    assert mounts["D:"]["device"] == "Données" and mounts["D:"]["fstype"] == "ReFS"
    assert mounts["R:"]["read_only"] is True and mounts["D:"]["read_only"] is False


def test_a_one_disk_machine_printed_as_a_bare_object_and_no_disks_at_all() -> None:
    [c] = one("filesystems", "one_disk")["mounts"]
    assert (c["mount"], c["device"], c["used_pct"]) == ("C:", "C:", 95.0)  # no label: the drive
    assert one("filesystems", "no_disks") == {"mounts": []}


# --- processes ----------------------------------------------------------------------------------------

def test_processes_top_lists_names_only_cpu_of_one_cpu() -> None:
    pr = one("processes")
    assert pr["count"] == 143
    assert [p["name"] for p in pr["top_cpu"]] == ["MsMpEng", "System", "chrome", "Büro-Tool"]
    ms = pr["top_cpu"][0]
    assert ms == {"pid": 6120, "name": "MsMpEng", "user": None, "state": "R", "cpu_pct": 187.5, "mem_pct": 1.8,
                  "rss_kb": 305152}
    assert [p["name"] for p in pr["top_mem"]] == ["sqlservr", "MsMpEng", "chrome"]  # biggest first
    assert pr["top_mem"][0]["rss_kb"] == 2097152 and pr["top_mem"][0]["mem_pct"] == 12.6


def test_one_process_printed_as_bare_objects_without_the_memory_total() -> None:
    pr = one("processes", "one_process")
    assert pr["count"] == 1 and len(pr["top_cpu"]) == len(pr["top_mem"]) == 1
    assert pr["top_cpu"][0] == {"pid": 4, "name": "System", "user": None, "state": "S", "cpu_pct": 0.0,
                                "mem_pct": None, "rss_kb": 168}


# --- services -----------------------------------------------------------------------------------------

def test_only_really_failed_automatic_services_are_failed() -> None:
    svc = one("services")
    assert (svc["available"], svc["manager"], svc["init"], svc["system_state"]) == (True, "scm", None, "degraded")
    by = {s["name"]: s for s in svc["failed"]}
    assert list(by) == ["Spooler", "AcmeBackup", "DiensteÜberwachung"]
    for expected in ("gupdate", "edgeupdate", "sppsvc", "MapsBroker", "RemoteRegistry"):
        assert expected not in by  # delayed / trigger-start and stopped cleanly (or never started by trigger)
    assert by["Spooler"] == {"name": "Spooler", "state": "stopped", "start_mode": "auto",
                             "description": "Print Spooler", "systemd": None,
                             "scm": {"start_mode": "Auto", "delayed": False, "trigger": False, "exit_code": 1067,
                                     "service_exit_code": 0}}
    assert by["AcmeBackup"]["description"] == "Acme's Backup Agent"  # \u0027 in the JSON
    assert by["AcmeBackup"]["scm"]["delayed"] and by["AcmeBackup"]["scm"]["service_exit_code"] == 3
    assert by["DiensteÜberwachung"]["description"] == "Überwachungsdienst für Geräte"


def test_services_none_empty_null_and_one_bare_object() -> None:
    for case in ("none", "null_trap"):
        assert one("services", case) == {"available": True, "manager": "scm", "init": None,
                                         "system_state": "running", "failed": []}
    [sp] = one("services", "one_bare")["failed"]
    assert sp["name"] == "Spooler" and sp["scm"]["exit_code"] == 1067


def test_services_with_enums_as_ints_and_flags_as_strings() -> None:
    svc = one("services", "enums")
    [w32] = svc["failed"]  # state 1 = Stopped, start 2 = Automatic; wuauserv is StopPending (3): in transition
    assert (w32["name"], w32["state"], w32["scm"]["start_mode"], w32["scm"]["delayed"]) == (
        "W32Time", "stopped", "Auto", False)
    assert w32["scm"]["exit_code"] == 0 and w32["scm"]["service_exit_code"] is None


def test_a_failing_service_query_makes_the_section_unavailable() -> None:
    facts, _ = probe(["services"], {"services": "access_denied"})
    assert facts["services"] == {"unavailable": "Access denied"}


@pytest.mark.parametrize(("state", "delayed", "trigger", "code", "own", "failed"), [
    ("stopped", False, False, 0, 0, True),      # an automatic service nobody should stop
    ("stopped", True, False, 0, 0, False),      # delayed start, stopped itself
    ("stopped", False, True, 0, 0, False),      # trigger start, stopped itself
    ("stopped", False, True, 1077, 0, False),   # trigger start, never triggered
    ("stopped", True, False, 1077, 0, True),    # delayed start that never started
    ("stopped", True, True, 1067, 0, True),     # crashed
    ("stopped", True, False, 1066, 5, True),    # the service's own error
    ("stopped", True, False, 0, 5, True),
    ("starting", False, False, 0, 0, False),    # in transition
    ("paused", False, False, 0, 0, False),
])
def test_the_failed_rule(state: str, delayed: bool, trigger: bool, code: int, own: int, failed: bool) -> None:
    scm = {"start_mode": "Auto", "delayed": delayed, "trigger": trigger, "exit_code": code, "service_exit_code": own}
    assert scm_failed(state, scm) is failed  # type: ignore[arg-type]


# --- time ---------------------------------------------------------------------------------------------

def test_time_synced_to_a_domain_controller_with_its_offset() -> None:
    tm = one("time")
    assert abs(tm["skew_s"]) < 2
    assert (tm["synchronized"], tm["ntp_service"], tm["ntp_enabled"]) == (True, "w32time", True)
    assert tm["ntp_offset_s"] == -0.0123456  # w32tm: the server is 12 ms ahead, so the host is behind
    assert (tm["timezone"], tm["utc_offset"]) == ("W. Europe Standard Time", "+0100")
    assert tm["w32time"] == {"state": "running", "start_mode": "auto", "type": "NT5DS",
                             "ntp_server": "time.windows.com,0x8", "source": "DC01.acme.local",
                             "stripchart": "02:34:24, +00.0123456s"}


def test_skew_is_host_minus_controller_time() -> None:
    tm = one("time", "ahead")
    assert tm["skew_s"] == pytest.approx(300, abs=2)
    assert tm["ntp_offset_s"] == 300.0012345 and tm["utc_offset"] == "+0530"
    doc = '{"ok":true,"data":{"epoch":1000.5,"timezone":"UTC","utc_offset_min":0,"service":null}}'
    facts = parse_output(frame("n", "time", doc), "n", ["time"], ParseContext(990.0, {}))
    assert facts["time"]["skew_s"] == 10.5 and facts["time"]["synchronized"] is None


@pytest.mark.parametrize(("case", "synced", "service", "enabled", "offset_utc"), [
    ("cmos", False, "w32time", True, "-0800"),
    ("free_running", False, "w32time", True, "+0000"),
    ("stopped_trigger", None, None, True, "+0100"),
    ("disabled", False, None, False, "+0100"),
    ("unreachable", True, "w32time", True, "+0000"),
    ("hyperv", True, "w32time", True, "-0330"),
    ("no_service", None, None, None, "+0100"),
])
def test_time_sync_states(case: str, synced: bool | None, service: str | None, enabled: bool | None,
                          offset_utc: str) -> None:
    tm = one("time", case)
    assert (tm["synchronized"], tm["ntp_service"], tm["ntp_enabled"], tm["utc_offset"]) == (
        synced, service, enabled, offset_utc)
    assert tm["ntp_offset_s"] is None  # not synchronised, or the sample was an error / not taken


def test_time_the_local_clock_source_is_the_evidence() -> None:
    assert one("time", "cmos")["w32time"]["source"] == "Local CMOS Clock"
    assert one("time", "unreachable")["w32time"]["stripchart"] == "01:34:24, error: 0x800705B4"


@pytest.mark.parametrize(("out", "offset"), [
    ("01:34:24, +00.0123456s", -0.0123456),
    ("01:34:24, -300.0012345s", 300.0012345),
    ("02:34:24, +01,5000000s", -1.5),
    ("Tracking x [1.2.3.4:123].\r\nCollecting 1 samples.\r\nThe current time is 12/2/2026 1:34:24 AM.\r\n"
     "01:34:24, +00.0000000s", 0.0),
    ("01:34:24, error: 0x800705B4", None),
    ("\x00\ufffdgarbage +-s", None),
    ("", None),
    (None, None),
])
def test_stripchart_offsets_and_garbage(out: str | None, offset: float | None) -> None:
    assert stripchart_offset(out) == offset


def test_time_fixture_epoch_token_is_filled() -> None:
    assert "@EPOCH" not in fixture("time", "default")
