"""The module registry: each module, keyed by (OS family, name), declares its arguments and check mode.

A module is a `ModuleSpec`: its argument schema (`Arg`s; checked when the playbook loads, again after
templating), its check-mode behaviour (`plan`: works out exactly what it would change and changes
nothing; `skip`: cannot know without doing, reports skipped) and `run(call) -> TaskResult`. The engine
(rmmctl.playbooks.run) knows no module by name: Windows modules (`win_*`) register under family
"windows" beside the POSIX ones and nothing else changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping

if TYPE_CHECKING:
    from rmmctl.executor import HostContext

FAMILIES = ("posix", "windows")
CHECK_MODES = ("plan", "skip")
TASK_STATUSES = ("ok", "changed", "failed", "skipped")


class ArgProblem(Exception):
    """A bad module argument: `path` (the argument name) and what is expected."""

    def __init__(self, path: str, problem: str, expected: str = "") -> None:
        super().__init__(f"{path}: {problem}" + (f"; {expected}" if expected else ""))
        self.path, self.problem, self.expected = path, problem, expected


@dataclass(frozen=True, slots=True)
class Arg:
    """One module argument. `kind`: str, int, bool, list (of strings), mode (octal file mode)."""

    name: str
    kind: str = "str"
    required: bool = False
    choices: tuple[str, ...] = ()
    default: Any = None
    aliases: tuple[str, ...] = ()
    help: str = ""


@dataclass(frozen=True, slots=True)
class TaskResult:
    """What a module reports: status, a one-line message, data for `register`, a unified diff (or None)."""

    status: str
    msg: str = ""
    data: Mapping[str, Any] = field(default_factory=dict)
    diff: str | None = None

    @property
    def changed(self) -> bool:
        return self.status == "changed"


@dataclass(slots=True)
class ModuleCall:
    """What a module gets for one task on one host."""

    ctx: HostContext
    args: dict[str, Any]  # templated, checked, defaults filled, aliases resolved
    check: bool = False
    diff: bool = False
    become: bool = False
    timeout: float | None = None
    base_dir: Path = Path(".")  # the playbook's folder (copy `src` is relative to it)
    # In check mode, the files earlier tasks of this host would have written (path -> content, mode), so a
    # plan builds on the plan before it (a lineinfile after a copy of a new file sees that file).
    planned: dict[str, tuple[bytes, int]] = field(default_factory=dict)
    variables: Mapping[str, Any] = field(default_factory=dict)  # the task's template variables (assert reads them)
    facts: Any = None  # the host's playbooks.hostfacts.PlayFacts (the facts module re-probes through it)

    def run(self, command: str, **kwargs: Any) -> Any:
        kwargs.setdefault("become", self.become)
        if self.timeout is not None:
            kwargs.setdefault("timeout", self.timeout)
        return self.ctx.run(command, **kwargs)

    def put(self, local: Path, remote: str, *, mode: int = 0o644) -> None:
        """Upload a local file (SFTP over SSH; as the login user, never through sudo), audited."""
        self.ctx.put(local, remote, mode=mode)

    def get(self, remote: str, local: Path) -> None:
        """Download a file from the host (as the login user), audited."""
        self.ctx.get(remote, local)


@dataclass(frozen=True, slots=True)
class ModuleSpec:
    """A module: name, OS family, argument schema, check-mode behaviour and what it does."""

    name: str
    family: str
    args: tuple[Arg, ...]
    check_mode: str  # "plan" | "skip"
    run: Callable[[ModuleCall], TaskResult]
    summary: str = ""
    free_form: str | None = None  # the argument a plain string value fills (`command: uptime`)
    changes: bool = True  # may change a host (a run without --check then needs consent)
    validate: Callable[[dict[str, Any]], None] | None = None  # cross-argument rules: raise ArgProblem
    expressions: tuple[str, ...] = ()  # arguments that are bare expressions (assert's `that`), checked like `when`

    def arg(self, name: str) -> Arg | None:
        for a in self.args:
            if name == a.name or name in a.aliases:
                return a
        return None


REGISTRY: dict[tuple[str, str], ModuleSpec] = {}


def register(spec: ModuleSpec) -> ModuleSpec:
    if spec.family not in FAMILIES or spec.check_mode not in CHECK_MODES:
        raise ValueError(f"module {spec.name}: family {spec.family!r} / check_mode {spec.check_mode!r}")
    key = (spec.family, spec.name)
    if key in REGISTRY:
        raise ValueError(f"module {spec.name} is already registered for {spec.family}")
    REGISTRY[key] = spec
    return spec


def _load_builtins() -> None:
    from rmmctl.playbooks import posix  # noqa: F401 - registers the POSIX modules
    from rmmctl.playbooks import posix_cleanup  # noqa: F401 - the cleanup module
    from rmmctl.playbooks import posix_service  # noqa: F401 - the POSIX service module
    from rmmctl.playbooks import core  # noqa: F401 - facts, assert: OS-neutral, for every family
    from rmmctl.playbooks import posix_transfer  # noqa: F401 - script, fetch (files over the transport)
    from rmmctl.playbooks import posix_packages  # noqa: F401 - package_update (apt, dnf, yum)
    from rmmctl.playbooks import posix_printer  # noqa: F401 - the POSIX printer module (CUPS)
    from rmmctl.playbooks import posix_reboot  # noqa: F401 - reboot, wait_for
    from rmmctl.playbooks import posix_system  # noqa: F401 - backup_verify, fstrim, av_update
    from rmmctl.playbooks import win_exec  # noqa: F401 - win_command, win_shell, win_copy
    from rmmctl.playbooks import win_service  # noqa: F401 - win_service
    from rmmctl.playbooks import win_printer  # noqa: F401 - win_printer (the spooler)
    from rmmctl.playbooks import win_maint  # noqa: F401 - win_cleanup, win_defender_update, win_optimize_volume
    from rmmctl.playbooks import win_reboot  # noqa: F401 - win_reboot
    from rmmctl.playbooks import win_updates  # noqa: F401 - win_updates (a SYSTEM scheduled task installs)

def names() -> list[str]:
    _load_builtins()
    return sorted({name for _, name in REGISTRY})


def specs_named(name: str) -> list[ModuleSpec]:
    """Every family's module of that name (the playbook is validated before hosts are known)."""
    _load_builtins()
    return [spec for (family, n), spec in sorted(REGISTRY.items()) if n == name]


def lookup(family: str, name: str) -> ModuleSpec | None:
    _load_builtins()
    return REGISTRY.get((family, name))


def normalize_args(spec: ModuleSpec, raw: Any, *, templated: bool) -> dict[str, Any]:
    """The module's arguments from the task value: a free-form string or a mapping; aliases resolved,
    types checked (templates are left for after rendering unless `templated`), defaults filled."""
    if raw is None and spec.free_form is None and not any(a.required for a in spec.args):
        raw = {}  # `win_reboot:` with nothing: every argument has its default
    if isinstance(raw, str) or raw is None:
        if spec.free_form is None:
            raise ArgProblem("", f"got {'nothing' if raw is None else 'a string'}",
                             f"expected a mapping of {_arg_names(spec)}")
        raw = {} if raw is None else {spec.free_form: raw}
    if not isinstance(raw, dict):
        raise ArgProblem("", "got a list" if isinstance(raw, list) else f"got {type(raw).__name__}",
                         f"expected a mapping of {_arg_names(spec)}")
    out: dict[str, Any] = {}
    for key, value in raw.items():
        arg = spec.arg(str(key))
        if arg is None:
            from rmmctl.inventory.parse import did_you_mean

            raise ArgProblem(str(key), f"unknown argument of {spec.name}{did_you_mean(str(key), [a.name for a in spec.args])}",
                             f"expected one of {_arg_names(spec)}")
        if arg.name in out:
            raise ArgProblem(str(key), f"given twice (as {arg.name} and an alias)", "keep one")
        out[arg.name] = value if (not templated and _has_template(value)) else _typed(arg, value)
    for arg in spec.args:
        if arg.name not in out:
            if arg.required:
                raise ArgProblem(arg.name, f"{spec.name} needs it", f"expected {_expected(arg)}")
            out[arg.name] = arg.default
    if spec.validate and (templated or not any(_has_template(v) for v in out.values())):
        spec.validate(out)
    return out


def _has_template(value: Any) -> bool:
    from rmmctl.playbooks.template import is_template

    if isinstance(value, dict):
        return any(_has_template(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_template(v) for v in value)
    return is_template(value)


def _arg_names(spec: ModuleSpec) -> str:
    return ", ".join(a.name for a in spec.args)


def _expected(arg: Arg) -> str:
    if arg.choices:
        return "one of " + ", ".join(arg.choices)
    return {"str": "a string", "int": "an integer", "bool": "true or false", "list": "a list of strings",
            "mode": "an octal file mode like '0644'"}.get(arg.kind, "a value")


def _typed(arg: Arg, value: Any) -> Any:
    if value is None:
        if arg.required:
            raise ArgProblem(arg.name, "got nothing", f"expected {_expected(arg)}")
        return arg.default
    kind = arg.kind
    if kind == "str":
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise ArgProblem(arg.name, f"got {_what(value)}", f"expected {_expected(arg)}")
        value = str(value)
        if arg.choices and value not in arg.choices:
            raise ArgProblem(arg.name, f"got {value!r}", f"expected {_expected(arg)}")
        return value
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, (int, str)) or not str(value).strip().lstrip("-").isdigit():
            raise ArgProblem(arg.name, f"got {value!r}", f"expected {_expected(arg)}")
        return int(value)
    if kind == "bool":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("yes", "true", "on", "1"):
            return True
        if text in ("no", "false", "off", "0"):
            return False
        raise ArgProblem(arg.name, f"got {value!r}", f"expected {_expected(arg)}")
    if kind == "list":
        if isinstance(value, str):
            return [value]
        if not isinstance(value, list) or not all(isinstance(v, (str, int, float)) and not isinstance(v, bool)
                                                  for v in value):
            raise ArgProblem(arg.name, f"got {_what(value)}", f"expected {_expected(arg)}")
        return [str(v) for v in value]
    if kind == "mode":
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 0o7777:
            return value  # YAML 1.1 reads 0644 as octal already
        text = str(value).strip()
        if isinstance(value, str) and text and len(text) <= 5 and all(c in "01234567" for c in text):
            return int(text, 8)
        raise ArgProblem(arg.name, f"got {value!r}", f"expected {_expected(arg)}")
    return value


def _what(value: Any) -> str:
    from rmmctl.inventory.parse import describe

    return describe(value)
