"""Health thresholds: facts in, findings out (pure), and the status summary."""

from __future__ import annotations

import pytest

from rmmctl.checks.base import Finding, Severity, worst_status
from rmmctl.checks.catalog import CHECKS
from rmmctl.checks.registry import run_checks
from rmmctl.errors import ConfigError
from rmmctl.health import summarise
from rmmctl.models import Status

HEALTH = CHECKS.select(["disk.space", "disk.inodes", "memory", "cpu", "services", "updates.security", "reboot",
                        "time.skew", "probe"])


def evaluate(facts: dict, host_vars: dict, host: str = "") -> list[Finding]:
    return run_checks(HEALTH, facts, host_vars, host)


def mount(path: str, pct: float, *, ro: bool = False, inodes: float | None = 10.0) -> dict:
    return {"mount": path, "device": "/dev/x", "fstype": "ext4", "size_kb": 1000, "used_kb": int(pct * 10),
            "avail_kb": 1000 - int(pct * 10), "used_pct": pct, "inodes_total": 100, "inodes_used": inodes,
            "inodes_free": 100 - (inodes or 0), "inodes_pct": inodes, "read_only": ro}


FACTS = {
    "os": {"id": "debian", "name": "Debian GNU/Linux", "version_id": "12", "pretty_name": "Debian GNU/Linux 12"},
    "host": {"hostname": "web01"},
    "uptime": {"seconds": 90000, "load1": 0.5, "load5": 0.4, "load15": 0.3},
    "cpu": {"count": 2, "percent": 12.5},
    "memory": {"total_kb": 1000, "available_kb": 600, "used_pct": 40.0, "swap_total_kb": 0, "swap_used_kb": 0,
               "swap_used_pct": None},
    "filesystems": {"mounts": [mount("/", 50.0), mount("/boot", 70.0)]},
    "services": {"available": True, "failed": []},
    "updates": {"manager": "apt", "pending": 3, "security": 0, "packages": []},
    "reboot": {"required": False, "packages": [], "method": "reboot-required"},
    "time": {"epoch": 1, "skew_s": 0.2, "synchronized": True},
    "errors": {},
}


NGINX_FAILED = {"name": "nginx", "state": "failed", "start_mode": None, "description": "A web server",
                "systemd": {"unit": "nginx.service", "load": "loaded", "active": "failed", "sub": "failed"},
                "scm": None}


def with_(section: str, **changes: object) -> dict:
    facts = {k: (dict(v) if isinstance(v, dict) else v) for k, v in FACTS.items()}
    facts[section].update(changes)
    return facts


def ids(findings: list[Finding]) -> list[tuple[str, str]]:
    return [(f.check_id, f.severity.value) for f in findings]


def test_healthy_host_has_no_findings() -> None:
    assert evaluate(FACTS, {}) == []
    assert worst_status([]) is Status.OK


@pytest.mark.parametrize(("pct", "expected"), [(84.9, []), (85.0, [("disk.space", "warning")]),
                                               (95.0, [("disk.space", "critical")])])
def test_disk_thresholds(pct: float, expected: list) -> None:
    assert ids(evaluate(with_("filesystems", mounts=[mount("/data", pct)]), {})) == expected


def test_read_only_full_filesystem_is_normal_and_inodes_are_checked() -> None:
    facts = with_("filesystems", mounts=[mount("/snap/core", 100.0, ro=True), mount("/var", 10.0, inodes=96.0)])
    assert ids(evaluate(facts, {})) == [("disk.inodes", "critical")]


def test_thresholds_come_from_vars_and_bad_values_name_the_key() -> None:
    facts = with_("filesystems", mounts=[mount("/data", 90.0)])
    assert evaluate(facts, {"disk_warn_pct": 92}) == []
    with pytest.raises(ConfigError, match="web01: vars.disk_warn_pct must be a number"):
        evaluate(facts, {"disk_warn_pct": "ninety"}, "web01")
    assert {k for c in HEALTH for k in c.thresholds} >= {"disk_warn_pct", "mem_crit_pct", "skew_warn_s"}


def test_memory_load_services_updates_reboot_time_and_incomplete() -> None:
    cases = [
        (with_("memory", used_pct=97.5), [("memory.pressure", "critical")]),
        (with_("memory", swap_total_kb=100, swap_used_kb=85, swap_used_pct=85.0), [("memory.swap", "warning")]),
        (with_("uptime", load5=4.1), [("cpu.load", "warning")]),  # 2.05 per CPU
        (with_("services", failed=[NGINX_FAILED]), [("services.failed", "warning")]),
        (with_("updates", security=2, packages=[{"name": "openssl", "security": True}]),
         [("updates.security", "warning")]),
        (with_("reboot", required=True, packages=["linux-image"]), [("reboot.required", "warning")]),
        (with_("time", skew_s=-75.0), [("time.skew", "critical")]),
        ({**FACTS, "errors": {"updates": "updates: timed out"}}, [("probe.incomplete", "warning")]),
    ]
    for facts, expected in cases:
        assert ids(evaluate(facts, {})) == expected


def test_unavailable_sections_are_not_findings() -> None:
    facts = {**FACTS, "services": {"unavailable": "no systemd"}, "updates": {"unavailable": "no apt"}}
    assert evaluate(facts, {}) == []


def test_findings_carry_evidence_and_remediation() -> None:
    [f] = evaluate(with_("filesystems", mounts=[mount("/srv", 99.0)]), {})
    assert f.severity is Severity.CRITICAL and "/srv" in f.evidence[0] and f.remediation and f.playbook
    assert worst_status([f]) is Status.CRIT
    assert f.to_dict()["evidence"] == list(f.evidence)


def test_summary_row() -> None:
    s = summarise(FACTS)
    assert s["os_short"] == "Debian 12" and s["worst_fs"] == {"mount": "/boot", "used_pct": 70.0}
    assert (s["updates"], s["security_updates"], s["reboot_required"], s["failed_units"]) == (3, 0, False, 0)
    assert summarise({"errors": {}})["worst_fs"] is None


def test_failed_services_speak_of_services_not_units() -> None:
    spooler = {"name": "Spooler", "state": "stopped", "start_mode": "auto", "description": "Print Spooler",
               "systemd": None}
    [f] = evaluate(with_("services", manager="scm", failed=[spooler]), {})
    assert f.title == "1 failed service(s): Spooler"
    assert f.evidence == ("service Spooler stopped: Print Spooler",)
    assert "systemctl" not in f.remediation and "unit" not in f.title
    [f] = evaluate(with_("services", manager="systemd", failed=[NGINX_FAILED]), {})
    assert f.title == "1 failed service(s): nginx" and "systemctl restart" in f.remediation


def test_an_os_without_load_averages_is_not_judged_on_load() -> None:
    facts = with_("uptime", load1=None, load5=None, load15=None)
    assert evaluate(facts, {}) == []
    assert summarise(facts)["load"] is None


def test_cut_evidence_says_how_many_more_and_never_shows_none() -> None:
    packages = [{"name": f"lib{i:02d}", "security": True} for i in range(91)]
    [sec] = evaluate(with_("updates", pending=91, security=91, packages=packages), {"security_updates_crit": 100})
    assert sec.check_id == "updates.security" and len(sec.evidence) == 21
    assert sec.evidence[:2] == ("lib00", "lib01") and sec.evidence[-1] == "... and 71 more"
    [few] = evaluate(with_("updates", security=2, packages=packages[:2]), {})
    assert few.evidence == ("lib00", "lib01")
    [skew] = evaluate(with_("time", epoch=1_714_564_800.0, skew_s=-75.0, synchronized=None), {})
    assert skew.evidence == ("host clock 2024-05-01T12:00:00.000Z, synchronized: unknown, time service: none",)
    [reboot] = evaluate(with_("reboot", required=True, packages=[], method=None), {})
    assert reboot.evidence == ("found by unknown",)


def test_the_os_column_of_a_windows_host_names_the_release_not_the_kernel_version() -> None:
    from rmmctl.health import summarise

    win = {"os": {"family": "windows", "id": "windows", "name": "Windows 10 Pro", "version_id": "10.0.19045",
                  "version_codename": "22H2", "pretty_name": "Windows 10 Pro 22H2", "id_like": []}}
    assert summarise(win)["os_short"] == "Windows 10 22H2"
    server = {"os": {**win["os"], "id": "windows-server", "name": "Windows Server 2019 Standard",
                     "version_codename": None}}
    assert summarise(server)["os_short"] == "Windows Server 2019"
