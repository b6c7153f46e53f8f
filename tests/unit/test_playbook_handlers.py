"""handlers/notify, require, `facts` in templates, the facts and assert modules, task events: loading and
validation (one located line, exit 3), which facts sections a play reads, and the engine on the local
machine (a real HostContext: the local transport and the in-process prober)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from localctx import local_context
from rmmctl.errors import ConfigError
from rmmctl.models import Status
from rmmctl.playbooks import load_playbook, play_job
from rmmctl.playbooks.hostfacts import default_sections, wanted_sections
from rmmctl.playbooks.template import ANY, references

GOOD = """\
hosts: all
require:
  - facts.memory.total_kb > 0
handlers:
  - name: restart app
    command: echo restart
    notify: [say done]
  - name: say done
    command: echo done
tasks:
  - name: one
    command: echo one
    notify: restart app
  - name: two
    command: echo two
    notify: [restart app, say done]
  - name: check
    assert: {that: "facts.host.hostname | length > 0", fail_msg: "no name"}
"""


def load(text: str, tmp_path: Path) -> Any:
    path = tmp_path / "play.yaml"
    path.write_text(text)
    return load_playbook(path)


def error(text: str, tmp_path: Path) -> str:
    with pytest.raises(ConfigError) as exc:
        load(text, tmp_path)
    message = str(exc.value)
    assert "\n" not in message
    return message.replace(str(tmp_path) + "/", "")


def test_handlers_notify_and_require_load(tmp_path: Path) -> None:
    (play,) = load(GOOD, tmp_path).plays
    assert [h.name for h in play.handlers] == ["restart app", "say done"]
    assert play.handlers[0].notify == ("say done",) and play.handlers[0].line == 5
    assert [t.notify for t in play.tasks] == [("restart app",), ("restart app", "say done"), ()]
    assert play.require == ("facts.memory.total_kb > 0",)
    assert play.tasks[2].args == {"that": "facts.host.hostname | length > 0", "fail_msg": "no name",
                                  "success_msg": None, "quiet": False}
    assert wanted_sections(play, play.tasks) == ("host", "memory")


def test_a_play_of_only_asserts_and_facts_needs_no_consent(tmp_path: Path) -> None:
    (play,) = load("hosts: all\ntasks:\n  - assert: {that: [1 == 1]}\n  - facts: {sections: [os]}\n", tmp_path).plays
    assert not play.changes
    (play,) = load("hosts: all\ntasks:\n  - assert: {that: 'true'}\nhandlers:\n  - {name: h, command: x}\n",
                   tmp_path).plays
    assert play.changes  # a handler may change the host


@pytest.mark.parametrize(("text", "expected"), [
    ("hosts: all\ntasks:\n  - command: x\n    notify: nope\n",
     "play.yaml:4: tasks[0].notify: unknown handler 'nope'; expected a handler of that name under handlers:"),
    ("hosts: all\nhandlers:\n  - {name: restart web, command: x}\ntasks:\n  - command: x\n"
     "    notify: [restart web, restart wbe]\n",
     ("play.yaml:6: tasks[0].notify[1]: unknown handler 'restart wbe' (did you mean 'restart web'?); expected one of "
      "the handlers: restart web")),
    ("hosts: all\ntasks:\n  - command: x\n    notify: {a: 1}\n",
     "play.yaml:4: tasks[0].notify: got a mapping; expected a handler name or a list of them"),
    ("hosts: all\nhandlers: {a: 1}\ntasks:\n  - command: x\n", "play.yaml:2: handlers: got a mapping; expected a list"),
    ("hosts: all\nhandlers:\n  - command: x\ntasks:\n  - command: x\n",
     "play.yaml:3: handlers[0].name: a handler needs a name; expected name: TEXT"),
    ("hosts: all\nhandlers:\n  - {name: a, command: x}\n  - {name: a, command: y}\ntasks:\n  - command: x\n",
     "play.yaml:4: handlers[1].name: a second handler named 'a'; expected unique handler names"),
    ("hosts: all\nhandlers:\n  - {name: a, command: x, tags: [t]}\ntasks:\n  - command: x\n",
     "play.yaml:3: handlers[0].tags: tags on a handler are not supported"),
    ("hosts: all\nhandlers:\n  - {name: a, command: x}\n  - {name: b, command: x, notify: a}\ntasks:\n  - command: x\n",
     "play.yaml:4: handlers[1].notify: 'a' is this handler or one before it; expected a handler defined after this one"),
    ("hosts: all\nhandlers:\n  - {name: a, comand: x}\ntasks:\n  - command: x\n",
     "play.yaml:3: handlers[0].comand: unknown task key or module (did you mean 'command'?)"),
    ("hosts: all\nrequire: 'x >'\ntasks:\n  - command: x\n", "play.yaml:2: require: bad expression"),
    ("hosts: all\nrequire: [a, {b: 1}]\ntasks:\n  - command: x\n",
     "play.yaml:2: require[1]: got a mapping; expected an expression"),
    ("hosts: all\nrequire: facts.filesytems.mounts\ntasks:\n  - command: x\n",
     ("play.yaml:2: require: unknown facts section 'filesytems' (did you mean 'filesystems'?); expected "
      "facts.SECTION with SECTION one of time, host, os")),
    ("hosts: all\ntasks:\n  - command: echo {{ facts['mem'].total_kb }}\n",
     "play.yaml:3: tasks[0].command: unknown facts section 'mem'"),
    ("hosts: all\ntasks:\n  - command: x\n    when: facts.hots.hostname == 'a'\n",
     "play.yaml:4: tasks[0].when: unknown facts section 'hots' (did you mean 'host'?)"),
    ("hosts: all\ntasks:\n  - command: x\n    register: facts\n", "play.yaml:4: tasks[0].register: facts is the host's"),
    ("hosts: all\nvars: {facts: 1}\ntasks:\n  - command: x\n", "play.yaml:2: vars.facts: facts is the host's"),
    ("hosts: all\ntasks:\n  - assert: {that: 'x =='}\n", "play.yaml:3: tasks[0].assert.that: bad expression"),
    ("hosts: all\ntasks:\n  - assert:\n      that:\n        - x == 1\n        - facts.proc.count > 1\n",
     "play.yaml:4: tasks[0].assert.that[1]: unknown facts section 'proc' (did you mean 'processes'?)"),
    ("hosts: all\ntasks:\n  - assert: {that: []}\n", "play.yaml:3: tasks[0].assert.that: got nothing; expected"),
    ("hosts: all\ntasks:\n  - assert: {fail_msg: x}\n", "play.yaml:3: tasks[0].assert.that: assert needs it"),
    ("hosts: all\ntasks:\n  - assert: {that: x, msg: a, fail_msg: b}\n",
     "tasks[0].assert.fail_msg: given twice (as fail_msg and an alias); keep one"),
    ("hosts: all\ntasks:\n  - facts: {sections: [os, disk]}\n",
     "play.yaml:3: tasks[0].facts.sections: unknown section 'disk'; expected some of time, host, os"),
    ("hosts: all\ntasks:\n  - facts: {gather_subset: all}\n", "tasks[0].facts.gather_subset: unknown argument of facts"),
])
def test_problems_are_one_located_line(text: str, expected: str, tmp_path: Path) -> None:
    assert expected in error(text, tmp_path)


def test_which_facts_sections_a_template_reads() -> None:
    assert references("{{ (facts.filesystems.mounts | first).avail_kb }} {{ facts['host'].fqdn }}") == {
        "filesystems", "host"}
    assert references("facts.memory.total_kb > 1 and facts.os.id == 'debian'", expression=True) == {"memory", "os"}
    assert references("facts.memory.total_kb > 1") == set()  # plain text, not a template
    for whole in ("{{ facts }}", "{{ facts[name] }}", "{{ facts.items() | list }}"):
        assert references(whole) == {ANY}, whole
    assert references({"a": ["{{ x }}", "{{ facts.uptime.seconds }}"]}) == {"uptime"}
    assert references("{{ broken") == set()


def test_the_sections_to_probe(tmp_path: Path) -> None:
    def wanted(text: str) -> tuple[str, ...]:
        (play,) = load(text, tmp_path).plays
        return wanted_sections(play, play.tasks)

    assert wanted("hosts: all\ntasks:\n  - command: uptime\n  - facts: {}\n") == ()  # not read: never probed
    assert wanted("hosts: all\nvars: {up: '{{ facts.uptime.seconds }}'}\ntasks:\n  - command: echo\n"
                  "    loop: '{{ facts.filesystems.mounts }}'\n") == ("uptime", "filesystems")
    assert wanted("hosts: all\ntasks:\n  - command: echo {{ facts | length }}\n") == default_sections()
    assert wanted("hosts: all\ntasks:\n  - command: echo\n    when: facts.errors\n") == default_sections()
    assert wanted("hosts: all\nhandlers:\n  - name: h\n    command: echo {{ facts.reboot.required }}\n"
                  "tasks:\n  - command: x\n") == ("reboot",)


def test_the_task_event_hook_is_a_no_op_until_a_sink_is_set() -> None:
    ctx = local_context()
    ctx.emit({"type": "task"})  # nothing to send it to
    seen: list[dict[str, Any]] = []
    ctx.on_event = seen.append
    ctx.emit({"type": "task", "name": "x"})
    assert seen == [{"type": "task", "name": "x"}]


def run_local(text: str, tmp_path: Path, *, check: bool = False) -> tuple[Any, list[dict[str, Any]]]:
    book = load(text, tmp_path)
    ctx = local_context(60)
    events: list[dict[str, Any]] = []
    ctx.on_event = events.append
    try:
        ctx.transport.connect()
        return play_job(book, book.plays[0], check=check)(ctx), events
    finally:
        ctx.transport.close()


def test_the_engine_emits_one_event_per_task_and_runs_a_handler_once(tmp_path: Path) -> None:
    outcome, every = run_local(GOOD, tmp_path)
    starts = [e for e in every if e["type"] == "task_start"]
    events = [e for e in every if e["type"] == "task"]
    assert [e["type"] for e in every] == ["task_start", "task"] * len(events)  # announced, then reported
    assert [(s["name"], s["index"]) for s in starts] == [(e["name"], e["index"]) for e in events]
    assert outcome.status is Status.CHANGED, outcome.data
    tasks = outcome.data["tasks"]
    assert [(t["name"], t["status"], t.get("handler", False)) for t in tasks] == [
        ("one", "changed", False), ("two", "changed", False), ("check", "ok", False),
        ("restart app", "changed", True), ("say done", "changed", True)]
    assert [t["index"] for t in tasks] == [0, 1, 2, 0, 1]
    assert [e["name"] for e in events] == [t["name"] for t in tasks]
    first = events[0]
    assert set(first) == {"type", "host", "index", "name", "module", "status", "message", "changed", "duration_s"}
    assert (first["type"], first["host"], first["module"], first["changed"]) == ("task", "localhost", "command", True)
    assert events[3]["handler"] is True and "handler" not in events[2]
    check, _ = run_local(GOOD, tmp_path, check=True)  # commands skip in check mode: nothing notifies
    assert [t["name"] for t in check.data["tasks"]] == ["one", "two", "check"]


def test_require_false_skips_the_host_with_the_condition(tmp_path: Path) -> None:
    text = "hosts: all\nrequire: [facts.memory.total_kb > 0, 'facts.host.hostname == \"nohost\"']\n" \
           "tasks:\n  - command: echo never\n"
    outcome, events = run_local(text, tmp_path)
    assert outcome.status is Status.SKIPPED and outcome.data["tasks"] == [] and events == []
    assert outcome.data["skip_reason"] == "require false: facts.host.hostname == \"nohost\""
    outcome, _ = run_local("hosts: all\nrequire: nothere > 1\ntasks:\n  - command: echo never\n", tmp_path)
    assert outcome.status is Status.FAILED and outcome.data["tasks"] == []
    assert outcome.data["failed_task"]["message"].startswith("require[0] nothere > 1: undefined variable")


def test_assert_and_facts_modules(tmp_path: Path) -> None:
    text = """\
hosts: all
tasks:
  - assert: {that: ["facts.os.family == 'linux'", "inventory_hostname == 'localhost'"], success_msg: fine}
  - assert: {that: "{{ [] }}", quiet: true}
    ignore_errors: true
  - assert: {that: "1 == 1", quiet: true}
  - facts: {sections: [uptime]}
    register: fresh
  - assert: {that: "fresh.uptime.seconds > 0 and facts.uptime.seconds == fresh.uptime.seconds"}
  - assert: {that: ["true", "facts.os.id == 'none'", "nothere"], msg: "not {{ 'none' }}"}
"""
    outcome, _ = run_local(text, tmp_path, check=True)  # both run in check mode too
    tasks = outcome.data["tasks"]
    assert [(t["status"], t["message"]) for t in tasks] == [
        ("ok", "fine"), ("failed", "assert.that: got []; expected an expression or a list of them like 'x > 1'"),
        ("ok", ""), ("ok", "probed uptime"), ("ok", "All assertions passed"), ("failed", "not none")]
    assert tasks[5]["data"] == {"assertion": "facts.os.id == 'none'", "evaluated_to": False}
    assert outcome.status is Status.FAILED and outcome.data["failed_task"]["name"] == "assert"


class _Prober:
    """A stand-in prober for the local platform: records each collect() call, answers from `answers`."""

    platform = "local"
    sections = tuple(default_sections())

    def __init__(self, answers: dict[str, Any], fail: bool = False) -> None:
        self.answers, self.fail, self.calls = answers, fail, []

    def collect(self, ctx: Any, sections: Any, params: Any = None, **kw: Any) -> Any:
        from rmmctl.facts import Facts
        from rmmctl.probes import ProbeError

        self.calls.append((tuple(sections), dict(params or {})))
        if self.fail:
            raise ProbeError("probe output unreadable: no section came back")
        return Facts({s: self.answers[s] for s in sections if s in self.answers},
                     {s: "cut off" for s in sections if s not in self.answers})


@pytest.fixture
def prober() -> Any:
    from rmmctl.probes import register, unregister

    fake = _Prober({"host": {"hostname": "h1"}, "uptime": {"seconds": 5.0}, "backup": {"now": 1, "paths": []}})
    previous = register(fake)
    yield fake
    unregister("local")
    if previous is not None:
        register(previous)


def test_facts_are_probed_once_with_every_section_read_before_the_first_task(tmp_path: Path, prober: Any) -> None:
    text = """\
hosts: all
vars: {name: "{{ facts.host.hostname }}"}
require: facts.uptime.seconds > 1
tasks:
  - assert: {that: "name == 'h1' and facts.backup.paths == []"}
  - facts: {sections: [uptime, memory]}
  - assert: {that: "facts.errors.memory == 'cut off' and facts.host.hostname == 'h1'"}
  - facts: {}
"""
    outcome, _ = run_local(text, tmp_path)
    assert outcome.status is Status.OK, outcome.data
    assert [c[0] for c in prober.calls] == [("host", "uptime", "backup"), ("uptime", "memory"),
                                            ("host", "uptime", "backup")]
    assert outcome.data["tasks"][1]["message"] == "probed uptime; failed: memory"
    prober.fail = True
    outcome, events = run_local(text, tmp_path)
    assert outcome.status is Status.FAILED and outcome.data["tasks"] == [] and events == []
    assert outcome.data["failed_task"] == {"name": "facts", "message": "facts: probe output unreadable: no section "
                                                                        "came back"}


def test_the_backup_section_gets_the_hosts_backup_paths(tmp_path: Path, prober: Any) -> None:
    from rmmctl.playbooks.hostfacts import PlayFacts

    ctx = local_context()
    ctx.host.vars["backup_paths"] = ["/srv/backup"]
    PlayFacts(ctx, ("backup",)).collect()
    PlayFacts(ctx, ("host",)).collect()
    assert prober.calls == [(("backup",), {"BACKUP_PATHS": ["/srv/backup"]}), (("host",), {})]


def test_a_var_holding_shell_runs_nowhere_in_facts_and_assert(tmp_path: Path) -> None:
    pwned = tmp_path / "pwned"
    evil = f"$(touch {pwned}); touch {pwned}2 `touch {pwned}3`"
    text = """\
hosts: all
tasks:
  - assert: {that: "evil | length > 0 and evil != 'x'", success_msg: "{{ evil }}"}
  - facts: {sections: [backup]}
    register: got
  - facts: {sections: "{{ [evil] }}"}
"""
    book = load(text, tmp_path)
    ctx = local_context(60)
    ctx.host.vars.update(evil=evil, backup_paths=[f"{tmp_path}/{evil}"])
    ctx.transport.connect()
    try:
        outcome = play_job(book, book.plays[0], check=True)(ctx)
    finally:
        ctx.transport.close()
    first, second, third = outcome.data["tasks"]
    assert (first["status"], first["message"]) == ("ok", evil)
    assert second["status"] == "ok" and second["data"]["backup"]["paths"][0]["path"] == f"{tmp_path}/{evil}"
    assert second["data"]["backup"]["paths"][0]["kind"] == "missing"
    assert third["status"] == "failed" and third["message"].startswith("facts.sections: unknown section '$(touch")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["play.yaml"]  # nothing ran
    assert [a.detail for a in ctx.audit] == ["probe: backup"]  # the one exec: the probe, which only reads
