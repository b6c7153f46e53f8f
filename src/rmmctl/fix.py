"""`rmmctl diagnose --fix`: diagnose, run the playbook each finding names on its hosts, re-diagnose them.

    before = diagnose(PATTERN)                     findings; those naming a shipped playbook are fixable
    targets(before)                                per playbook: the hosts whose findings name it
    plan: play(book, those hosts, check=True)      per host what would change (consent shows it)
    run:  play(book, those hosts)                  (not under --check, and only when confirmed)
    after = diagnose(the hosts a play ran on)      which findings are gone, which remain

The whole is ONE history run of kind `fix` (FIX_COMMAND): every host's audit of all phases, the before
findings reconciled first and the after findings over them, so the findings the fix removed are marked
resolved by that run. The exit code is errors.exit_code_for over the final state (re-diagnosed hosts
from `after`, the others from `before`) with the run's --fail-on. No rich, no typer: cli/fix.py draws it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from rmmctl.errors import ConfigError, StoreError, exit_code_for
from rmmctl.inventory.model import Inventory
from rmmctl.models import HostResult, RunReport, Status
from rmmctl.models import finding_key
from rmmctl.models import play_recap as recap

SHIPPED = Path(__file__).parent / "data" / "playbooks"
FIX_COMMAND = "fix"  # the history's run kind (`rmmctl history --command fix`)
JSON_COMMAND = "diagnose --fix"  # the `command` of the -o json document



def playbook_path(name: str) -> Path | None:
    """The shipped playbook file for a Finding.playbook name, or None when it is not installed."""
    if not name or "/" in name or name.startswith("."):
        return None
    path = SHIPPED / f"{name}.yaml"
    return path if path.is_file() else None


@dataclass(frozen=True, slots=True)
class Target:
    """One playbook and the hosts (inventory order) whose findings name it."""

    playbook: str
    path: Path
    hosts: tuple[str, ...]


@dataclass(slots=True)
class PlayStep:
    """One playbook of the fix: the hosts it covers, those left out (with why), its check-mode plan and run."""

    target: Target
    hosts: tuple[str, ...] = ()
    excluded: dict[str, str] = field(default_factory=dict)
    plan: RunReport | None = None
    run: RunReport | None = None


@dataclass(slots=True)
class FixReport:
    """Everything one `diagnose --fix` did, phase by phase; `final` is what the exit code and history judge."""

    before: RunReport
    steps: list[PlayStep]
    unfixable: list[dict[str, Any]]  # findings no shipped playbook fixes: host, check_id, title, reason
    after: RunReport | None = None
    check: bool = False
    final: RunReport | None = None
    fail_on: str = "warning"
    declined: bool = False  # asked, and the answer was no: nothing ran

    @property
    def exit_code(self) -> int:
        return int(exit_code_for(self.final or self.before, fail_on=self.fail_on))


def _answered(host: HostResult) -> bool:
    return host.error is None and host.status in (Status.OK, Status.WARN, Status.CRIT)


def targets(report: RunReport) -> tuple[list[Target], list[dict[str, Any]]]:
    """Per playbook the hosts whose findings name it (playbooks in first-seen order), and every other
    finding with the reason no playbook runs for it."""
    hosts: dict[str, list[str]] = {}
    unfixable: list[dict[str, Any]] = []
    for host in report.hosts:
        for f in (host.data or {}).get("findings", []) if _answered(host) else ():
            name = f.get("playbook")
            path = playbook_path(name) if name else None
            if path is None:
                reason = "no playbook fixes this" if not name else f"playbook {name} is not installed"
                unfixable.append({"host": host.name, "check_id": f["check_id"], "title": f["title"],
                                  "severity": f["severity"], "playbook": name, "reason": reason})
                continue
            chosen = hosts.setdefault(name, [])
            if host.name not in chosen:
                chosen.append(host.name)
    return [Target(name, SHIPPED / f"{name}.yaml", tuple(names)) for name, names in hosts.items()], unfixable



def planned_changes(host: HostResult) -> list[dict[str, Any]]:
    """The tasks of a check-mode host that would change something (name, module, message)."""
    return [{"name": t["name"], "module": t["module"], "message": t["message"]}
            for t in (host.data or {}).get("tasks") or [] if t.get("status") == "changed"]


def comparison(fix: FixReport) -> list[dict[str, Any]]:
    """One row per finding before or after: host, check_id, title, playbook, before/after severity
    (None: not there) and `rediagnosed` (false: no play ran on the host, so `after` is `before`)."""
    after = {h.name: h for h in (fix.after.hosts if fix.after else ())}
    rows: list[dict[str, Any]] = []
    for host in fix.before.hosts:
        if not _answered(host):
            continue
        again = after.get(host.name)
        now = {finding_key(f): f for f in (again.data or {}).get("findings", [])} if again and _answered(again) else None
        seen = set()
        for f in host.data.get("findings", []):
            key = finding_key(f)
            seen.add(key)
            if again is None:
                state = f["severity"]
            elif now is None:
                state = again.status.value  # unreachable, error...: not known
            else:
                state = now[key]["severity"] if key in now else None
            rows.append({"host": host.name, "check_id": f["check_id"], "title": f["title"],
                         "playbook": f.get("playbook"), "before": f["severity"], "after": state,
                         "rediagnosed": again is not None})
        for key, f in (now or {}).items():
            if key not in seen:
                rows.append({"host": host.name, "check_id": f["check_id"], "title": f["title"],
                             "playbook": f.get("playbook"), "before": None, "after": f["severity"],
                             "rediagnosed": True})
    return rows


def final_report(fix: FixReport, started_at: float, started: float, argv: Sequence[str]) -> RunReport:
    """The run as the exit code and history see it: re-diagnosed hosts from `after`, the others from
    `before`; interrupted when any phase was."""
    after = {h.name: h for h in (fix.after.hosts if fix.after else ())}
    phases = [fix.before, *(r for s in fix.steps for r in (s.plan, s.run) if r), *([fix.after] if fix.after else [])]
    stopped = next((r for r in phases if r.interrupted), None)
    return RunReport(JSON_COMMAND, started_at, time.monotonic() - started,
                     tuple(after.get(h.name, h) for h in fix.before.hosts),
                     interrupted=stopped is not None, argv=tuple(argv),
                     interrupted_by=stopped.interrupted_by if stopped else "")


def run_fix(inventory: Inventory, diagnose: Callable[..., RunReport], play: Callable[..., RunReport], pattern: str, *,
            checks: Sequence[str] = (), fail_on: str = "warning", check: bool = False,
            confirm: Callable[[FixReport], bool] | None = None, store: Any = None,
            argv: Sequence[str] = ()) -> FixReport:
    """The fix, phase by phase, through the given `diagnose(pattern, checks, fail_on)` and
    `play(pattern, playbook, check)` calls (api.fix binds them to an inventory and settings).

    `confirm(fix)` is asked once, after the plan, before anything changes (False: nothing runs; the
    caller decides what that means). The history run is written at the end, also after a refusal or an
    interrupt, so every remote action of the phases that ran is in the audit log.
    """
    from rmmctl.playbooks import load_playbook

    started_at, started = time.time(), time.monotonic()
    before = diagnose(pattern, checks=checks, fail_on=fail_on)
    found, unfixable = targets(before)
    fix = FixReport(before, [], unfixable, check=check, fail_on=fail_on)
    try:
        books = {t.playbook: load_playbook(t.path) for t in found}  # a broken shipped file: exit 3, nothing changed
        fix.steps = [PlayStep(t) for t in found]
        if not before.interrupted:
            _plan(fix, inventory, books, play)
        wanted = [s for s in fix.steps if s.hosts]
        if check or not wanted or fix_interrupted(fix):
            return fix
        if confirm is not None and not confirm(fix):
            fix.declined = True
            return fix
        for step in wanted:
            step.run = play(":".join(step.hosts), books[step.target.playbook], False)
            if step.run.interrupted:
                return fix
        fixed = [h.name for h in before.hosts if any(h.name in s.hosts for s in wanted)]
        fix.after = diagnose(":".join(fixed), checks=checks, fail_on=fail_on)
        return fix
    finally:
        fix.final = final_report(fix, started_at, started, argv)
        if store is not None:
            fix.final = record(store, fix, argv)


def fix_interrupted(fix: FixReport) -> bool:
    return fix.before.interrupted or any(s.plan is not None and s.plan.interrupted for s in fix.steps)


def _plan(fix: FixReport, inventory: Inventory, books: Mapping[str, Any], play: Callable[..., RunReport]) -> None:
    """Each playbook in check mode on the target hosts its `hosts` pattern covers."""
    from rmmctl.inventory.select import select_hosts

    for step in fix.steps:
        (only,) = books[step.target.playbook].plays
        try:
            covered = {h.name for h in select_hosts(inventory, only.hosts)}
        except ConfigError:
            covered = set()
        step.hosts = tuple(h for h in step.target.hosts if h in covered)
        step.excluded = {h: f"not in the playbook's hosts ({only.hosts})" for h in step.target.hosts
                         if h not in covered}
        if step.hosts:
            step.plan = play(":".join(step.hosts), books[step.target.playbook], True)
            if step.plan.interrupted:
                return


def record(store: Any, fix: FixReport, argv: Sequence[str]) -> RunReport:
    """Write the fix as one history run (kind `fix`); the final report, with store_error set on failure."""
    from rmmctl.processors import findings_update

    final = fix.final
    assert final is not None
    try:
        run_id = store.begin_run(FIX_COMMAND, argv)
        before = {h.name: h for h in fix.before.hosts}
        after = {h.name: h for h in (fix.after.hosts if fix.after else ())}
        for host in final.hosts:
            audit = [*before[host.name].audit, *(a for s in fix.steps for r in (s.plan, s.run) if r
                                                  for h in r.hosts if h.name == host.name for a in h.audit)]
            if host.name in after:
                audit += list(after[host.name].audit)
                first = findings_update(before[host.name])
                if first is not None:
                    store.record_findings(run_id, host.name, *first)
            data = {**host.data, "fix": _host_fix(fix, host.name)}
            store.add_host_result(run_id, replace(host, audit=tuple(audit), data=data),
                                  findings=findings_update(host))
        store.finish_run(run_id, final, int(exit_code_for(final, fail_on=fix.fail_on)))
    except StoreError as exc:
        return replace(final, store_error=str(exc))
    return final


def _host_fix(fix: FixReport, name: str) -> dict[str, Any]:
    """What the fix did to one host, for its stored result: the findings before, and each play's recap."""
    before = next(h for h in fix.before.hosts if h.name == name)
    plays = []
    for step in fix.steps:
        for report, mode in ((step.run, "run"), (step.plan, "check")):
            host = next((h for h in report.hosts if h.name == name), None) if report else None
            if host is not None:
                plays.append({"playbook": step.target.playbook, "mode": mode, "status": host.status.value,
                              "recap": recap(host)})
                break
    return {"before": list((before.data or {}).get("findings", [])), "plays": plays}


def document(fix: FixReport) -> dict[str, Any]:
    """The `-o json` document: the rmmctl/v1 envelope of the final state, plus before, plays and after."""
    from rmmctl.render.data import envelope, host_dict, summary

    assert fix.final is not None
    code = fix.exit_code

    def phase(report: RunReport | None) -> dict[str, Any] | None:
        if report is None:
            return None
        return {"hosts": [host_dict(h) for h in report.hosts],
                "summary": summary(report, int(exit_code_for(report, fail_on=fix.fail_on)))}

    plays = []
    for step in fix.steps:
        plan = {h.name: planned_changes(h) for h in (step.plan.hosts if step.plan else ())}
        ran = step.run or None
        plays.append({"playbook": step.target.playbook, "path": str(step.target.path), "hosts": list(step.hosts),
                      "excluded": [{"host": h, "reason": r} for h, r in step.excluded.items()],
                      "plan": plan, "ran": ran is not None,
                      "recap": {h.name: recap(h) for h in (ran.hosts if ran else ())},
                      "results": [host_dict(h) for h in (ran.hosts if ran else ())]})
    return {**envelope(fix.final, code), "check_mode": fix.check, "before": phase(fix.before), "plays": plays,
            "after": phase(fix.after), "findings": comparison(fix), "unfixable": fix.unfixable}
