"""diagnose: check selection and sections, exit codes under --fail-on, the Nagios line, finding keys."""

from __future__ import annotations

from typing import Any

import pytest

from rmmctl.checks.base import Finding, Severity
from rmmctl.checks.catalog import CHECKS
from rmmctl.checks.registry import Registry
from rmmctl.diagnose import (
    finding_key,
    judge,
    nagios_label,
    nagios_line,
    nagios_state,
    plan,
    ran,
    sort_findings,
)
from rmmctl.errors import ConfigError, ExitCode, UsageError, exit_code_for
from rmmctl.models import HostError, HostResult, RunReport, Status
from rmmctl.processors import findings_update


def host(name: str, status: Status, findings: list[dict] | None = None, error: HostError | None = None,
         checks: list[str] | None = None) -> HostResult:
    data: dict[str, Any] = {} if error else {"findings": findings or [], "checks": checks or [], "errors": {}}
    typed = tuple(Finding(f["check_id"], Severity(f["severity"]), f["title"], tuple(f["evidence"]),
                          f["remediation"]) for f in findings or [])
    return HostResult(name, "192.0.2.1", status, error, data, duration_s=0.25, findings=typed,
                      checks=None if error else tuple(checks or []))


def report(*hosts: HostResult, interrupted: bool = False) -> RunReport:
    return RunReport("diagnose", 0.0, 1.0, tuple(hosts), interrupted=interrupted)


def finding(severity: str, title: str = "t", check_id: str = "disk.space") -> dict:
    return {"check_id": check_id, "severity": severity, "title": title, "evidence": ["e"], "remediation": "r",
            "playbook": None}


OK, WARN, CRIT = host("a", Status.OK), host("b", Status.WARN), host("c", Status.CRIT)
DOWN = host("d", Status.UNREACHABLE, error=HostError("connect", "refused"))
AUTH = host("e", Status.AUTH_FAILED, error=HostError("auth", "denied"))
BADVAR = host("f", Status.ERROR, error=HostError("config", "f: vars.disk_warn_pct must be a number"))


@pytest.mark.parametrize("hosts, fail_on, code", [
    ((OK,), "warning", ExitCode.OK),
    ((OK, WARN), "warning", ExitCode.WARN),
    ((OK, WARN), "critical", ExitCode.OK),  # warnings do not fail the run under --fail-on critical
    ((WARN, CRIT), "warning", ExitCode.CRIT),
    ((WARN, CRIT), "critical", ExitCode.CRIT),
    ((WARN, DOWN), "critical", ExitCode.UNREACHABLE),  # nothing worse than 4 is ever changed
    ((CRIT, DOWN, AUTH), "warning", ExitCode.AUTH_FAILED),
    ((OK, BADVAR), "critical", ExitCode.CRIT),  # a host that could not be judged fails the run
])
def test_exit_code_by_fail_on(hosts: tuple[HostResult, ...], fail_on: str, code: ExitCode) -> None:
    assert exit_code_for(report(*hosts), fail_on=fail_on) is code


def test_interrupt_wins_over_fail_on() -> None:
    assert exit_code_for(report(WARN, interrupted=True), fail_on="critical") is ExitCode.INTERRUPTED


@pytest.mark.parametrize("result, fail_on, state", [
    (OK, "warning", 0), (WARN, "warning", 1), (WARN, "critical", 0), (CRIT, "warning", 2),
    (CRIT, "critical", 2), (DOWN, "warning", 3), (AUTH, "warning", 3), (BADVAR, "warning", 3),
    (host("g", Status.TIMEOUT, error=HostError("timeout", "slow")), "warning", 3),
])
def test_nagios_state(result: HostResult, fail_on: str, state: int) -> None:
    assert nagios_state(result, fail_on) == state


def test_nagios_line_for_a_critical_host() -> None:
    crit = host("web01", Status.CRIT, [finding("critical", "filesystem /srv is 100.0% full"),
                                        finding("warning", "a | pipe")], checks=["disk.space"])
    line, state = nagios_line(report(crit), nagios_label(["disk"]))
    assert state == 2
    assert line == ("RMMCTL DISK CRITICAL - web01: critical: filesystem /srv is 100.0% full; warning: a / pipe"
                    " | critical=1;;;0 warning=1;;;0 info=0;;;0 time=0.250s;;;0")
    assert line.count("|") == 1 and "\n" not in line


def test_nagios_line_ok_and_unknown() -> None:
    assert nagios_line(report(host("a", Status.OK, checks=["disk.space", "disk.inodes"])), "disk")[0].startswith(
        "RMMCTL DISK OK - a: no findings (2 checks) | critical=0")
    line, state = nagios_line(report(DOWN), nagios_label([]))
    assert state == 3 and line.startswith("RMMCTL DIAGNOSE UNKNOWN - d: unreachable: refused | ")


def test_plan_sends_only_the_sections_the_checks_need() -> None:
    disk = plan(["disk.space", "disk.inodes"])
    assert disk.ids == ["disk.space", "disk.inodes", "probe.incomplete"]
    assert disk.sections == ("filesystems",)
    group = plan(["disk"])
    assert {c.id.split(".")[0] for c in group.checks} == {"disk", "probe"} and "disk.inodes" in group.ids
    assert plan(["cpu.load", "disk.space"]).sections == ("filesystems", "uptime", "cpu")  # registry order
    assert plan(["probe"]).sections == ()
    everything = plan()
    assert everything.ids == [c.id for c in CHECKS.all()]
    assert set(everything.sections) == {s for c in CHECKS.all() for s in c.sections}


def test_plan_rejects_an_unknown_check_naming_the_groups() -> None:
    with pytest.raises(ConfigError, match=r"unknown check or group 'dsik'; groups: .*disk.*--list"):
        plan(["dsik"])


def test_plan_uses_the_registry_given() -> None:
    class Acme:
        id, title, sections, thresholds = "acme.backup_age", "backups too old", ("acme_backups",), {}

        @staticmethod
        def evaluate(facts: Any, thresholds: Any, host_vars: Any) -> list[Finding]:
            return []

    registry = Registry("rmmctl.test.none", builtins=(*CHECKS.all(), Acme()))
    assert plan(["acme"], registry).sections == ("acme_backups",)


def test_checks_whose_section_failed_do_not_run_and_are_not_listed() -> None:
    facts = {"filesystems": {"mounts": [{"mount": "/", "device": "/dev/x", "used_pct": 99.0, "used_kb": 99,
                                          "size_kb": 100, "avail_kb": 1, "read_only": False, "inodes_pct": 1}]},
             "errors": {"memory": "cut off"}}
    checks = plan(["disk.space", "memory"]).checks
    assert ran(checks, facts) == ["disk.space", "probe.incomplete"]
    found = judge(checks, facts, {}, "h")
    assert [(f.check_id, f.severity) for f in found] == [("disk.space", Severity.CRITICAL),
                                                         ("probe.incomplete", Severity.WARNING)]


def test_a_bad_threshold_var_names_the_var() -> None:
    facts = {"filesystems": {"mounts": []}, "errors": {}}
    with pytest.raises(ConfigError, match=r"^web01: vars.disk_warn_pct must be a number, got '90%'$"):
        judge(plan(["disk"]).checks, facts, {"disk_warn_pct": "90%"}, "web01")


def test_findings_sorted_critical_first() -> None:
    out = sort_findings([finding("info", "i"), finding("warning", "w1"), finding("critical", "c"),
                         finding("warning", "w2")])
    assert [f["title"] for f in out] == ["c", "w1", "w2", "i"]


@pytest.mark.parametrize("a, b, same", [
    ("filesystem /srv/data is 97.5% full", "filesystem /srv/data is 99.0% full", True),
    ("5-minute load is 2.1 per CPU", "5-minute load is 4.75 per CPU", True),
    ("clock is off by -3.2 s", "clock is off by 70 s", True),
    ("filesystem /srv/data1 is 97% full", "filesystem /srv/data2 is 97% full", False),
    ("printer office-2 is paused", "printer office-3 is paused", False),
    ("disk sda1 failing", "disk sda2 failing", False),
])
def test_finding_key_ignores_measurements_not_names(a: str, b: str, same: bool) -> None:
    assert (finding_key(finding("warning", a)) == finding_key(finding("critical", b))) is same


def test_finding_key_prefers_an_explicit_key_and_includes_the_check() -> None:
    assert finding_key({**finding("warning", "x 1"), "key": "queue=office"}) == "disk.space:queue=office"
    assert finding_key(finding("warning", "x", "a.b")) != finding_key(finding("warning", "x", "a.c"))


def test_findings_history_reads_the_typed_findings_only_for_hosts_that_answered() -> None:
    crit = host("c", Status.CRIT, [finding("critical", "filesystem / is 99% full")], checks=["disk.space"])
    crit = HostResult(crit.name, crit.address, crit.status, data={}, findings=crit.findings, checks=crit.checks)
    checks, found = findings_update(crit)  # type: ignore[misc]  # data is empty: the typed findings count
    assert checks == ["disk.space"] and found[0]["key"] == "disk.space:filesystem / is #% full"
    assert found[0]["severity"] == "critical" and found[0]["evidence"] == ["e"]
    assert findings_update(OK) == ([], [])
    assert findings_update(HostResult("s", "192.0.2.1", Status.WARN, findings=crit.findings)) is None  # no checks
    for down in (DOWN, AUTH, BADVAR, host("i", Status.INTERRUPTED, error=HostError("interrupted", "x"))):
        assert findings_update(down) is None


def test_fail_on_must_be_known() -> None:
    from rmmctl.diagnose import check_fail_on

    with pytest.raises(UsageError, match="--fail-on 'warn': use warning"):
        check_fail_on("warn")
