"""The Windows reboot, updates, av (Defender) and backup sections: rmmctl's script answered by the double from
fixtures in the shapes PowerShell 5.1 prints, parsed into the same facts schema as Linux."""

from __future__ import annotations

import json
import time

import jsonschema
import pytest

from rmmctl.facts import json_schema

from test_windows_probe import probe

SECTIONS = ["reboot", "updates", "av", "backup"]


def valid(facts, names=SECTIONS) -> None:  # noqa: ANN001 - Facts
    jsonschema.validate(facts.to_jsonable(), json_schema(names))
    assert not facts.errors, facts.errors


def test_defaults_of_every_section_fit_the_schema_in_one_probe() -> None:
    facts, host = probe(SECTIONS)
    assert host.probes == [SECTIONS]
    valid(facts)


# reboot

def test_windows_update_reboot_is_required_and_the_signals_are_named() -> None:
    facts, _ = probe(["reboot"])
    assert facts["reboot"] == {"required": True, "packages": [],
                               "method": "registry:windows-update+pending-file-rename"}
    valid(facts, ["reboot"])


def test_pending_file_renames_alone_are_reported_but_no_reboot() -> None:
    facts, _ = probe(["reboot"], {"reboot": "pfro_only"})
    assert facts["reboot"] == {"required": False, "packages": [], "method": "registry:pending-file-rename"}


def test_a_pending_computer_rename_and_cbs_require_a_reboot() -> None:
    facts, _ = probe(["reboot"], {"reboot": "rename"})
    assert facts["reboot"]["required"] is True
    assert facts["reboot"]["method"] == "registry:cbs+computer-rename"


def test_no_signal_no_reboot_and_unknown_names_are_no_rename() -> None:
    facts, _ = probe(["reboot"], {"reboot": "clean"})
    assert facts["reboot"] == {"required": False, "packages": [], "method": "registry"}


# updates

def test_pending_updates_with_security_by_severity_or_classification() -> None:
    facts, _ = probe(["updates"])
    upd = facts["updates"]
    assert (upd["manager"], upd["pending"], upd["security"]) == ("windows-update", 5, 2)
    by_name = {p["name"][:30]: p for p in upd["packages"]}
    cu = by_name["2026-11 Cumulative Update for "]
    assert cu == {"name": cu["name"], "version": "KB5046613", "current": None, "repo": "Security Updates",
                  "security": True}
    defs = next(p for p in upd["packages"] if p["version"] == "KB2267602")  # a bare string kb: one-item trap
    assert (defs["repo"], defs["security"]) == ("Definition Updates", False)
    net = next(p for p in upd["packages"] if p["version"] == "KB5011048")
    assert (net["repo"], net["security"]) == ("Updates", False)  # categories as a bare string
    driver = next(p for p in upd["packages"] if p["repo"] == "Drivers")
    assert driver["name"] == "HP Inc. - Printer - 10.2.1.0 'Universal' Druckertreiber für Büro"
    assert driver["version"] == ""  # no KB article
    flash = next(p for p in upd["packages"] if p["version"] == "KB5045934")
    assert flash["security"] is True and flash["repo"] == "Windows 10"  # Important, no classification
    now = time.time()
    assert abs(upd["lists_mtime"] - (now - 3600)) < 5 and abs(upd["last_install"] - (now - 172800)) < 5
    valid(facts, ["updates"])


def test_one_update_printed_as_an_object_and_dates_that_slipped_through() -> None:
    facts, _ = probe(["updates"], {"updates": "one_update"})
    upd = facts["updates"]
    assert (upd["pending"], upd["security"]) == (1, 1)
    assert upd["packages"][0]["version"] == "KB5046615" and upd["packages"][0]["repo"] == "Security Updates"
    now = time.time()
    assert abs(upd["lists_mtime"] - (now - 7200)) < 5 and abs(upd["last_install"] - (now - 90000)) < 5
    valid(facts, ["updates"])


def test_nothing_pending_is_null_updates_and_an_old_search() -> None:
    facts, _ = probe(["updates"], {"updates": "stale"})
    upd = facts["updates"]
    assert (upd["pending"], upd["security"], upd["packages"], upd["last_install"]) == (0, 0, [], None)
    assert abs(upd["lists_mtime"] - (time.time() - 21 * 86400)) < 5
    valid(facts, ["updates"])


def test_a_failing_search_is_unavailable_with_the_com_error() -> None:
    facts, _ = probe(["updates", "reboot"], {"updates": "com_error"})
    assert facts["updates"] == {"unavailable": "Exception from HRESULT: 0x8024402C"}
    assert facts["reboot"]["required"] is True and not facts.errors
    valid(facts, ["updates", "reboot"])


def test_the_update_search_throws_on_a_failed_result_code() -> None:
    from rmmctl.probes.windows import bundle

    script = bundle.section_script("updates")
    assert "IsInstalled=0 and IsHidden=0 and Type='Software'" in script
    assert "-ge 4) { throw" in script  # ResultCode 4 failed / 5 aborted: no silent "0 pending"


# av (Defender)

def test_defender_healthy() -> None:
    facts, _ = probe(["av"])
    av = facts["av"]
    assert (av["engine"], av["tools"], av["db_dir"], av["log"], av["log_tail"]) == ("defender", [], "", None, [])
    assert abs(av["now"] - time.time()) < 5
    (db,) = av["databases"]
    assert db["name"] == "antivirus" and db["size"] == 0 and db["version"] is None
    assert abs(db["mtime"] - (time.time() - 21600)) < 5 and db["built"].endswith("Z")
    assert av["defender"] == {
        "real_time": True, "antivirus_enabled": True, "service_enabled": True, "running_mode": "Normal",
        "tamper_protected": True, "signature_version": "1.421.1234.0", "signature_age_days": 0,
        "quick_scan_age_days": 1, "full_scan_age_days": None,  # 65535: never
        "last_quick_scan": av["defender"]["last_quick_scan"]}
    assert av["defender"]["last_quick_scan"].endswith(".000Z")
    valid(facts, ["av"])


def test_defender_real_time_off_with_old_signatures_and_odd_shapes() -> None:
    facts, _ = probe(["av"], {"av": "realtime_off_stale"})
    d = facts["av"]["defender"]
    assert d["real_time"] is False and d["tamper_protected"] is None
    assert (d["signature_age_days"], d["quick_scan_age_days"], d["full_scan_age_days"]) == (10, None, 30)
    assert d["last_quick_scan"] is None
    assert abs(facts["av"]["databases"][0]["mtime"] - (time.time() - 864000)) < 5  # a /Date(ms)/
    valid(facts, ["av"])


@pytest.mark.parametrize(("case", "reason"), [
    ("not_installed", "Microsoft Defender is not installed (no Get-MpComputerStatus cmdlet)"),
    ("passive", "Microsoft Defender is not the active antivirus (AMRunningMode: Passive Mode) "
                "(active antivirus: Sophos Anti-Virus)"),
])
def test_defender_absent_or_passive_is_unavailable_with_the_reason(case: str, reason: str) -> None:
    facts, _ = probe(["av"], {"av": case})
    assert facts["av"] == {"unavailable": reason}
    valid(facts, ["av"])


def test_the_av_script_checks_the_cmdlet_and_the_running_mode() -> None:
    from rmmctl.probes.windows import bundle

    script = bundle.section_script("av")
    assert "Get-Command Get-MpComputerStatus -ErrorAction SilentlyContinue" in script
    assert "Passive|EDR" in script and "IsTamperProtected) { [bool]" in script


# backup

def test_backup_paths_file_directory_missing_empty() -> None:
    paths = ["D:\\Backups\\nightly.vhdx", "D:\\Sicherung\\Bürodaten", "E:\\Veeam", "D:\\Empty"]
    facts, host = probe(["backup"], params={"BACKUP_PATHS": paths})
    assert json.loads(host.params[0])["BACKUP_PATHS"] == paths
    b = facts["backup"]
    now = int(time.time())
    assert abs(b["now"] - now) < 5
    f, d, m, e = b["paths"]
    assert f["path"] == paths[0] and f["kind"] == "file" and f["size"] == 53687091200
    assert f["newest"] is None and f["files"] is None and abs(f["mtime"] - (now - 7200)) < 5
    assert (d["kind"], d["files"], d["size"], d["newest"]) == ("dir", 12, 1048576,
                                                             "D:\\Sicherung\\Bürodaten\\2026\\müller.zip")
    assert m == {"path": "E:\\Veeam", "kind": "missing", "mtime": None, "size": None, "newest": None, "files": None}
    assert e == {"path": "D:\\Empty", "kind": "dir", "mtime": None, "size": None, "newest": None, "files": 0}
    valid(facts, ["backup"])


def test_one_backup_path_printed_as_an_object_with_numbers_as_strings() -> None:
    facts, _ = probe(["backup"], {"backup": "one_path"})
    (p,) = facts["backup"]["paths"]
    assert p["path"] == "\\\\nas01\\backup\\sql\\acc.bak" and p["size"] == 0 and p["kind"] == "file"
    assert isinstance(facts["backup"]["now"], int)
    valid(facts, ["backup"])


def test_no_backup_paths_is_an_empty_list() -> None:
    facts, _ = probe(["backup"], {"backup": "none"})
    assert facts["backup"]["paths"] == []
    valid(facts, ["backup"])
