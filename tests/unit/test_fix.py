"""rmmctl.fix without hosts: targets per playbook, the order of the phases (plan, consent, run, re-diagnose),
the before/after rows, and the one history run whose re-diagnosis resolves what the fix removed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rmmctl.fix import comparison, document, run_fix, targets
from rmmctl.inventory.model import Host, Inventory
from rmmctl.models import Finding, HostError, HostResult, RunReport, Severity, Status
from rmmctl.store import open_store

DISK = Finding("disk.space", Severity.CRITICAL, "filesystem /srv is 99.0% full", ("x",), "free space", "disk-cleanup")
RO = Finding("disk.readonly", Severity.CRITICAL, "filesystem /srv is mounted read-only", (), "fsck", None)
BOOT = Finding("reboot.required", Severity.WARNING, "a reboot is required", (), "reboot", "no-such-playbook")
CHECKS = ("disk.space", "disk.readonly", "reboot.required")


def host(name: str, *findings: Finding, status: Status | None = None) -> HostResult:
    worst = status or (Status.CRIT if findings else Status.OK)
    return HostResult(name, "127.0.0.1", worst, data={"findings": [f.to_dict() for f in findings],
                                                       "checks": list(CHECKS), "errors": {}},
                      findings=findings, checks=CHECKS)


def report(*hosts: HostResult, command: str = "diagnose") -> RunReport:
    return RunReport(command, 0.0, 0.1, hosts)


def inventory(*names: str) -> Inventory:
    return Inventory(hosts={n: Host(name=n, address="127.0.0.1") for n in names}, groups={})


def test_targets_group_hosts_per_playbook_and_say_why_the_rest_is_not_fixed() -> None:
    down = HostResult("c", "x", Status.UNREACHABLE, HostError("connect", "refused"))
    found, unfixable = targets(report(host("a", DISK, RO), host("b", DISK, BOOT), down))
    assert [(t.playbook, t.hosts) for t in found] == [("disk-cleanup", ("a", "b"))]
    assert found[0].path.name == "disk-cleanup.yaml" and found[0].path.is_file()
    assert [(u["host"], u["check_id"], u["reason"]) for u in unfixable] == [
        ("a", "disk.readonly", "no playbook fixes this"),
        ("b", "reboot.required", "playbook no-such-playbook is not installed")]


class Calls:
    """Scripted diagnose/play calls: the first diagnose finds `before`, later ones `after`."""

    def __init__(self, before: RunReport, after: RunReport) -> None:
        self.before, self.after, self.log = before, after, []

    def diagnose(self, pattern: str, *, checks: Any, fail_on: str) -> RunReport:
        self.log.append(("diagnose", pattern))
        return self.before if len([c for c in self.log if c[0] == "diagnose"]) == 1 else self.after

    def play(self, pattern: str, book: Any, check: bool) -> RunReport:
        self.log.append(("play", pattern, check))
        data = {"tasks": [{"name": "Old temp files", "module": "cleanup", "status": "changed",
                           "message": "would remove 1 file(s)" if check else "removed 1 file(s)"}],
                "recap": {"ok": 0, "changed": 1, "failed": 0, "skipped": 0, "ignored": 0}, "failed_task": None}
        return report(*(HostResult(n, "x", Status.CHANGED, data=data) for n in pattern.split(":")), command="play")


def test_plan_then_consent_then_run_then_rediagnose_only_the_fixed_hosts(tmp_path: Path) -> None:
    calls = Calls(report(host("a", DISK, RO), host("b")), report(host("a", RO)))
    asked: list[Any] = []

    def confirm(fix: Any) -> bool:
        asked.append([c for c in calls.log])
        return True

    fix = run_fix(inventory("a", "b"), calls.diagnose, calls.play, "all", confirm=confirm)
    assert asked == [[("diagnose", "all"), ("play", "a", True)]]  # the plan (check mode) before the question
    assert calls.log == [("diagnose", "all"), ("play", "a", True), ("play", "a", False), ("diagnose", "a")]
    rows = {(r["host"], r["check_id"]): (r["before"], r["after"], r["rediagnosed"]) for r in comparison(fix)}
    assert rows == {("a", "disk.space"): ("critical", None, True), ("a", "disk.readonly"): ("critical", "critical", True)}
    assert fix.exit_code == 5 and [h.name for h in fix.final.hosts] == ["a", "b"]
    doc = document(fix)
    assert doc["command"] == "diagnose --fix" and doc["plays"][0]["recap"]["a"]["changed"] == 1
    assert doc["plays"][0]["plan"]["a"] == [{"name": "Old temp files", "module": "cleanup",
                                             "message": "would remove 1 file(s)"}]


def test_no_means_nothing_runs_and_dry_run_never_asks() -> None:
    calls = Calls(report(host("a", DISK)), report(host("a")))
    fix = run_fix(inventory("a"), calls.diagnose, calls.play, "all", confirm=lambda fix: False)
    assert fix.declined and calls.log == [("diagnose", "all"), ("play", "a", True)] and fix.after is None
    calls = Calls(report(host("a", DISK)), report(host("a")))
    fix = run_fix(inventory("a"), calls.diagnose, calls.play, "all", check=True, confirm=lambda fix: 1 / 0)
    assert calls.log == [("diagnose", "all"), ("play", "a", True)] and fix.exit_code == 5


def test_one_history_run_of_kind_fix_resolves_what_the_fix_removed(tmp_path: Path) -> None:
    store = open_store(tmp_path / "h.db")
    calls = Calls(report(host("a", DISK, RO), host("b", RO)), report(host("a", RO)))
    with store:
        fix = run_fix(inventory("a", "b"), calls.diagnose, calls.play, "all", store=store, argv=("diagnose", "--fix"))
        runs = store.runs()
        assert [(r["command"], r["exit_code"]) for r in runs] == [("fix", 5)] and fix.final.store_error is None
        states = {(f["host"], f["check_id"]): f["state"] for f in store.findings()}
        assert states == {("a", "disk.space"): "resolved", ("a", "disk.readonly"): "new", ("b", "disk.readonly"): "new"}
        [stored] = [h for h in store.run(runs[0]["id"])["hosts"] if h["host"] == "a"]
        assert stored["data"]["fix"]["plays"][0]["playbook"] == "disk-cleanup"
