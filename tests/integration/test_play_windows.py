"""The win_* modules and the shipped Windows playbooks through real `rmmctl play` over WinRM.

The host is the WS-Management double (real pywinrm client, real WinRS shell actions) answering each
module script from an emulated Windows host (tests/winrm_double/modules.py: a Python model of services,
printers, spool files, files by path ...). What only a real Windows host can prove (the PowerShell itself
running) is left to the opt-in live run; every script is parsed by tree-sitter-powershell in
tests/unit/test_win_module_scripts.py. Each test: check mode leaves the model byte-for-byte as it was, a
real run changes it and says changed, a second run is ok, and the double ends with no shell open.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

import rmmctl
from conftest import cli

try:
    import winrm  # type: ignore[import-untyped]  # noqa: F401

    from winrm_double import FakeWinRM
    from winrm_double.modules import SPOOL, SYSROOT, WinHost, WinModel
    MISSING = None
except ImportError as exc:  # pywinrm is a dependency: missing it under CI is a failure, not a skip
    MISSING = str(exc)

SHIPPED = Path(rmmctl.__file__).parent / "data" / "playbooks"
SCHEMAS = Path(__file__).resolve().parents[2] / "docs" / "schemas"


@pytest.fixture(autouse=True)
def _need_pywinrm(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    if MISSING is not None:
        if os.environ.get("CI"):
            pytest.fail(f"pywinrm unavailable in CI: {MISSING}", pytrace=False)
        pytest.skip(f"pywinrm unavailable: {MISSING}")
    monkeypatch.setenv("RMMCTL_TEST_WINRM_PW", "s3cret")


def _validate(doc: dict[str, Any]) -> None:
    """The play document matches docs/schemas/play.schema.json (Windows hosts in the same shape)."""
    import jsonschema
    from referencing import Registry, Resource

    schemas = [json.loads(p.read_text()) for p in SCHEMAS.glob("*.schema.json")]
    registry = Registry().with_resources((s["$id"], Resource.from_contents(s)) for s in schemas)
    ref = {"$ref": "https://rmmctl.dev/schemas/v1/play.schema.json"}
    jsonschema.Draft202012Validator(ref, registry=registry).validate(doc)


class Rig:
    def __init__(self, tmp_path: Path, host: WinHost, srv: FakeWinRM) -> None:
        self.tmp, self.host, self.srv = tmp_path, host, srv
        self.inv = tmp_path / "inv.yaml"
        self.inventory()

    @property
    def model(self) -> WinModel:
        return self.host.model

    def inventory(self, linux: bool = False, local: bool = False, **vars: Any) -> None:
        hosts: dict[str, Any] = {"win01": {
            "address": "127.0.0.1", "port": self.srv.port, "user": "rmm", "connection": "winrm",
            "password_env": "RMMCTL_TEST_WINRM_PW",
            "vars": {"winrm_transport": "basic", "winrm_scheme": "http", "winrm_allow_basic_http": True, **vars}}}
        if linux:  # a Linux host of a mixed inventory: never contacted by a Windows playbook (closed port)
            hosts["lin01"] = {"address": "127.0.0.1", "port": 9, "os": "linux", "user": "rmm"}
        if local:  # this machine (family posix): for plays where the module lookup refuses before any exec
            hosts["here"] = {"address": "127.0.0.1", "connection": "local"}
        self.inv.write_text(yaml.safe_dump({"hosts": hosts}))

    def play(self, tasks: list[dict[str, Any]] | Path, *args: str, hosts: str = "all") -> dict[str, Any]:
        if isinstance(tasks, Path):
            book = tasks
        else:
            book = self.tmp / "book.yaml"
            book.write_text(yaml.safe_dump({"hosts": hosts, "tasks": tasks}, sort_keys=False))
        result = cli("play", str(book), *args, "-i", str(self.inv), "-o", "json", "--connect-timeout", "3")
        assert not self.host.unknown, self.host.unknown
        try:
            doc = json.loads(result.stdout)
        except ValueError:
            raise AssertionError(f"exit {result.exit_code}: {result.output}") from None
        _validate(doc)
        doc["exit"] = result.exit_code
        return doc

    def tasks(self, doc: dict[str, Any], host: str = "win01") -> list[dict[str, Any]]:
        [h] = [h for h in doc["hosts"] if h["name"] == host]
        return h["data"]["tasks"]

    def one(self, task: dict[str, Any], *args: str) -> dict[str, Any]:
        doc = self.play([task], *args)
        [t] = self.tasks(doc)
        return {**t, "exit": doc["exit"]}

    def cycle(self, task: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        """--check (the model unchanged, byte for byte), a real run, a second run."""
        before = self.model.snapshot()
        dry = self.one(task, "--check")
        assert self.model.snapshot() == before, "check mode changed the host"
        real = self.one(task, "--yes")
        again = self.one(task, "--yes")
        return dry, real, again


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    host = WinHost()
    with FakeWinRM(host) as srv:
        host.server = srv
        yield Rig(tmp_path, host, srv)
        assert not srv.shells, f"shells left open: {list(srv.shells)}"


# ---------------------------------------------------------------- win_service

def test_win_service_plans_starts_and_then_is_ok(rig: Rig) -> None:
    task = {"name": "time", "win_service": {"name": "W32Time", "state": "started", "start_mode": "delayed"}}
    dry, real, again = rig.cycle(task)
    assert dry["status"] == "changed" and dry["exit"] == 0
    assert dry["message"] == "would set start mode delayed, start W32Time (check mode)"
    assert dry["data"]["actions"] == ["set start mode delayed", "start"]
    assert real["status"] == "changed" and real["data"]["status"] == "Running" and real["data"]["start_mode"] == "delayed"
    assert rig.model.services["W32Time"] == {"display": "Windows Time", "status": "Running",
                                             "start_type": "Automatic", "delayed": True}
    assert again["status"] == "ok" and again["message"].startswith("W32Time is as wanted")
    stop = rig.one({"win_service": {"name": "W32Time", "state": "stopped", "start_mode": "manual"}}, "--yes")
    assert stop["status"] == "changed" and rig.model.services["W32Time"]["status"] == "Stopped"
    assert rig.model.services["W32Time"]["start_type"] == "Manual"


def test_win_service_unknown_name_fails_and_a_templated_name_stays_data(rig: Rig) -> None:
    missing = rig.one({"win_service": {"name": "NoSuchSvc", "state": "started"}}, "--yes")
    assert missing["status"] == "failed" and "Cannot find any service with service name 'NoSuchSvc'" in missing["message"]
    rig.inventory(svc="Spooler; Stop-Computer $(whoami)")
    bad = rig.one({"win_service": {"name": "{{ svc }}", "state": "started"}}, "--yes")
    assert bad["status"] == "failed" and "win_service.name" in bad["message"]  # refused before any script
    assert all(c[0] != "win_service" or c[1]["name"] != "Spooler; Stop-Computer $(whoami)" for c in rig.host.calls)


def test_a_posix_module_on_a_windows_host_is_reported_not_available(rig: Rig) -> None:
    t = rig.one({"name": "posix", "command": "hostname"}, "--yes")
    assert t["status"] == "failed"
    assert t["message"] == "module command is not available for windows hosts (use win_command there)"
    t = rig.one({"name": "posix", "lineinfile": {"path": "/etc/x", "line": "y"}}, "--yes")
    assert t["message"] == "module lineinfile is not available for windows hosts"
    assert rig.host.calls == []  # nothing ran


def test_a_mixed_play_runs_each_family_its_own_modules(rig: Rig) -> None:
    rig.inventory(local=True)
    doc = rig.play([{"name": "svc", "win_service": {"name": "W32Time", "state": "started"}}], "--yes")
    assert doc["exit"] == 5
    [here] = rig.tasks(doc, "here")
    assert here["message"] == "module win_service is not available for posix hosts (use service there)"
    [win] = rig.tasks(doc, "win01")
    assert win["status"] == "changed" and rig.model.services["W32Time"]["status"] == "Running"


def test_a_mixed_play_picks_tasks_by_the_probed_os_family(rig: Rig) -> None:
    """`when: facts.os.family == 'windows'`: the play probes the os section once per host (the Windows
    prober over WinRM, answered from its fixtures; the local prober here), then each host runs its tasks."""
    from winrm_double.probes import ProbeHost

    rig.host.other = ProbeHost()
    rig.inventory(local=True)
    doc = rig.play([{"name": "windows", "win_service": {"name": "W32Time", "state": "started"},
                     "when": "facts.os.family == 'windows'"},
                    {"name": "posix", "command": "true", "when": "facts.os.family != 'windows'"}], "--yes")
    assert doc["exit"] == 0, doc
    assert [t["status"] for t in rig.tasks(doc, "win01")] == ["changed", "skipped"]
    assert [t["status"] for t in rig.tasks(doc, "here")] == ["skipped", "changed"]
    assert rig.host.other.probes == [["os"]] and rig.model.services["W32Time"]["status"] == "Running"


def test_templated_values_with_code_stay_data_in_every_module_that_takes_text(rig: Rig) -> None:
    """Each value reaches the script as JSON data: the double sees exactly the literal, and the script text
    is the one rmmctl ships (the double refuses any other), so nothing was spliced into the code."""
    stuck_queue(rig.model)
    evil_path = "C:\\Temp\\$(Stop-Computer);x'y"
    rig.inventory(nasty=NASTY, evil_path=evil_path)
    rig.model.put(evil_path + "\\old.tmp", b"z", age_s=30 * 86400)
    book = [{"name": "printer", "win_printer": {"name": "{{ nasty }}", "state": "resumed"}, "ignore_errors": True},
            {"name": "cleanup", "win_cleanup": {"temp": False, "paths": ["{{ evil_path }}"]}},
            {"name": "copy", "win_copy": {"dest": "{{ evil_path }}\\f.txt", "content": "{{ nasty }}"}},
            {"name": "reboot", "win_reboot": {"msg": "{{ nasty }}", "pre_reboot_delay": 0, "reboot_timeout": 30}}]
    doc = rig.play(book, "--yes")
    printer, cleanup, copy, reboot = rig.tasks(doc)
    assert printer["status"] == "failed" and f"no such printer: {NASTY}" in printer["message"]
    assert cleanup["status"] == "changed" and not rig.model.key(evil_path + "\\old.tmp")
    assert copy["status"] == "changed" and rig.model.content(evil_path + "\\f.txt") == NASTY.encode()
    assert reboot["status"] == "changed", reboot["message"]
    sent = {name: p for name, p in rig.host.calls}
    assert sent["win_cleanup"]["paths"] == [evil_path] and sent["win_copy"]["dest"] == evil_path + "\\f.txt"
    assert [p["msg"] for n, p in rig.host.calls if n == "win_reboot" and p["op"] == "reboot"] == [NASTY]
    assert not rig.host.unknown


# ---------------------------------------------------------------- win_command / win_shell / win_copy

NASTY = "$(Stop-Computer -Force); Remove-Item -Recurse C:\\ `whoami` 'quoted' \"double\""


def test_win_command_argv_stays_data_and_creates_gates_it(rig: Rig) -> None:
    rig.inventory(nasty=NASTY)
    before = rig.model.snapshot()
    dry = rig.one({"win_command": {"argv": ["echoargs", "{{ nasty }}", "a b", "tail\\"]}}, "--check")
    assert dry["status"] == "skipped" and "check mode" in dry["message"] and rig.model.snapshot() == before
    real = rig.one({"win_command": {"argv": ["echoargs", "{{ nasty }}", "a b", "tail\\"]}}, "--yes")
    assert real["status"] == "changed", real["message"]
    assert real["data"]["stdout_lines"] == [NASTY, "a b", "tail\\"]  # each word arrived as that one word
    assert json.loads(rig.model.ran[-1]) == ["echoargs", NASTY, "a b", "tail\\"]
    touch = {"win_command": {"cmd": "touch C:\\ProgramData\\acme\\done.txt", "creates": "C:\\ProgramData\\acme\\done.txt"}}
    first, again = rig.one(touch, "--yes"), rig.one(touch, "--yes")
    assert first["status"] == "changed" and rig.model.content("C:\\ProgramData\\acme\\done.txt") == b""
    assert again["status"] == "ok" and again["message"] == "skipped: C:\\ProgramData\\acme\\done.txt exists (creates)"
    failed = rig.one({"win_command": "fail now"}, "--yes")
    assert failed["status"] == "failed" and failed["message"] == "rc=3: it failed" and failed["exit"] == 5
    missing = rig.one({"win_command": "nosuchprogram"}, "--yes")
    assert missing["status"] == "failed" and "no program nosuchprogram" in missing["message"]


def test_win_shell_runs_powershell_and_skips_in_check_mode(rig: Rig) -> None:
    before = rig.model.snapshot()
    dry = rig.one({"win_shell": "Get-Service | Select-Object -First 1"}, "--check")
    assert dry["status"] == "skipped" and rig.model.snapshot() == before
    real = rig.one({"win_shell": "Get-Service | Select-Object -First 1"}, "--yes")
    assert real["status"] == "changed" and real["data"]["stdout"] == "ran: Get-Service | Select-Object -First 1"
    gated = rig.one({"win_shell": {"cmd": "x", "removes": "C:\\nope.txt"}}, "--yes")
    assert gated["status"] == "ok" and "does not exist (removes)" in gated["message"]


def test_win_copy_writes_only_when_the_hash_differs_and_content_stays_data(rig: Rig) -> None:
    rig.inventory(nasty=NASTY)
    task = {"win_copy": {"dest": "C:\\ProgramData\\acme\\note.txt", "content": "contact: {{ nasty }}\n"}}
    dry, real, again = rig.cycle(task)
    assert dry["status"] == "changed" and dry["message"].startswith("would create C:\\ProgramData\\acme\\note.txt")
    assert real["status"] == "changed" and real["message"].startswith("created ")
    assert rig.model.content("C:\\ProgramData\\acme\\note.txt") == f"contact: {NASTY}\n".encode()
    assert again["status"] == "ok" and again["message"] == "C:\\ProgramData\\acme\\note.txt is as wanted"
    other = rig.one({"win_copy": {"dest": "C:\\ProgramData\\acme\\note.txt", "content": "new"}}, "--check")
    assert other["status"] == "changed" and "would replace" in other["message"]
    blob = bytes(range(256)) * 6000  # 1.5 MB of binary: base64 after the JSON line, in several Sends
    (rig.tmp / "blob.bin").write_bytes(blob)
    big = rig.one({"win_copy": {"dest": "D:\\drivers\\blob.bin", "src": "blob.bin"}}, "--yes")
    assert big["status"] == "changed" and rig.model.content("D:\\drivers\\blob.bin") == blob
    assert "content" not in rig.host.calls[-1][1] and len(rig.host.calls[-1][1]["$Payload"]) > 2_000_000
    book = rig.tmp / "bad.yaml"
    book.write_text(yaml.safe_dump({"hosts": "all", "tasks": [{"win_copy": {"dest": "x.txt", "content": "x"}}]}))
    bad = cli("play", str(book), "--yes", "-i", str(rig.inv))
    assert bad.exit_code == 3 and "expected an absolute Windows path" in bad.stderr  # refused at load


# ---------------------------------------------------------------- win_printer

def stuck_queue(m: WinModel) -> None:
    """A spooler with a stuck job (old spool files), a fresh job, a paused printer and an idle one."""
    m.printers = {"Büro Laser": {"driver": "HP Universal Printing PCL 6", "status": "Normal"},
                  "Label-01": {"driver": "Microsoft IPP Class Driver", "status": "Paused"}}
    m.drivers.append("HP Universal Printing PCL 6")
    m.spool_file("00012.SPL", age_s=3 * 3600, size=50_000)
    m.spool_file("00012.SHD", age_s=3 * 3600, size=1_000)
    m.spool_file("00013.SPL", age_s=60, size=4_000)
    m.spool_file("00013.SHD", age_s=60, size=500)
    m.jobs = [{"printer": "Büro Laser", "id": 12, "document": "Rechnung März.pdf", "status": "Error, Printing",
               "age_s": 3 * 3600, "size": 50_000, "files": ["00012.SPL", "00012.SHD"]},
              {"printer": "Büro Laser", "id": 13, "document": "memo.docx", "status": "Spooling",
               "age_s": 60, "size": 4_000, "files": ["00013.SPL", "00013.SHD"]}]


def test_win_printer_clears_only_the_stuck_files_and_resumes(rig: Rig) -> None:
    stuck_queue(rig.model)
    task = {"win_printer": {"clear_spool": True, "spool_older_than_minutes": 15, "state": "resumed"}}
    dry, real, again = rig.cycle(task)
    assert dry["status"] == "changed" and dry["exit"] == 0
    assert dry["data"]["gone"]["files"] == ["00012.SPL", "00012.SHD"]
    assert [j["id"] for j in dry["data"]["gone"]["jobs"]] == [12]
    assert dry["data"]["actions"] == ["stop the spooler", "remove 2 spool file(s) (49.8 KiB)", "start the spooler",
                                      "resume Label-01"]
    assert dry["message"] == ("would stop the spooler, remove 2 spool file(s) (49.8 KiB), start the spooler, "
                              "resume Label-01; would drop job 12 (Rechnung März.pdf) on Büro Laser (check mode)")
    assert real["status"] == "changed" and real["data"]["removed"] == ["00012.SPL", "00012.SHD"]
    assert real["data"]["bytes_freed"] == 51_000 and real["message"].endswith("; the spooler is running")
    m = rig.model
    assert sorted(p.rsplit("\\", 1)[1] for p in m.under(SPOOL)) == ["00013.SHD", "00013.SPL"]
    assert [j["id"] for j in m.jobs] == [13] and m.printers["Label-01"]["status"] == "Normal"
    assert m.services["Spooler"]["status"] == "Running"
    assert again["status"] == "ok" and again["message"] == "the spooler is running and the selected printers are as wanted"


def test_win_printer_starts_a_stopped_spooler_and_adds_a_driver(rig: Rig) -> None:
    m = rig.model
    stuck_queue(m)
    m.services["Spooler"].update(status="Stopped", start_type="Disabled")
    m.driver_store.append("C:\\Drivers\\acme\\acme.inf")
    task = {"win_printer": {"restart_spooler": "if_down", "name": "Büro Laser", "driver_name": "Acme PCL6",
                            "driver_inf": "C:\\Drivers\\acme\\acme.inf"}}
    dry, real, again = rig.cycle(task)
    assert dry["status"] == "changed" and dry["message"].startswith("would start the spooler; the printers are read")
    assert real["status"] == "changed", real["message"]
    assert real["data"]["actions"] == ["start the spooler", "add driver Acme PCL6 from C:\\Drivers\\acme\\acme.inf",
                                       "set the driver of Büro Laser to Acme PCL6"]
    assert m.services["Spooler"] == {**m.services["Spooler"], "status": "Running", "start_type": "Automatic"}
    assert m.printers["Büro Laser"]["driver"] == "Acme PCL6" and "Acme PCL6" in m.drivers
    assert again["status"] == "ok"
    m.driver_store.clear()
    gone = rig.one({"win_printer": {"name": "Label-01", "driver_name": "Other", "driver_inf": "C:\\Drivers\\x.inf"}},
                   "--yes")
    assert gone["status"] == "failed" and "driver_inf C:\\Drivers\\x.inf: no such file on the host" in gone["message"]
    nope = rig.one({"win_printer": {"name": "Nope", "state": "resumed"}}, "--yes")
    assert nope["status"] == "failed" and "no such printer: Nope (printers here: Büro Laser, Label-01)" in nope["message"]


def test_win_printer_a_locked_spool_file_fails_but_the_spooler_is_started_again(rig: Rig) -> None:
    m = rig.model
    stuck_queue(m)
    m.files[f"{SPOOL}\\00012.SPL"]["locked"] = True
    t = rig.one({"win_printer": {"clear_spool": True}}, "--yes")
    assert t["status"] == "failed" and "could not remove 00012.SPL: in use" in t["message"]
    assert m.services["Spooler"]["status"] == "Running"  # the start after the stop still ran


# ---------------------------------------------------------------- win_cleanup / defender / optimize

def test_win_cleanup_lists_then_removes_old_files_and_leaves_the_update_cache_while_wuauserv_runs(rig: Rig) -> None:
    m = rig.model
    day = 86400
    m.put(f"{SYSROOT}\\Temp\\old.log", b"o" * 3000, age_s=30 * day)
    m.put(f"{SYSROOT}\\Temp\\new.log", b"n" * 10, age_s=60)
    m.put("C:\\Users\\rmm\\AppData\\Local\\Temp\\setup\\big.tmp", b"b" * 7000, age_s=9 * day)
    m.put("C:\\Users\\rmm\\AppData\\Local\\Temp\\in-use.tmp", b"u" * 5, age_s=9 * day)
    m.files["C:\\Users\\rmm\\AppData\\Local\\Temp\\in-use.tmp"]["locked"] = True
    m.put(f"{SYSROOT}\\SoftwareDistribution\\Download\\abc.cab", b"c" * 100, age_s=40 * day)
    m.put(f"{SYSROOT}\\Temp\\link\\system.dll", b"s" * 10, age_s=400 * day)  # behind a junction
    m.links.append(f"{SYSROOT}\\Temp\\link")
    task = {"win_cleanup": {"windows_update_cache": True, "older_than_days": 7}}
    dry, real, again = rig.cycle(task)
    assert dry["status"] == "changed" and dry["data"]["files"] == 3 and dry["data"]["bytes"] == 10005
    assert dry["message"] == ("would remove 3 file(s), 9.8 KiB, older than 7 day(s); skipped: "
                              "C:\\Windows\\SoftwareDistribution\\Download (wuauserv is Running) (check mode)")
    assert real["status"] == "changed" and real["data"]["bytes_freed"] == 10000 and real["data"]["in_use"] == 1
    assert real["message"].startswith("removed 2 file(s), freed 9.8 KiB; 1 in use, left")
    assert m.key(f"{SYSROOT}\\Temp\\new.log") and m.key(f"{SYSROOT}\\SoftwareDistribution\\Download\\abc.cab")
    assert not m.key(f"{SYSROOT}\\Temp\\old.log") and m.key(f"{SYSROOT}\\Temp\\link\\system.dll")
    assert again["status"] == "ok" and again["message"].startswith("nothing removed")
    m.services["wuauserv"]["status"] = "Stopped"
    cache = rig.one(task, "--yes")
    assert cache["status"] == "changed" and not m.key(f"{SYSROOT}\\SoftwareDistribution\\Download\\abc.cab")


def test_win_defender_update_skips_in_check_mode_then_updates_then_is_current(rig: Rig) -> None:
    dry, real, again = rig.cycle({"win_defender_update": {}})
    assert dry["status"] == "skipped" and "signatures 5.0 days old (version 1.401.100.0)" in dry["message"]
    assert real["status"] == "changed" and real["data"]["age_days_after"] == 0
    assert real["message"] == ("signatures updated (Update-MpSignature): signatures 5.0 days old (version "
                               "1.401.100.0) -> signatures 0.0 days old (version 1.401.200.0)")
    assert again["status"] == "ok" and again["message"].startswith("signatures are current")
    assert rig.model.defender and rig.model.defender["version"] == "1.401.200.0"
    rig.model.defender.update(server="1.401.300.0", cmdlet_fails=True)
    fallback = rig.one({"win_defender_update": {}}, "--yes")
    assert fallback["status"] == "changed" and fallback["data"]["method"] == "MpCmdRun -SignatureUpdate"
    rig.model.defender = None
    absent = rig.one({"win_defender_update": {}}, "--yes")
    assert absent["status"] == "skipped" and absent["message"].startswith("Microsoft Defender is not available")


def test_win_optimize_volume_picks_the_operation_by_media_type(rig: Rig) -> None:
    rig.model.volumes = [{"letter": "C", "label": "OS", "fs": "NTFS", "media": "SSD"},
                         {"letter": "D", "label": "Data", "fs": "NTFS", "media": "HDD"},
                         {"letter": "E", "label": "VM", "fs": "NTFS", "media": "Unspecified"}]
    before = rig.model.snapshot()
    dry = rig.one({"win_optimize_volume": {}}, "--check")
    assert rig.model.snapshot() == before
    assert dry["message"] == ("would retrim C: (SSD), defrag D: (HDD); left out: E: (media type Unspecified: "
                              "set unspecified_media) (check mode)")
    real = rig.one({"win_optimize_volume": {"unspecified_media": "retrim"}}, "--yes")
    assert real["status"] == "changed" and rig.model.optimized == ["retrim C", "defrag D", "retrim E"]
    assert real["data"]["results"][0]["lines"] == ["Invoking retrim on (C:)...", "Retrim:  100% complete."]
    one = rig.one({"win_optimize_volume": {"drive_letters": ["d:"]}}, "--yes")
    assert one["status"] == "changed" and rig.model.optimized[-1] == "defrag D"
    missing = rig.one({"win_optimize_volume": {"drive_letters": ["Z"]}}, "--yes")
    assert missing["status"] == "failed" and missing["message"] == "no fixed volume Z: on the host"


# ---------------------------------------------------------------- win_reboot / win_updates

def test_win_reboot_waits_for_a_new_boot_time_over_a_new_shell(rig: Rig) -> None:
    before = rig.model.snapshot()
    dry = rig.one({"win_reboot": {}}, "--check")
    assert dry["status"] == "changed" and rig.model.snapshot() == before
    created = rig.srv.created
    real = rig.one({"win_reboot": {"pre_reboot_delay": 0, "reboot_timeout": 30}}, "--yes")
    assert real["status"] == "changed", real["message"]
    assert real["data"]["boot_time_before"] == "2026-12-01T06:00:00.0000000Z"
    assert real["data"]["boot_time_after"] == rig.model.boot != real["data"]["boot_time_before"]
    assert rig.model.reboots == 1 and rig.srv.created - created >= 2  # reconnected: a new shell


def _updates(m: WinModel) -> None:
    m.updates = [
        {"id": "u-sec", "title": "2026-11 Cumulative Update (KB5049999)", "kb": ["KB5049999"],
         "categories": ["Security Updates"], "reboot": True},
        {"id": "u-crit", "title": "Servicing Stack Update (KB5048888)", "kb": ["KB5048888"],
         "categories": ["Critical Updates"], "reboot": False},
        {"id": "u-drv", "title": "Acme - Printer - 1.2", "kb": [], "categories": ["Drivers"], "reboot": False}]


def test_win_updates_installs_through_a_system_task_and_reboots_in_the_window(rig: Rig) -> None:
    m = rig.model
    _updates(m)
    task = {"win_updates": {"category_names": ["SecurityUpdates", "CriticalUpdates"], "reboot": True,
                            "poll_interval": 1, "reboot_timeout": 30}}
    dry, real, again = rig.cycle(task)
    assert dry["status"] == "changed" and [u["id"] for u in dry["data"]["updates"]] == ["u-sec", "u-crit"]
    assert dry["message"] == "would install 2 update(s): KB5049999, KB5048888 (check mode)"
    assert real["status"] == "changed", real["message"]
    assert [u["result"] for u in real["data"]["installed"]] == ["succeeded", "succeeded"]
    assert real["data"]["rebooted"] and m.reboots == 1 and real["data"]["polls"] >= 2
    assert real["data"]["task"].startswith("\\rmmctl\\rmmctl-wu-")
    starts = [p for name, p in rig.host.calls if name == "win_updates" and p["op"] == "start"]
    assert len(starts) == 1 and starts[0]["ids"] == ["u-sec", "u-crit"]
    assert m.tasks == {} and not m.under("C:\\ProgramData\\rmmctl")  # unregistered, files removed
    assert [u["id"] for u in m.updates if not u.get("installed")] == ["u-drv"]
    assert again["status"] == "ok" and again["message"] == "no updates to install"


def test_win_updates_does_not_reboot_outside_the_window(rig: Rig) -> None:
    import datetime as dt

    _updates(rig.model)
    later = (dt.datetime.now() + dt.timedelta(hours=12)).strftime("%H:%M")
    end = (dt.datetime.now() + dt.timedelta(hours=12, minutes=1)).strftime("%H:%M")
    rig.inventory(maintenance_window=f"{later}-{end}")
    task = {"win_updates": {"category_names": "SecurityUpdates", "reboot": True, "poll_interval": 1}}
    doc = rig.play([task], "--yes", "--ignore-window")
    [t] = rig.tasks(doc)
    assert t["status"] == "changed" and rig.model.reboots == 0
    assert t["message"].endswith("a reboot is required (not rebooted: outside the maintenance window)")
    assert t["data"]["reboot_required"] is True


def test_win_updates_a_task_that_ends_without_a_result_fails_and_is_removed(rig: Rig) -> None:
    _updates(rig.model)
    rig.model.wu_task_crashes = True
    t = rig.one({"win_updates": {"poll_interval": 1}}, "--yes")
    assert t["status"] == "failed" and t["exit"] == 5
    assert "the scheduled task ended (Ready, last result 0x00000001) without a result file" in t["message"]
    assert rig.model.tasks == {} and not rig.model.under("C:\\ProgramData\\rmmctl")
    assert not any(u.get("installed") for u in rig.model.updates)


# ---------------------------------------------------------------- shipped playbooks

def test_shipped_spooler_repair_fixes_a_stuck_queue_on_windows_only(rig: Rig) -> None:
    stuck_queue(rig.model)
    rig.inventory(linux=True)
    book = SHIPPED / "windows-spooler-repair.yaml"
    before = rig.model.snapshot()
    dry = rig.play(book, "--check")
    assert rig.model.snapshot() == before and [h["name"] for h in dry["hosts"]] == ["win01"]
    real = rig.play(book, "--yes")
    assert real["exit"] == 0, real
    repair, service = rig.tasks(real)
    assert repair["status"] == "changed" and service["status"] == "ok"
    assert [j["id"] for j in rig.model.jobs] == [13] and rig.model.printers["Label-01"]["status"] == "Normal"
    again = rig.play(book, "--yes")
    assert [t["status"] for t in rig.tasks(again)] == ["ok", "ok"]


def test_shipped_maintenance_and_updates_plan_on_windows(rig: Rig) -> None:
    m = rig.model
    _updates(m)
    m.volumes = [{"letter": "C", "label": "OS", "fs": "NTFS", "media": "SSD"}]
    m.put(f"{SYSROOT}\\Temp\\old.log", b"o" * 100, age_s=30 * 86400)
    before = m.snapshot()
    maint = rig.play(SHIPPED / "windows-maintenance.yaml", "--check")
    assert maint["exit"] == 0 and [t["status"] for t in rig.tasks(maint)] == ["changed", "changed", "skipped"]
    updates = rig.play(SHIPPED / "windows-updates.yaml", "--check")
    [t] = rig.tasks(updates)
    assert t["status"] == "changed" and [u["id"] for u in t["data"]["updates"]] == ["u-sec", "u-crit"]
    assert m.snapshot() == before
    real = rig.play(SHIPPED / "windows-maintenance.yaml", "--yes")
    assert [t["status"] for t in rig.tasks(real)] == ["changed", "changed", "changed"], real
    assert not m.key(f"{SYSROOT}\\Temp\\old.log") and m.optimized == ["retrim C"]
    assert m.defender and m.defender["age_s"] == 0
    again = rig.play(SHIPPED / "windows-maintenance.yaml", "--yes")
    assert [t["status"] for t in rig.tasks(again)] == ["ok", "changed", "ok"]  # a ReTrim always runs
    listed = json.loads(cli("play", "--list", "-o", "json").stdout)["playbooks"]
    hosts = {p["name"]: p["hosts"] for p in listed}
    assert {hosts[n] for n in ("windows-updates", "windows-spooler-repair", "windows-maintenance")} == {"os=windows"}


def test_the_winrm_transport_connects_again_after_close(rig: Rig) -> None:
    """HostContext.reconnect (after a reboot) is close() then connect(): a new shell, commands run again."""
    from rmmctl.inventory.model import Host
    from rmmctl.transports import TransportOptions, open_transport

    host = Host(name="win01", address="127.0.0.1", connection="winrm", port=rig.srv.port, user="rmm", os="windows",
                vars={"winrm_transport": "basic", "winrm_scheme": "http", "winrm_allow_basic_http": True,
                      "password_env": "RMMCTL_TEST_WINRM_PW"})
    t = open_transport(host, TransportOptions(connect_timeout=3, command_timeout=10))
    try:
        t.connect()
        t.close()
        t.connect()
        res = t.run("'not a module'")
    finally:
        t.close()
    assert res.exit_code == 1 and "does not know this script" in res.stderr  # it ran: the double answered
    assert rig.srv.created == 2 and not rig.srv.shells
    rig.host.unknown.clear()


# ---------------------------------------------------------------- diagnose --fix on Windows

KX = "Kyocera TASKalfa 3253ci KX"
KX_INF = "C:\\Windows\\System32\\DriverStore\\FileRepository\\oemsetup.inf_amd64_55aa66bb77cc88dd\\OEMSETUP.INF"


def test_diagnose_fix_clears_a_stuck_queue_and_reinstalls_a_failing_driver_with_the_shipped_playbooks(
        rig: Rig) -> None:
    """The issue's demo: a Windows print server with a job stuck for two hours and a driver whose plug-in
    fails to load at every spooler start. diagnose finds both with the host's evidence, --fix runs
    windows-spooler-repair and windows-printer-driver, and the re-diagnosis finds nothing: the probe reads
    the emulated host after the plays (its printers section comes from the model, not a fixture)."""
    from winrm_double.modules import printers_section
    from winrm_double.probes import ProbeHost

    m = rig.model
    m.printers = {"Empfang Kyocera": {"driver": KX, "status": "Normal"}}
    m.drivers.append(KX)
    m.driver_infs[KX], m.driver_store = KX_INF, [KX_INF]
    m.broken_drivers.append(KX)
    m.spooler_loads()  # the spooler started with the broken driver: an 808 since
    m.spool_file("00012.SPL", age_s=7200)
    m.spool_file("00012.SHD", age_s=7200)
    m.jobs.append({"printer": "Empfang Kyocera", "id": 12, "document": "Angebot.docx", "status": "Error",
                   "age_s": 7200, "size": 2048, "files": ["00012.SPL", "00012.SHD"]})
    probes = ProbeHost({"*": "healthy"}, live={"printers": lambda: printers_section(m)})
    rig.host.other = probes

    def diagnose(*args: str) -> tuple[int, dict[str, Any]]:
        res = cli("diagnose", "win01", "--check", "printers", *args, "-i", str(rig.inv), "-o", "json")
        assert not rig.host.unknown and not probes.unknown, (rig.host.unknown, probes.unknown)
        return res.exit_code, json.loads(res.stdout)

    code, doc = diagnose()
    found = {f["check_id"]: f for f in doc["hosts"][0]["data"]["findings"]}
    assert found["printers.stuck_queue"]["playbook"] == "windows-spooler-repair"
    assert any("Angebot.docx" in e for e in found["printers.stuck_queue"]["evidence"])
    assert found["printers.driver_failing"]["playbook"] == "windows-printer-driver"
    assert any("808" in e and "kyoceraui.dll" in e for e in found["printers.driver_failing"]["evidence"])
    assert code == 5  # a failing driver a printer uses is critical

    before = m.snapshot()
    code, dry = diagnose("--fix", "--dry-run")
    assert m.snapshot() == before, "the dry run changed the host"
    assert sorted(p["playbook"] for p in dry["plays"]) == ["windows-printer-driver", "windows-spooler-repair"]

    code, doc = diagnose("--fix", "--yes")
    assert code == 0, doc
    assert all(p["ran"] and p["recap"]["win01"]["failed"] == 0 for p in doc["plays"]), doc["plays"]
    rows = {r["check_id"]: r for r in doc["findings"]}
    assert rows["printers.stuck_queue"]["after"] is None and rows["printers.driver_failing"]["after"] is None
    assert doc["hosts"][0]["status"] == "ok" and doc["hosts"][0]["data"]["findings"] == []
    assert not m.under(SPOOL) and not m.jobs and m.broken_drivers == []  # what the plays did, on the host
    assert ("win_printer", "add_driver") in {(n, a["op"]) for n, p in rig.host.calls for a in p.get("actions", [])}
