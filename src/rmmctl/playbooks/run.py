"""The play engine: one Job per play (a function HostContext -> JobOutcome), tasks in order on one
connection. It knows modules only through the registry (rmmctl.playbooks.modules), keyed by the
host's OS family.
"""

from __future__ import annotations

import difflib
import fnmatch
import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping

from rmmctl.errors import ConfigError
from rmmctl.executor import JobOutcome
from rmmctl.inventory.window import window_state
from rmmctl.models import Status
from rmmctl.playbooks import modules
from rmmctl.playbooks.hostfacts import PlayFacts, wanted_sections
from rmmctl.playbooks.load import Play, Playbook, Task
from rmmctl.playbooks.template import TemplateProblem, evaluate, render

if TYPE_CHECKING:
    from rmmctl.executor import HostContext, Job
    from rmmctl.inventory.model import Host

RECAP_KEYS = ("ok", "changed", "failed", "skipped", "ignored")


def family_of(host: Host) -> str:
    from rmmctl.probes import platform_of

    return "windows" if platform_of(host) == "windows" else "posix"


def host_vars(host: Host, play: Play, extra: Mapping[str, Any], facts: Mapping[str, Any] | None = None,
              *, window_open: bool = True) -> dict[str, Any]:
    """play defaults < inventory vars < play vars (templated in order) < -e extra vars; plus
    inventory_hostname, maintenance_window_open (True without a window or inside one) and `facts` when
    probed. `defaults:` is how a shipped playbook declares its vars and still lets a client's inventory
    vars set them (a play's `vars:` beat inventory vars, as in Ansible)."""
    variables: dict[str, Any] = {**host.vars, "inventory_hostname": host.name, "inventory_address": host.address,
                                 "group_names": list(host.groups), "maintenance_window_open": window_open,
                                 **({"facts": facts} if facts is not None else {}), **extra}
    for key, value in play.defaults.items():
        if key not in variables:
            variables[key] = render(value, variables)
    for key, value in play.vars.items():
        if key not in extra:
            variables[key] = render(value, variables)
    return variables


def start_index(playbook: Playbook, play: Play, name: str) -> int:
    """`--start-at-task NAME` as in Ansible: the index of the first task whose name is NAME (or matches it
    as a glob, `Banner*`); ConfigError (nothing runs) naming the closest task names when none does."""
    for index, task in enumerate(play.tasks):
        if task.name == name or fnmatch.fnmatchcase(task.name, name):
            return index
    names = [t.name for t in play.tasks]
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.4)
    hint = f"closest: {', '.join(repr(n) for n in close)}" if close else f"its tasks: {', '.join(map(repr, names[:10]))}"
    raise ConfigError(f"--start-at-task {name!r}: no task of {playbook.path} has that name; {hint}")


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


def play_job(playbook: Playbook, play: Play, *, extra_vars: Mapping[str, Any] | None = None, check: bool = False,
             diff: bool = False, tags: Iterable[str] = (), skip_tags: Iterable[str] = (),
             ignore_window: bool = False, now: Callable[[], datetime] | None = None,
             start_at_task: str | None = None) -> Job:
    """The job that runs `play`'s tasks on one host; the host ends failed at its first failed task.
    Tasks that `tags`/`skip_tags` leave out are not run and not listed (as in Ansible). Before the first
    task: the facts the play reads (one probe exec) and `require` (false: the host is skipped); after
    the last: the handlers that a changed task notified, in their order, each once.

    A host outside all its maintenance windows (rmmctl.inventory.window, at `now()` as the host starts)
    is skipped without connecting, unless `ignore_window`. `start_at_task` leaves out the tasks before the
    first one of that name (start_index)."""
    extra = dict(extra_vars or {})
    wanted, unwanted = frozenset(tags), frozenset(skip_tags)
    first = start_index(playbook, play, start_at_task) if start_at_task is not None else 0
    chosen = [(i, t) for i, t in enumerate(play.tasks) if i >= first and t.selected(wanted, unwanted)]
    sections = wanted_sections(play, [t for _, t in chosen])  # () when no template reads `facts`
    clock = now or _utc_now

    def before_connect(host: Host) -> JobOutcome | None:
        state = window_state(host.vars, clock())
        if state.open or ignore_window:
            return None
        return JobOutcome(Status.SKIPPED, {"play": play.name, "check_mode": check, "tasks": [],
                                           "recap": dict.fromkeys(RECAP_KEYS, 0), "failed_task": None,
                                           "skip_reason": state.reason, "window": state.to_dict()})

    def job(ctx: HostContext) -> JobOutcome:
        window = window_state(ctx.host.vars, clock())
        if len(chosen) + len(play.handlers) + bool(sections) > 1:
            ctx.expect_many()  # SSH keeps warm channels: each later task one round trip
        run = _HostRun(ctx, playbook, play, extra, PlayFacts(ctx, sections), check=check, diff=diff)
        run.window_open = window.open
        run.prepare(probe=bool(sections))
        windowed = {"window": window.to_dict()} if window.windows else {}
        if run.skip_reason is not None:
            return JobOutcome(Status.SKIPPED, {**run.data(), "skip_reason": run.skip_reason, **windowed})
        if run.variables is not None:
            run.steps(chosen, handlers=False)
        if run.variables is not None and run.failed_task is None:
            run.steps(list(enumerate(play.handlers)), handlers=True)
        if run.failed_task:
            status = Status.FAILED
        elif run.recap["changed"]:
            status = Status.CHANGED
        else:
            status = Status.OK
        return JobOutcome(status, {**run.data(), **windowed})

    job.before_connect = before_connect  # type: ignore[attr-defined]  # executor: ends the host unconnected
    return job


class _HostRun:
    """One host's run of a play: facts, vars and `require` first, then the tasks, then the notified handlers."""

    def __init__(self, ctx: HostContext, playbook: Playbook, play: Play, extra: dict[str, Any], facts: PlayFacts,
                 *, check: bool, diff: bool) -> None:
        self.ctx, self.playbook, self.play, self.extra, self.facts = ctx, playbook, play, extra, facts
        self.check, self.diff = check, diff
        self.family = family_of(ctx.host)
        self.planned: dict[str, tuple[bytes, int]] = {}  # check mode: files earlier tasks would have written
        self.results: list[dict[str, Any]] = []
        self.recap = dict.fromkeys(RECAP_KEYS, 0)
        self.failed_task: dict[str, Any] | None = None
        self.skip_reason: str | None = None
        self.variables: dict[str, Any] | None = None
        self.notified: set[str] = set()
        self.window_open = True  # maintenance_window_open in the templates

    def data(self) -> dict[str, Any]:
        return {"play": self.play.name, "check_mode": self.check, "tasks": self.results, "recap": self.recap,
                "failed_task": self.failed_task}

    def _fail(self, name: str, message: str) -> None:
        self.failed_task = {"name": name, "message": message}
        self.recap["failed"] += 1
        self.variables = None

    def prepare(self, *, probe: bool) -> None:
        """The facts (one probe exec, when the play reads them), the vars, then `require` (false: skipped)."""
        from rmmctl.probes import ProbeError

        try:
            if probe:
                self.facts.collect()
        except (ProbeError, ConfigError) as exc:
            return self._fail("facts", f"facts: {exc}"[:300])
        try:
            self.variables = host_vars(self.ctx.host, self.play, self.extra, self.facts.value,
                                       window_open=self.window_open)
        except TemplateProblem as exc:
            return self._fail("vars", f"play vars: {exc}")
        for i, condition in enumerate(self.play.require):
            try:
                held = evaluate(condition, self.variables)
            except TemplateProblem as exc:
                return self._fail("require", f"require[{i}] {condition}: {exc}"[:300])
            if not held:
                self.skip_reason = f"require false: {condition}"[:300]
                return None
        return None

    def steps(self, tasks: list[tuple[int, Task]], *, handlers: bool) -> None:
        """Run tasks in order until one fails (not ignored); handlers only if notified (by a task that
        changed, or by a handler before them)."""
        assert self.variables is not None
        for index, task in tasks:
            if handlers and task.name not in self.notified:
                continue
            self.ctx.emit({"type": "task_start", "host": self.ctx.host.name, "index": index, "name": task.name,
                           "module": task.module, **({"handler": True} if handlers else {})})
            entry = _run_task(self.ctx, self.playbook, self.play, task, index, self.variables, self.family,
                              self.planned, check=self.check, diff=self.diff, facts=self.facts)
            if handlers:
                entry["handler"] = True
            self.results.append(entry)
            self.ctx.emit(task_event(self.ctx.host.name, entry))
            if self.facts.value is not None:  # the facts module may have refreshed them
                self.variables["facts"] = self.facts.value
            self.variables.update(self.extra)  # -e beats everything, a registered result of the same name too
            status = entry["status"]
            self.recap["ignored" if status == "failed" and entry.get("ignored") else status] += 1
            if status == "changed":
                self.notified.update(task.notify)
            if status == "failed" and not entry.get("ignored"):
                self.failed_task = {"name": task.name, "line": task.line, "message": entry["message"],
                                    **({"handler": True} if handlers else {})}
                return


def task_event(host: str, entry: Mapping[str, Any]) -> dict[str, Any]:
    """The `{"type": "task", ...}` event of one finished task (HostContext.emit: live view, ndjson)."""
    event = {"type": "task", "host": host, **{k: entry.get(k) for k in ("index", "name", "module", "status",
                                                                          "message", "changed", "duration_s")}}
    for flag in ("handler", "ignored"):
        if entry.get(flag):
            event[flag] = True
    return event


def _run_task(ctx: HostContext, playbook: Playbook, play: Play, task: Task, index: int, variables: dict[str, Any],
              family: str, planned: dict[str, tuple[bytes, int]], *, check: bool, diff: bool,
              facts: PlayFacts | None = None) -> dict[str, Any]:
    started = time.monotonic()
    entry: dict[str, Any] = {"index": index, "name": task.name, "module": task.module, "line": task.line}

    def done(result: modules.TaskResult, ignored: bool = False) -> dict[str, Any]:
        entry.update(status=result.status, changed=result.status == "changed", message=ctx.redact(result.msg),
                     duration_s=round(time.monotonic() - started, 3), data=dict(result.data))
        if ignored:
            entry["ignored"] = True
        if result.diff is not None:
            entry["diff"] = ctx.redact(result.diff)
        if task.register:
            variables[task.register] = _registered(result)
        return entry

    if task.loop is None:
        result = _once(ctx, playbook, play, task, variables, family, planned, check=check, diff=diff, facts=facts)
    else:
        result = _looped(ctx, playbook, play, task, variables, family, planned, check=check, diff=diff, facts=facts)
    if result.status == "failed" and task.ignore_errors:
        return done(result, ignored=True)
    return done(result)


def _once(ctx: HostContext, playbook: Playbook, play: Play, task: Task, variables: dict[str, Any], family: str,
          planned: dict[str, tuple[bytes, int]], *, check: bool, diff: bool,
          facts: PlayFacts | None = None) -> modules.TaskResult:
    """The task once (or for one loop item, `item` in `variables`): when, arguments, module, judgement."""
    try:
        if task.when and not all(evaluate(c, variables) for c in task.when):
            return modules.TaskResult("skipped", "condition false: when")
        spec = modules.lookup(family, task.module)
        if spec is None:
            twin = f"win_{task.module}" if family == "windows" else task.module.removeprefix("win_")
            hint = f" (use {twin} there)" if twin != task.module and modules.lookup(family, twin) else ""
            return modules.TaskResult("failed", f"module {task.module} is not available for {family} hosts{hint}")
        try:
            args = modules.normalize_args(spec, render(task.args, variables), templated=True)
        except modules.ArgProblem as exc:
            return modules.TaskResult("failed", f"{task.module}.{exc}" if exc.path else f"{task.module}: {exc}")
        become = play.become if task.become is None else task.become
        call = modules.ModuleCall(ctx, args, check=check, diff=diff, become=become, timeout=task.timeout,
                                  base_dir=playbook.base_dir, planned=planned, variables=variables, facts=facts)
        result = _judge(task, spec.run(call), variables)
        attempt = 1
        while task.until is not None and result.status != "skipped" and not _holds(task, result, variables):
            if attempt > task.retries:
                return modules.TaskResult("failed", f"until still false after {attempt} attempts: {result.msg}"[:300],
                                          {**result.data, "attempts": attempt}, result.diff)
            time.sleep(task.delay)
            attempt += 1
            result = _judge(task, spec.run(call), variables)
        if task.until is not None and result.status != "skipped":
            result = modules.TaskResult(result.status, result.msg, {**result.data, "attempts": attempt}, result.diff)
        return result
    except TemplateProblem as exc:
        return modules.TaskResult("failed", f"template: {exc}")


def _looped(ctx: HostContext, playbook: Playbook, play: Play, task: Task, variables: dict[str, Any], family: str,
            planned: dict[str, tuple[bytes, int]], *, check: bool, diff: bool,
            facts: PlayFacts | None = None) -> modules.TaskResult:
    """`loop:` the task once per item (`item`), every item run; failed if any failed, changed if any
    changed, skipped if all were. `data.results` holds each item's result (what `register` keeps too)."""
    try:
        items = render(task.loop, variables)
    except TemplateProblem as exc:
        return modules.TaskResult("failed", f"loop: {exc}")
    if isinstance(items, (str, bytes)) or not isinstance(items, (list, tuple)):
        return modules.TaskResult("failed", f"loop: got {type(items).__name__}; expected a list")
    results, diffs = [], []
    for item in items:
        r = _once(ctx, playbook, play, task, {**variables, "item": item}, family, planned, check=check, diff=diff,
                  facts=facts)
        results.append({**_registered(r), "item": item})
        if r.diff:
            diffs.append(r.diff)
    statuses = [r["status"] for r in results]
    if "failed" in statuses:
        status = "failed"
    elif "changed" in statuses:
        status = "changed"
    elif all(x == "skipped" for x in statuses):  # an empty loop too, as in Ansible
        status = "skipped"
    else:
        status = "ok"
    counts = ", ".join(f"{statuses.count(k)} {k}" for k in ("changed", "ok", "failed", "skipped") if k in statuses)
    first_bad = next((r for r in results if r["status"] == "failed"), None)
    msg = f"{len(items)} item(s): {counts or 'none'}" + (
        f"; item {first_bad['item']!r}: {first_bad['msg']}" if first_bad else "")
    return modules.TaskResult(status, msg[:300], {"results": results}, "".join(diffs) if diffs else None)


def _holds(task: Task, result: modules.TaskResult, variables: dict[str, Any]) -> bool:
    """`until` over this attempt's result (as `result` and under the registered name)."""
    scope = {**variables, "result": _registered(result)}
    if task.register:
        scope[task.register] = scope["result"]
    return all(evaluate(c, scope) for c in task.until or ())


def _registered(result: modules.TaskResult) -> dict[str, Any]:
    """What `register: name` holds: the module's data at the top (rc, stdout ... as in Ansible) and under
    `data`, with status, changed, failed, skipped, msg."""
    return {**result.data, "data": dict(result.data), "status": result.status, "changed": result.changed,
            "failed": result.status == "failed", "skipped": result.status == "skipped", "msg": result.msg}


def _judge(task: Task, result: modules.TaskResult, variables: dict[str, Any]) -> modules.TaskResult:
    """changed_when / failed_when over the result (as `result` and, if registered, under its name)."""
    if result.status == "skipped" or (task.changed_when is None and task.failed_when is None):
        return result
    scope = {**variables, "result": _registered(result)}
    if task.register:
        scope[task.register] = scope["result"]
    status = result.status
    if task.changed_when is not None and status != "failed":
        status = "changed" if all(evaluate(c, scope) for c in task.changed_when) else "ok"
    if task.failed_when is not None:
        if any(evaluate(c, scope) for c in task.failed_when):
            return modules.TaskResult("failed", f"failed_when true: {result.msg}"[:300], result.data, result.diff)
        if status == "failed":
            status = "changed" if result.data.get("rc") is not None and task.changed_when is None else "ok"
    return modules.TaskResult(status, result.msg, result.data, result.diff)
