"""The `rmmctl` command line. The only package that imports typer.

Every error becomes one line on stderr and an exit code here, in `RmmctlGroup.invoke`, so commands
contain no try/except and CliRunner tests see exactly what a user sees.
"""

from __future__ import annotations

import contextvars
import logging
import os
import signal
import sys
import threading
from typing import Any

import typer
from typer.core import TyperGroup

from rmmctl import __version__
from rmmctl.cli.options import Common, common, optional_lock_value
from rmmctl.errors import (ConfigError, ExitCode, OutputError, RmmctlError, StoreError, Terminated, UsageError,
                           exit_code_for_lock)
from rmmctl.store import LockHeld

log = logging.getLogger("rmmctl")


def _fail(message: str, code: ExitCode) -> None:
    typer.echo(f"rmmctl: error: {message}", err=True)
    raise typer.Exit(int(code))


def _is_cli_signal(exc: BaseException) -> bool:
    """typer/click's own exits, aborts and usage errors pass through untouched."""
    return isinstance(exc, (typer.Exit, typer.Abort)) or type(exc).__module__.startswith(("typer", "click"))


ARGV: contextvars.ContextVar[tuple[str, ...]] = contextvars.ContextVar("rmmctl_argv", default=())
_ClickUsageError = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError")


def _debug_requested() -> bool:
    """--debug anywhere on the command line before a `--` (before or after the subcommand)."""
    args = ARGV.get() or tuple(sys.argv[1:])
    return "--debug" in (args[:args.index("--")] if "--" in args else args)


def _usage_line(exc: Any) -> None:
    """A click usage error (bad option value, unknown option or command) as one line, exit 2."""
    ctx = getattr(exc, "ctx", None)
    hint = f" (see `{ctx.command_path} -h`)" if ctx is not None else ""
    message = " ".join(exc.format_message().split())
    typer.echo(f"rmmctl: error: {message}{hint}", err=True)
    raise typer.Exit(int(ExitCode.USAGE))


def _is_usage_error(exc: BaseException) -> bool:
    return isinstance(exc, _ClickUsageError) and type(exc).__name__ != "NoArgsIsHelpError"


def _on_sigterm(signum: int, frame: object) -> None:
    """SIGTERM (cron, systemd, `timeout`) is Ctrl-C with its own exit code; it fires once, so the
    run's own clean-up (record, print, close transports) is not cut short by a second one."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise Terminated()


def _quiet_stdout() -> None:
    """The reader left: send what is still buffered or written later to /dev/null, not to an error."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError):
        pass


class RmmctlGroup(TyperGroup):
    """Maps rmmctl's errors, and click's usage errors, to one stderr line and the documented exit code."""

    def main(self, args: Any = None, *rest: Any, **kwargs: Any) -> Any:
        """Remember the command line as given (for the history and audit rows), handle SIGTERM, run it."""
        ARGV.set(tuple(args if args is not None else sys.argv[1:]))
        args = optional_lock_value(list(ARGV.get()))
        if threading.current_thread() is not threading.main_thread():
            return super().main(args, *rest, **kwargs)
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
        try:
            return super().main(args, *rest, **kwargs)
        finally:
            signal.signal(signal.SIGTERM, previous)

    def make_context(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().make_context(*args, **kwargs)
        except Exception as exc:
            if _is_usage_error(exc):
                _usage_line(exc)
            raise

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except Terminated:
            typer.echo("rmmctl: terminated", err=True)
            raise typer.Exit(int(ExitCode.TERMINATED)) from None
        except KeyboardInterrupt:
            typer.echo("rmmctl: interrupted", err=True)
            raise typer.Exit(int(ExitCode.INTERRUPTED)) from None
        except BrokenPipeError:  # `rmmctl ... | head`: the reader has all it wants; no error, no traceback
            _quiet_stdout()
            raise typer.Exit(int(ExitCode.BROKEN_PIPE)) from None
        except UsageError as exc:
            _fail(str(exc), ExitCode.USAGE)
        except ConfigError as exc:
            _fail(str(exc), ExitCode.CONFIG)
        except OutputError as exc:
            _quiet_stdout()
            _fail(str(exc), ExitCode.OUTPUT)
        except LockHeld as exc:  # --lock: another run has it; one line naming the holder, exit 75
            typer.echo(f"rmmctl: {exc}; not run (exit 75, try again later)", err=True)
            raise typer.Exit(int(exit_code_for_lock())) from None
        except StoreError as exc:  # the history database could not be opened or written
            _fail(str(exc), ExitCode.STORE)
        except RmmctlError as exc:
            _fail(str(exc), ExitCode.ERROR)
        except Exception as exc:
            if _is_usage_error(exc):
                _usage_line(exc)
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
@common
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version."),
    *,
    opts: Common,
) -> None:
    """Agentless remote monitoring and maintenance over SSH, WinRM and the local machine.

    Common options go before or after the command (`rmmctl -i inv.yaml status`); after it wins.
    """


def _register() -> None:
    from rmmctl.cli import alerts, config, diagnose, doctor, health, history, hostkeys, hosts, inventory, play, \
        report, schedule, shell, watch

    health.register(app)
    diagnose.register(app)
    hosts.register(app)
    play.register(app)
    shell.register(app)
    report.register(app)
    schedule.register(app)
    watch.register(app)
    app.add_typer(inventory.app, name="inventory")
    app.add_typer(hostkeys.app, name="hostkeys")
    app.add_typer(history.app, name="history")
    app.add_typer(doctor.app, name="doctor")
    app.add_typer(config.app, name="config")
    app.add_typer(alerts.app, name="alerts")


_register()


def main() -> None:
    """Console-script entry point. Once the output is written, exit without the interpreter's slow teardown
    (tens of modules, idle worker threads: 0.06-0.16 s measured in benchmarks/README.md)."""
    try:
        app(prog_name="rmmctl")
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if exc.code is not None and not isinstance(exc.code, int):
            print(exc.code, file=sys.stderr)
    logging.shutdown()
    try:
        sys.stdout.flush()
    except BrokenPipeError:  # a closed pipe (`rmmctl ... | head`): nothing more to say
        code = code or int(ExitCode.BROKEN_PIPE)
    except OSError as exc:  # what was still buffered is lost: say so if nothing else was said
        if not code:
            print(f"rmmctl: error: could not write the output to stdout: {exc.strerror or exc}", file=sys.stderr)
            code = int(ExitCode.OUTPUT)
    except ValueError:
        pass
    try:
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
    os._exit(code)
