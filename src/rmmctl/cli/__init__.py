"""The `rmmctl` command line. The only package that imports typer.

Every error becomes one line on stderr and an exit code here, in `RmmctlGroup.invoke`, so commands
contain no try/except and CliRunner tests see exactly what a user sees.
"""

from __future__ import annotations

import contextvars
import logging
import os
import sys
from typing import Any

import typer
from typer.core import TyperGroup

from rmmctl import __version__
from rmmctl.errors import ConfigError, ExitCode, RmmctlError, StoreError, UsageError

log = logging.getLogger("rmmctl")


def _debug_requested() -> bool:
    return "--debug" in sys.argv


def _fail(message: str, code: ExitCode) -> None:
    typer.echo(f"rmmctl: error: {message}", err=True)
    raise typer.Exit(int(code))


def _is_cli_signal(exc: BaseException) -> bool:
    """typer/click's own exits, aborts and usage errors pass through untouched."""
    return isinstance(exc, (typer.Exit, typer.Abort)) or type(exc).__module__.startswith(("typer", "click"))


ARGV: contextvars.ContextVar[tuple[str, ...]] = contextvars.ContextVar("rmmctl_argv", default=())


class RmmctlGroup(TyperGroup):
    """Maps rmmctl's errors to one stderr line and the documented exit code."""

    def main(self, args: Any = None, *rest: Any, **kwargs: Any) -> Any:
        """Remember the command line as given (for the history and audit rows), then run it."""
        ARGV.set(tuple(args if args is not None else sys.argv[1:]))
        return super().main(args, *rest, **kwargs)

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            typer.echo("rmmctl: interrupted", err=True)
            raise typer.Exit(int(ExitCode.INTERRUPTED)) from None
        except BrokenPipeError:  # `rmmctl ... | head`: the reader has all it wants; no error, no traceback
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise typer.Exit(int(ExitCode.BROKEN_PIPE)) from None
        except UsageError as exc:
            _fail(str(exc), ExitCode.USAGE)
        except ConfigError as exc:
            _fail(str(exc), ExitCode.CONFIG)
        except StoreError as exc:  # the history database could not be opened or written
            _fail(str(exc), ExitCode.STORE)
        except RmmctlError as exc:
            _fail(str(exc), ExitCode.ERROR)
        except Exception as exc:
            if _is_cli_signal(exc) or _debug_requested():
                raise
            first = str(exc).splitlines()[0] if str(exc) else ""
            _fail(f"internal error: {type(exc).__name__}: {first} (run again with --debug for the traceback)",
                  ExitCode.ERROR)


app = typer.Typer(
    name="rmmctl",
    cls=RmmctlGroup,
    help="Agentless remote monitoring and maintenance over SSH, WinRM and the local machine.",
    no_args_is_help=True,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"rmmctl {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version."),
) -> None:
    """Agentless remote monitoring and maintenance over SSH, WinRM and the local machine."""


def _register() -> None:
    from rmmctl.cli import diagnose, health, history, hostkeys, hosts, inventory

    health.register(app)
    diagnose.register(app)
    hosts.register(app)
    app.add_typer(inventory.app, name="inventory")
    app.add_typer(hostkeys.app, name="hostkeys")
    app.add_typer(history.app, name="history")


_register()


def main() -> None:
    """Console-script entry point. Once the output is written, exit without the interpreter's slow teardown
    (tens of modules, idle worker threads: 0.06-0.16 s measured in benchmarks/README.md)."""
    try:
        app()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if exc.code is not None and not isinstance(exc.code, int):
            print(exc.code, file=sys.stderr)
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (`rmmctl ... | head`): nothing more to say
            pass
    os._exit(code)
