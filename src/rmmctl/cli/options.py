"""Options every command shares, declared once and added to each command by `@common`."""

from __future__ import annotations

import functools
import inspect
import os
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from rmmctl.executor import DEFAULT_FORKS


class Output(str, Enum):
    table = "table"
    json = "json"
    ndjson = "ndjson"
    yaml = "yaml"
    csv = "csv"


@dataclass(slots=True)
class Common:
    """The parsed common options, handed to a command as `opts`."""

    inventory: Path | None
    limit: str | None
    output: Output
    json: bool
    forks: int
    timeout: float | None
    connect_timeout: float
    max_output: int
    db: Path | None
    quiet: bool
    verbose: int
    debug: bool
    no_color: bool

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
     rich_help_panel=_P)], None),
    ("output", Annotated[Output, typer.Option("--output", "-o", help="Output format.", rich_help_panel=_P)],
     Output.table),
    ("json", Annotated[bool, typer.Option("--json", help="Same as -o json.", rich_help_panel=_P)], False),
    ("forks", Annotated[int, typer.Option("--forks", "-f", min=1, max=1000, help="Hosts worked on at once.",
     rich_help_panel=_P)], DEFAULT_FORKS),
    ("timeout", Annotated[float | None, typer.Option("--timeout", min=0.1,
     help="Hard deadline per host in seconds (connect included).", rich_help_panel=_P)], None),
    ("connect_timeout", Annotated[float, typer.Option("--connect-timeout", min=0.1,
     help="Seconds to connect and authenticate.", rich_help_panel=_P)], 10.0),
    ("max_output", Annotated[int, typer.Option("--max-output", min=1, metavar="BYTES",
     help="Output kept per stream of each command (the rest is read and dropped, counted).", rich_help_panel=_P)],
     1 << 20),
    ("db", Annotated[Path | None, typer.Option("--db", envvar="RMMCTL_DB", help="History database.",
     rich_help_panel=_P)], None),
    ("quiet", Annotated[bool, typer.Option("--quiet", "-q", help="Only errors on stderr.", rich_help_panel=_P)],
     False),
    ("verbose", Annotated[int, typer.Option("--verbose", "-v", count=True, metavar="(counter)", show_default=False,
     help="Trace on stderr like ssh -v, repeatable: -v connect, host key, auth, exec, exit status and bytes; "
          "-vv also each auth attempt and channel; -vvv also paramiko's own log. Never a secret.",
     rich_help_panel=_P)], 0),
    ("debug", Annotated[bool, typer.Option("--debug", help="Debug logging and tracebacks.", rich_help_panel=_P)],
     False),
    ("no_color", Annotated[bool, typer.Option("--no-color", help="No colour (also NO_COLOR).",
     rich_help_panel=_P)], False),
]


def common(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Add the common options to a command; the command receives them as `opts: Common`."""
    sig = inspect.signature(fn, eval_str=True)
    own = [p for p in sig.parameters.values() if p.name != "opts"]
    extra = [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, annotation=a, default=d) for n, a, d in _COMMON]
    names = [n for n, _, _ in _COMMON]

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        opts = Common(**{n: kwargs.pop(n) for n in names})
        return fn(*args, opts=opts, **kwargs)

    wrapper.__signature__ = sig.replace(parameters=own + extra)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in own + extra}
    del wrapper.__wrapped__  # typer must see the new signature, not the original
    return wrapper
