"""Load and validate a playbook before anything runs: every problem is one ConfigError line
`FILE:LINE: key.path: problem; expected ...` (exit 3).

The file is read like an inventory (inventory.load.read_limited: a regular file, at most 10 MiB, a FIFO
or device refused) and parsed with the inventory's YAML loader (line marks, safe, an alias bomb refused).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rmmctl.errors import ConfigError
from rmmctl.inventory.parse import (
    MarkedList,
    MarkedMap,
    Source,
    YamlSyntaxError,
    check_duplicates,
    check_text,
    describe,
    did_you_mean,
    join,
    load_yaml,
    plain,
)
from rmmctl.playbooks import batches, hostfacts, modules
from rmmctl.playbooks.template import TemplateProblem, check_expression, check_template, is_template

MAX_PLAYBOOK_BYTES = 10 * 1024 * 1024

PLAY_KEYS = ("name", "hosts", "vars", "defaults", "become", "serial", "max_fail_percentage", "tasks", "handlers",
             "require")
TASK_KEYS = ("name", "when", "register", "changed_when", "failed_when", "ignore_errors", "timeout", "become", "loop",
             "until", "retries", "delay", "tags", "notify")
# Keys of the format that this version refuses rather than ignores (docs/playbooks.md, "Not yet").
PLAY_NOT_YET = ("pre_tasks", "post_tasks", "roles",
                "gather_facts", "strategy")
TASK_NOT_YET = ("with_items", "block", "include_tasks",
                "import_tasks", "delegate_to", "run_once", "environment", "vars", "args", "check_mode", "diff")
_CONDITIONS = ("when", "changed_when", "failed_when")


@dataclass(frozen=True, slots=True)
class Task:
    name: str
    module: str
    args: dict[str, Any]  # normalized at load; templates inside are rendered per host
    line: int
    when: tuple[Any, ...] = ()
    changed_when: tuple[Any, ...] | None = None
    failed_when: tuple[Any, ...] | None = None
    register: str | None = None
    ignore_errors: bool = False
    timeout: float | None = None
    become: bool | None = None  # None: the play's
    loop: Any = None  # a list (its items may be templates) or one template giving a list
    until: tuple[Any, ...] | None = None  # retry until these hold (all), at most `retries` more times
    retries: int = 3
    delay: float = 5.0
    tags: tuple[str, ...] = ()
    notify: tuple[str, ...] = ()  # handler names, run once at the end of the play if this task changed

    def selected(self, tags: frozenset[str], skip_tags: frozenset[str]) -> bool:
        """Ansible's rule: --skip-tags wins; with --tags only matching tasks (and `always` ones) run;
        a task tagged `never` runs only when one of its tags is asked for."""
        mine = set(self.tags)
        if mine & skip_tags:
            return False
        if tags:
            return bool(mine & tags) or ("always" in mine and "always" not in skip_tags)
        return "never" not in mine


@dataclass(frozen=True, slots=True)
class Play:
    name: str
    hosts: str
    tasks: tuple[Task, ...]
    line: int
    vars: dict[str, Any] = field(default_factory=dict)
    become: bool = False
    serial: tuple[int | str, ...] = ()  # batch sizes (2, '25%'), the last repeating; () = all hosts at once
    max_fail_percentage: float | None = None  # stop later batches when more than this % of a batch failed
    handlers: tuple[Task, ...] = ()  # run at the end, in this order, each once if a task notified it
    require: tuple[Any, ...] = ()  # conditions checked per host before any task; false -> host skipped
    defaults: dict[str, Any] = field(default_factory=dict)  # the lowest precedence: inventory vars beat them

    @property
    def changes(self) -> bool:
        """True when a task may change a host (a run without --check then needs consent)."""
        return any(spec.changes for t in (*self.tasks, *self.handlers) for spec in modules.specs_named(t.module))


@dataclass(frozen=True, slots=True)
class Playbook:
    path: Path
    plays: tuple[Play, ...]

    @property
    def base_dir(self) -> Path:
        return self.path.absolute().parent


def load_playbook(path: str | Path) -> Playbook:
    file = Path(path)
    return parse_playbook(_read_text(file, "playbook"), file)


def _read_text(file: Path, what: str) -> str:
    """A playbook or vars file, read like an inventory (bounded, regular files only); one-line ConfigErrors."""
    from rmmctl.inventory.load import read_limited

    try:
        raw = read_limited(file, MAX_PLAYBOOK_BYTES)
    except ConfigError as exc:
        raise ConfigError(str(exc).replace("inventory ", f"{what} ", 1).replace(
            "; pass -i PATH or set RMMCTL_INVENTORY", "").replace("expected an inventory file", f"expected a {what}")
            .replace("check that it is an inventory", f"check that it is a {what}")) from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{file}: not UTF-8 text (byte {exc.start}); save it as UTF-8") from None


def load_vars_file(path: str | Path) -> dict[str, Any]:
    """`-e @FILE`: a YAML mapping of variable names to values (types kept), read bounded like a playbook;
    a problem is one `FILE:LINE: key: ...` ConfigError."""
    file = Path(path)
    text = _read_text(file, "vars file")
    src = Source(file)
    check_text(text, src)
    try:
        data = load_yaml(text, src)
    except YamlSyntaxError as exc:
        raise exc.error from None
    if data is None:
        return {}
    if not isinstance(data, MarkedMap):
        raise src.error(getattr(data, "line", 1), "", f"the top level is {describe(data)}",
                        "expected a mapping of variable names to values, e.g. `days: 14`")
    check_duplicates(data, src)
    for key in data:
        if not isinstance(key, str) or not key.isidentifier():
            raise src.error(data.line_of(key), str(key), "bad variable name", "expected letters, digits and '_'")
    return {k: plain(v) for k, v in data.items()}


def parse_playbook(text: str, path: Path) -> Playbook:
    src = Source(path)
    check_text(text, src)
    try:
        data = load_yaml(text, src)
    except YamlSyntaxError as exc:
        raise exc.error from None
    check_duplicates(data, src)
    if isinstance(data, MarkedList):
        if len(data) != 1:
            raise src.error(data.line_of(1) if len(data) > 1 else data.line, "",
                            f"{len(data)} plays in one file: not supported yet",
                            "expected one play per file (a mapping with name, hosts, tasks)")
        data, where = data[0], "[0]"
    else:
        where = ""
    if not isinstance(data, MarkedMap) or not data:
        raise src.error(getattr(data, "line", 1), where, f"the playbook is {describe(data) if data else 'empty'}",
                        "expected a play: a mapping with name, hosts and tasks")
    return Playbook(path, (_play(data, src, where),))


def _not_yet(key: str, allowed: tuple[str, ...], not_yet: tuple[str, ...], what: str) -> tuple[str, str]:
    if key in not_yet:
        return f"{key} is not supported yet", f"expected only {', '.join(allowed)} (docs/playbooks.md, \"Not yet\")"
    return f"unknown {what} key{did_you_mean(key, allowed + not_yet)}", f"expected one of {', '.join(allowed)}"


def _play(node: MarkedMap, src: Source, path: str) -> Play:
    for key in node:
        if key not in PLAY_KEYS:
            problem, expected = _not_yet(str(key), PLAY_KEYS, PLAY_NOT_YET, "play")
            raise src.error(node.line_of(key), join(path, str(key)), problem, expected)
    for key in ("hosts", "tasks"):
        if key not in node:
            raise src.error(node.line, path, f"the play has no {key}",
                            "expected hosts: PATTERN" if key == "hosts" else "expected tasks: a list of tasks")
    hosts = node["hosts"]
    if isinstance(hosts, MarkedList) and all(isinstance(h, str) for h in hosts) and hosts:
        hosts = ":".join(hosts)
    if not isinstance(hosts, str) or not hosts.strip():
        raise src.error(node.line_of("hosts"), join(path, "hosts"), f"got {describe(hosts)}",
                        "expected a host pattern like 'acme:&linux'")
    name = node.get("name") or hosts
    if not isinstance(name, str):
        raise src.error(node.line_of("name"), join(path, "name"), f"got {describe(name)}", "expected a string")
    variables = _var_map(node, "vars", src, path)
    defaults = _var_map(node, "defaults", src, path)
    for key in defaults:
        if key in variables:
            raise src.error(variables.line_of(key), join(join(path, "vars"), str(key)),
                            f"{key} is in both defaults and vars", "expected it in one of them")
    become = _bool(node, "become", src, path, False)
    tasks = node["tasks"]
    if not isinstance(tasks, MarkedList) or not tasks:
        raise src.error(node.line_of("tasks"), join(path, "tasks"), f"got {describe(tasks) if tasks else 'nothing'}",
                        "expected a list of tasks")
    out = tuple(_task(t, src, f"{join(path, 'tasks')}[{i}]", tasks.line_of(i)) for i, t in enumerate(tasks))
    serial, max_fail = _batching(node, src, path)
    handlers = _handlers(node, src, path)
    _check_notify(tasks, out, handlers, src, join(path, "tasks"))
    require = _conditions(node, "require", src, path) or ()
    return Play(name, hosts.strip(), out, node.line, plain(variables), bool(become), serial, max_fail,
                handlers=handlers, require=require, defaults=plain(defaults))


def _batching(node: MarkedMap, src: Source, path: str) -> tuple[tuple[int | str, ...], float | None]:
    """`serial` and `max_fail_percentage` (rmmctl.playbooks.batches), checked: FILE:LINE errors."""
    parsed: dict[str, Any] = {"serial": (), "max_fail_percentage": None}
    for key, parse, expected in (("serial", batches.parse_serial, batches.SERIAL_EXPECTED),
                                 ("max_fail_percentage", batches.parse_max_fail, batches.MAX_FAIL_EXPECTED)):
        if key not in node:
            continue
        value = node[key]
        try:
            parsed[key] = parse(plain(value))
        except batches.BatchProblem as exc:
            inner = exc.index is not None and isinstance(value, MarkedList)
            raise src.error(value.line_of(exc.index) if inner else node.line_of(key),
                            join(path, key) + (f"[{exc.index}]" if inner else ""), exc.problem, expected) from None
    return parsed["serial"], parsed["max_fail_percentage"]


def _handlers(node: MarkedMap, src: Source, path: str) -> tuple[Task, ...]:
    """`handlers:` tasks with unique names; a handler may notify only handlers defined after it."""
    raw = node.get("handlers")
    if raw is None:
        return ()
    where = join(path, "handlers")
    if not isinstance(raw, MarkedList):
        raise src.error(node.line_of("handlers"), where, f"got {describe(raw)}", "expected a list of tasks")
    out: list[Task] = []
    for i, item in enumerate(raw):
        here = f"{where}[{i}]"
        if isinstance(item, MarkedMap) and "tags" in item:
            raise src.error(item.line_of("tags"), join(here, "tags"), "tags on a handler are not supported",
                            "expected none: a notified handler runs whatever --tags says")
        if isinstance(item, MarkedMap) and not isinstance(item.get("name"), str):
            raise src.error(item.line_of("name") if "name" in item else item.line, join(here, "name"),
                            "a handler needs a name", "expected name: TEXT (what notify: names)")
        task = _task(item, src, here, raw.line_of(i))
        if any(h.name == task.name for h in out):
            raise src.error(item.line_of("name"), join(here, "name"), f"a second handler named {task.name!r}",
                            "expected unique handler names")
        out.append(task)
    _check_notify(raw, tuple(out), tuple(out), src, where, later_only=True)
    return tuple(out)


def _check_notify(nodes: MarkedList, tasks: tuple[Task, ...], handlers: tuple[Task, ...], src: Source, where: str,
                  *, later_only: bool = False) -> None:
    """Every name a task notifies is a handler's (for a handler: one defined after it)."""
    names = [h.name for h in handlers]
    for i, task in enumerate(tasks):
        for j, name in enumerate(task.notify):
            known = names[i + 1:] if later_only else names
            if name in known:
                continue
            node = nodes[i]
            value = node["notify"]
            at = f"{join(f'{where}[{i}]', 'notify')}" + (f"[{j}]" if isinstance(value, MarkedList) else "")
            line = value.line_of(j) if isinstance(value, MarkedList) else node.line_of("notify")
            if later_only and name in names:
                raise src.error(line, at, f"{name!r} is this handler or one before it",
                                "expected a handler defined after this one (handlers run in order, once)")
            raise src.error(line, at, f"unknown handler {name!r}{did_you_mean(name, names)}",
                            f"expected one of the handlers: {', '.join(names)}" if names
                            else "expected a handler of that name under handlers:")


def _var_map(node: MarkedMap, key: str, src: Source, path: str) -> MarkedMap:
    """`vars:` or `defaults:`: a mapping of variable names to values (templates checked)."""
    variables = node.get(key) or MarkedMap(node.line_of(key))
    if not isinstance(variables, MarkedMap):
        raise src.error(node.line_of(key), join(path, key), f"got {describe(variables)}",
                        "expected a mapping of names to values")
    for name in variables:
        _check_var_name(str(name), src, variables.line_of(name), join(join(path, key), str(name)))
        _check_templates(variables[name], src, variables.line_of(name), join(join(path, key), str(name)))
    return variables


def _check_var_name(key: str, src: Source, line: int, where: str) -> None:
    if not key.isidentifier():
        raise src.error(line, where, f"{key!r} is not a variable name", "expected letters, digits and _")
    if key == "facts":
        raise src.error(line, where, "facts is the host's probed facts (docs/playbooks.md)", "expected another name")


def _bool(node: MarkedMap, key: str, src: Source, path: str, default: Any) -> Any:
    if key not in node:
        return default
    value = node[key]
    if not isinstance(value, bool):
        raise src.error(node.line_of(key), join(path, key), f"got {value!r}", "expected true or false")
    return value


def _check_templates(value: Any, src: Source, line: int, where: str) -> None:
    if isinstance(value, MarkedMap):
        for k, v in value.items():
            _check_templates(v, src, value.line_of(k), join(where, str(k)))
    elif isinstance(value, MarkedList):
        for i, v in enumerate(value):
            _check_templates(v, src, value.line_of(i), f"{where}[{i}]")
    elif is_template(value):
        try:
            check_template(value)
        except TemplateProblem as exc:
            raise src.error(line, where, f"bad template: {exc}", "expected Jinja2 like '{{ name }}'") from None
        _check_facts(value, src, line, where, expression=False)


def _check_facts(value: Any, src: Source, line: int, where: str, *, expression: bool) -> None:
    try:
        hostfacts.check_references(value, expression=expression)
    except TemplateProblem as exc:
        raise src.error(line, where, str(exc), "expected facts.SECTION with SECTION one of "
                        f"{', '.join(hostfacts.KNOWN)} (docs/facts.md)") from None


def _conditions(node: MarkedMap, key: str, src: Source, path: str) -> tuple[Any, ...] | None:
    if key not in node:
        return None
    value, line = node[key], node.line_of(key)
    items = list(value) if isinstance(value, MarkedList) else [value]
    for i, item in enumerate(items):
        where = join(path, key) + (f"[{i}]" if isinstance(value, MarkedList) else "")
        if isinstance(item, bool):
            continue
        if not isinstance(item, str) or not item.strip():
            raise src.error(line, where, f"got {describe(item)}", "expected an expression like 'result.rc == 0'")
        try:
            check_expression(item)
        except TemplateProblem as exc:
            raise src.error(line, where, f"bad expression: {exc}", "expected a Jinja2 expression like 'x > 1'") from None
        _check_facts(item, src, line, where, expression=True)
    return tuple(items)


def _notify(node: MarkedMap, src: Source, path: str) -> tuple[str, ...]:
    """`notify:` a handler name or a list of them (checked against the handlers in _check_notify)."""
    if "notify" not in node:
        return ()
    value = node["notify"]
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(n, str) and n.strip() for n in items):
        raise src.error(node.line_of("notify"), join(path, "notify"), f"got {describe(value)}",
                        "expected a handler name or a list of them")
    return tuple(dict.fromkeys(items))


def _task(node: Any, src: Source, path: str, line: int) -> Task:
    if not isinstance(node, MarkedMap):
        raise src.error(line, path, f"got {describe(node)}", "expected a task: a mapping with a module key")
    known = set(modules.names())
    found = [k for k in node if k in known]
    for key in node:
        if key in TASK_KEYS or key in known:
            continue
        if key in TASK_NOT_YET:
            problem, expected = _not_yet(str(key), TASK_KEYS, TASK_NOT_YET, "task")
        else:
            problem = f"unknown task key or module{did_you_mean(str(key), sorted(known) + list(TASK_KEYS))}"
            expected = f"expected a module ({', '.join(sorted(known))}) or a task key ({', '.join(TASK_KEYS)})"
        raise src.error(node.line_of(key), join(path, str(key)), problem, expected)
    if len(found) != 1:
        raise src.error(node.line_of(found[1]) if found else node.line, path,
                        f"{'no module' if not found else 'two modules: ' + ', '.join(found)}",
                        f"expected exactly one module key: {', '.join(sorted(known))}")
    module = found[0]
    mline, mpath = node.line_of(module), join(path, module)
    _check_templates(node[module], src, mline, mpath)
    raw = plain(node[module])
    specs = modules.specs_named(module)
    args: dict[str, Any] = {}
    for spec in specs:  # every family's module of that name must accept the arguments
        try:
            args = modules.normalize_args(spec, raw, templated=False)
        except modules.ArgProblem as exc:
            where = join(mpath, exc.path) if exc.path else mpath
            aline = node[module].line_of(exc.path) if isinstance(node[module], MarkedMap) and exc.path else mline
            raise src.error(aline, where, exc.problem, exc.expected) from None
        for key in spec.expressions:  # bare expressions (assert's `that`): parsed now, like `when`
            if isinstance(node[module], MarkedMap) and key in node[module] \
                    and not _conditions(node[module], key, src, mpath):
                raise src.error(node[module].line_of(key), join(mpath, key), "got nothing",
                                "expected an expression or a list of them like 'x > 1'")
    name = node.get("name", module)
    if not isinstance(name, str):
        raise src.error(node.line_of("name"), join(path, "name"), f"got {describe(name)}", "expected a string")
    register = node.get("register")
    if register is not None and (not isinstance(register, str) or not register.isidentifier()):
        raise src.error(node.line_of("register"), join(path, "register"), f"got {register!r}",
                        "expected a variable name (letters, digits, _)")
    if register == "facts":
        raise src.error(node.line_of("register"), join(path, "register"), "facts is the host's probed facts",
                        "expected another name")
    timeout = node.get("timeout")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float))
                                or not 0 < timeout <= 86400):
        raise src.error(node.line_of("timeout"), join(path, "timeout"), f"got {timeout!r}",
                        "expected seconds from 0.1 to 86400")
    loop = node.get("loop")
    if "loop" in node:
        if isinstance(loop, MarkedList):
            _check_templates(loop, src, node.line_of("loop"), join(path, "loop"))
        elif is_template(loop):
            _check_templates(loop, src, node.line_of("loop"), join(path, "loop"))
        else:
            raise src.error(node.line_of("loop"), join(path, "loop"), f"got {describe(loop)}",
                            "expected a list, or a template giving one like '{{ paths }}'")
    until = _conditions(node, "until", src, path)
    for key, low, high in (("retries", 1, 1000), ("delay", 0, 3600)):
        if key in node:
            if until is None:
                raise src.error(node.line_of(key), join(path, key), f"{key} without until",
                                "expected until: CONDITION beside it (retry until it holds)")
            value = node[key]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high \
                    or (key == "retries" and not isinstance(value, int)):
                raise src.error(node.line_of(key), join(path, key), f"got {value!r}",
                                f"expected {'an integer' if key == 'retries' else 'seconds'} from {low} to {high}")
    tags = node.get("tags")
    if "tags" in node:
        items = [tags] if isinstance(tags, str) else tags
        if not isinstance(items, list) or not items or not all(isinstance(t, str) and t.strip() for t in items):
            raise src.error(node.line_of("tags"), join(path, "tags"), f"got {describe(tags)}",
                            "expected a tag name or a list of them")
        tags = tuple(t.strip() for item in items for t in item.split(","))
    return Task(
        notify=_notify(node, src, path),
        tags=tags or (),
        until=until,
        retries=int(node.get("retries", 3)),
        delay=float(node.get("delay", 5)),
        loop=plain(loop) if "loop" in node else None,
        name=name, module=module, args=args, line=node.line,
        when=_conditions(node, "when", src, path) or (),
        changed_when=_conditions(node, "changed_when", src, path),
        failed_when=_conditions(node, "failed_when", src, path),
        register=register,
        ignore_errors=bool(_bool(node, "ignore_errors", src, path, False)),
        timeout=float(timeout) if timeout is not None else None,
        become=_bool(node, "become", src, path, None),
    )
