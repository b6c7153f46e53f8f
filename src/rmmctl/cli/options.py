"""Options every command shares, declared once and added to each command by `@common`.

The common options are accepted before the subcommand too (`rmmctl -i inv.yaml -o json status`, as
Ansible and kubectl users type them): the root callback and the group callbacks (`inventory`,
`hostkeys`, `history`) take them as well, and a command merges what its parents were given. Given
both before and after the subcommand, the one after it wins; `-v` counts add up.

Every number option is parsed by `number()`: finite, in its range, or a one-line usage error (exit 2)
naming the option and the range.
"""

from __future__ import annotations

import functools
import inspect
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from rmmctl.cli.complete import complete_pattern
from rmmctl.executor import DEFAULT_FORKS


class Output(str, Enum):
    table = "table"
    json = "json"
    ndjson = "ndjson"
    yaml = "yaml"
    csv = "csv"


# Ranges of the number options (a day is the longest deadline; SQLite integers are 64-bit).
CONNECT_TIMEOUT_MAX = 3600.0
DEADLINE_MAX = 86400.0
COUNT_MAX = 1_000_000
FORKS_MAX = 1000
ROW_ID_MAX = 2**63 - 1
MAX_OUTPUT_MAX = 1 << 30  # --max-output: at most 1 GiB kept per stream


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def number(kind: type[int] | type[float], low: float, high: float, what: str = "") -> Callable[[str], Any]:
    """A typer `parser=` for a finite int/float in [low, high]; anything else is a BadParameter naming the
    range (click adds the option's name): `--timeout nan`, `--forks 1e9`, `-n -1`."""
    expected = f"expected {'an integer' if kind is int else 'a number'}{' of ' + what if what else ''} " \
               f"from {_num(low)} to {_num(high)}"

    def parse(text: Any) -> Any:
        if isinstance(text, (int, float)) and not isinstance(text, bool):  # a default, already a number
            return text
        raw = str(text).strip()
        try:
            value = int(raw) if kind is int else float(raw)
        except ValueError:
            raise typer.BadParameter(f"{raw!r} is not {'an integer' if kind is int else 'a number'}; "
                                     f"{expected}") from None
        if not math.isfinite(value):
            raise typer.BadParameter(f"{raw!r} is not a finite number; {expected}")
        if not low <= value <= high:
            raise typer.BadParameter(f"{raw} is out of range; {expected}")
        return value

    parse.__name__ = "integer" if kind is int else "seconds" if what == "seconds" else "number"
    return parse


SECONDS = "SECONDS"


@dataclass(slots=True)
class Common:
    """The parsed common options, handed to a command as `opts`."""

    inventory: Path | None
    limit: str | None
    output: Output
    json: bool
    forks: int
    timeout: float | None
    connect_timeout: float | None  # None: the host's connect_timeout var, else 10 s
    max_output: int
    db: str | None  # a store URL (sqlite:///path) or a file path
    quiet: bool
    verbose: int
    debug: bool
    no_color: bool
    lock: str | None = None  # "" : --lock without a name (the default name: cli/lock.py)
    lock_wait: float | None = None
    log_file: Path | None = None
    config: Path | None = None  # --config / RMMCTL_CONFIG (docs/config.md); None: the XDG default, if present
    given: frozenset[str] = frozenset()  # the options set on the command line or by their variable

    def with_defaults(self, defaults: Any) -> Common:
        """These options with the config file's `defaults` (forks, timeout, connect_timeout) for those not given."""
        from dataclasses import replace

        chosen = {n: getattr(defaults, n) for n in ("forks", "timeout", "connect_timeout")
                  if n not in self.given and getattr(defaults, n, None) is not None}
        return replace(self, **chosen) if chosen else self

    @property
    def fmt(self) -> str:
        return "json" if self.json else self.output.value

    @property
    def color(self) -> bool:
        return not (self.no_color or os.environ.get("NO_COLOR"))


_P = "Common options"
_COMMON: list[tuple[str, Any, Any]] = [
    ("inventory", Annotated[Path | None, typer.Option("--inventory", "-i", envvar="RMMCTL_INVENTORY",
     help="Inventory file (rmmctl, Ansible YAML or INI). Default: this machine.", rich_help_panel=_P)], None),
    ("limit", Annotated[str | None, typer.Option("--limit", "-l", help="Further limit hosts with a pattern.",
     autocompletion=complete_pattern, rich_help_panel=_P)], None),
    ("output", Annotated[Output, typer.Option("--output", "-o", help="Output format.", rich_help_panel=_P)],
     Output.table),
    ("json", Annotated[bool, typer.Option("--json", help="Same as -o json.", rich_help_panel=_P)], False),
    ("forks", Annotated[int, typer.Option("--forks", "-f", parser=number(int, 1, FORKS_MAX), metavar="N",
     help=f"Hosts worked on at once (1-{FORKS_MAX}).", rich_help_panel=_P)], DEFAULT_FORKS),
    ("timeout", Annotated[float | None, typer.Option("--timeout", parser=number(float, 0.1, DEADLINE_MAX, "seconds"),
     metavar=SECONDS, help=f"Hard deadline per host in seconds, connect included (0.1-{DEADLINE_MAX:.0f}).",
     rich_help_panel=_P)], None),
    ("connect_timeout", Annotated[float | None, typer.Option(
     "--connect-timeout", envvar="RMMCTL_CONNECT_TIMEOUT",
     parser=number(float, 0.1, CONNECT_TIMEOUT_MAX, "seconds"), metavar=SECONDS, show_default=False,
     help=f"Seconds to connect and authenticate (0.1-{CONNECT_TIMEOUT_MAX:.0f}); beats the inventory's "
          "connect_timeout. Default: the inventory's, else 10.", rich_help_panel=_P)], None),
    ("max_output", Annotated[int, typer.Option("--max-output", parser=number(int, 1, MAX_OUTPUT_MAX), metavar="BYTES",
     help="Output kept per stream of each command (default 1048576 = 1 MiB); the rest is read, dropped and "
          "counted.", rich_help_panel=_P)], 1 << 20),
    ("db", Annotated[str | None, typer.Option("--db", envvar="RMMCTL_DB", metavar="URL|PATH",
     help="History database: a file path or sqlite:///PATH.", rich_help_panel=_P)], None),
    ("quiet", Annotated[bool, typer.Option("--quiet", "-q", help="For cron: nothing on success; on trouble only the "
     "problem hosts and the summary line on stderr (data formats, -o json etc., are still written).",
     rich_help_panel=_P)], False),
    ("verbose", Annotated[int, typer.Option("--verbose", "-v", count=True, metavar="", show_default=False,
     help="Trace on stderr like ssh -v, repeatable: -v connect, host key, auth, exec, exit status and bytes; "
          "-vv also each auth attempt and channel; -vvv also paramiko's own log. Never a secret.",
     rich_help_panel=_P)], 0),
    ("debug", Annotated[bool, typer.Option("--debug", help="Debug logging and tracebacks.", rich_help_panel=_P)],
     False),
    ("no_color", Annotated[bool, typer.Option("--no-color", help="No colour (also NO_COLOR).",
     rich_help_panel=_P)], False),
    ("config", Annotated[Path | None, typer.Option("--config", envvar="RMMCTL_CONFIG", metavar="FILE",
     help="Configuration file (alerts, report branding, defaults). Default: $XDG_CONFIG_HOME/rmmctl/config.yaml.",
     rich_help_panel=_P)], None),
    ("lock", Annotated[str | None, typer.Option("--lock", metavar="[NAME]",
     show_default=False, help="Run only if no other run holds this lock (default name: the command, inventory "
     "and pattern); else exit 75 naming the holder. Write --lock=NAME to give a name.", rich_help_panel=_P)], None),
    ("lock_wait", Annotated[float | None, typer.Option("--lock-wait", parser=number(float, 0, DEADLINE_MAX, "seconds"),
     metavar=SECONDS, help="With --lock (implied): wait up to this long for the holder to finish.",
     rich_help_panel=_P)], None),
    ("log_file", Annotated[Path | None, typer.Option("--log-file", envvar="RMMCTL_LOG_FILE", metavar="PATH",
     help="Also write the -v trace (timestamped) to this file, rotated at 5 MB, 3 kept.", rich_help_panel=_P)],
     None),
]
NAMES = tuple(n for n, _, _ in _COMMON)


def optional_lock_value(args: list[str]) -> list[str]:
    """`--lock` takes an optional NAME (typer has no optional option values): a bare `--lock` (last, or
    before another option or `--`) becomes `--lock=`, the default name. Nothing after `--` is touched."""
    out: list[str] = []
    for i, arg in enumerate(args):
        if arg == "--":
            return out + args[i:]
        nxt = args[i + 1] if i + 1 < len(args) else None
        out.append("--lock=" if arg == "--lock" and (nxt is None or nxt.startswith("-")) else arg)
    return out
_SPELLINGS = {"output": ("output", "json"), "json": ("output", "json")}  # one option, two spellings
GIVEN = "rmmctl.common_given"  # ctx.meta key: what each enclosing group was given on the command line
_CTX = "rmmctl_ctx"


def _given(ctx: typer.Context, name: str) -> bool:
    source = ctx.get_parameter_source(name)
    return source is not None and source.name == "COMMANDLINE"


def _set(ctx: typer.Context, name: str) -> bool:
    source = ctx.get_parameter_source(name)
    return source is not None and source.name in ("COMMANDLINE", "ENVIRONMENT")


def merge(ctx: typer.Context, own: dict[str, Any]) -> Common:
    """This command's common options merged with those given before it (root, then groups).

    For each option: given after the subcommand > given before it (the nearest group first) > the
    environment or the default. `--json` and `-o` are one option. `-v` counts add up.
    """
    parents: list[dict[str, Any]] = ctx.meta.get(GIVEN, [])
    values = dict(own)
    for name in NAMES:
        spelled = _SPELLINGS.get(name, (name,))
        if name == "verbose":
            values[name] = own[name] + sum(p.get(name, 0) for p in parents)
        elif not any(_given(ctx, n) for n in spelled):
            for p in reversed(parents):
                if any(n in p for n in spelled):
                    values[name] = p.get(name, own[name] if name != "json" else False)
                    break
    given = frozenset(n for n in NAMES if _set(ctx, n) or any(n in p for p in parents))
    return Common(**values, given=given)


def _remember(ctx: typer.Context, own: dict[str, Any]) -> None:
    """For the commands below this one (a group): the common options it was given on the command line."""
    given = {n: own[n] for n in NAMES if _given(ctx, n)}
    if given:
        ctx.meta.setdefault(GIVEN, []).append(given)


def common(fn: Callable[..., Any], *, without: tuple[str, ...] = ()) -> Callable[..., Any]:
    """Add the common options to a command or group callback; it receives them merged as `opts: Common`.
    `without`: common options this command does not take (it declares its own under other parameter
    names, e.g. `report`'s -o html|md|json|pdf); `opts` has their defaults or what a parent was given."""
    sig = inspect.signature(fn, eval_str=True)
    own = [p for p in sig.parameters.values() if p.name != "opts"]
    ctx_name = next((p.name for p in own if p.annotation is typer.Context), None)
    skipped = {n: d for n, _, d in _COMMON if n in without}
    extra = [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, annotation=a, default=d) for n, a, d in _COMMON
             if n not in skipped]
    if ctx_name is None:
        extra.append(inspect.Parameter(_CTX, inspect.Parameter.KEYWORD_ONLY, annotation=typer.Context))

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        ctx = kwargs[ctx_name] if ctx_name else kwargs.pop(_CTX)
        own = {n: skipped[n] if n in skipped else kwargs.pop(n) for n in NAMES}
        opts = merge(ctx, own)
        _remember(ctx, own)
        group_above = hasattr(ctx.command, "commands") and ctx.invoked_subcommand is not None  # the leaf locks
        if group_above or (opts.lock is None and opts.lock_wait is None):
            return fn(*args, opts=opts, **kwargs)
        from rmmctl.cli.lock import held

        with held(opts, ctx.command_path, kwargs.get("pattern")):
            return fn(*args, opts=opts, **kwargs)

    wrapper.__signature__ = sig.replace(parameters=own + extra)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in own + extra}
    del wrapper.__wrapped__  # typer must see the new signature, not the original
    return wrapper


def common_without(*names: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """`@common` for a command that declares some common options itself: `@common_without("output", "json")`."""
    unknown = set(names) - set(NAMES)
    if unknown:
        raise ValueError(f"not common options: {sorted(unknown)}")
    return functools.partial(common, without=tuple(names))
