"""Commands that act on hosts: `ping` and `run`."""

from __future__ import annotations

import shlex
from typing import Annotated

import typer
from typer.core import TyperCommand

from rmmctl import api
from rmmctl.cli.context import run_call
from rmmctl.cli.complete import complete_pattern
from rmmctl.cli.options import DEADLINE_MAX, SECONDS, Common, common, number
from rmmctl.cli.output import show
from rmmctl.errors import UsageError
from rmmctl.render.data import Column
from rmmctl.render.table import render_outputs

PatternArg = Annotated[str, typer.Argument(help="Hosts: a pattern like 'acme:&linux', 'web*', 'os=windows'.",
                                                  autocompletion=complete_pattern)]


def _d(key: str):
    return lambda r: (r.data or {}).get(key)


PING_COLUMNS = [
    Column("Transport", _d("transport")),
    Column("User", _d("user")),
    Column("Remote host", _d("remote_hostname"), key="remote_hostname"),
    Column("RTT ms", _d("rtt_ms"), justify="right"),
]
RUN_COLUMNS = [
    Column("rc", _d("exit_code"), justify="right", key="exit_code"),
    Column("stdout", _d("stdout")),
    Column("stderr", _d("stderr")),
]


@common
def ping(pattern: PatternArg = "all", *, opts: Common) -> None:
    """Check that hosts are reachable: TCP, host key, authentication and a shell round trip."""
    report = run_call(opts, api.ping, pattern)
    raise typer.Exit(show(report, opts, PING_COLUMNS, title="ping"))


class _RunCommand(TyperCommand):
    """Everything after the first `--` is the remote command, so the pattern can be left out."""

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:
        if "--" in args:
            cut = args.index("--")
            ctx.meta["rmmctl.remote_argv"] = args[cut + 1:]
            args = args[:cut]
        return super().parse_args(ctx, args)


@common
def run(
    ctx: typer.Context,
    pattern: PatternArg = "all",
    command: Annotated[list[str] | None, typer.Argument(help="The command and its arguments, after --.")] = None,
    *,
    shell: Annotated[bool, typer.Option("--shell", "-s",
                                        help="Run COMMAND as one shell command line (pipes, globs) "
                                             "instead of quoting every argument.")] = False,
    cmd: Annotated[bool, typer.Option("--cmd", help="Windows hosts: run COMMAND as one cmd.exe command line "
                                                    "instead of PowerShell.")] = False,
    become: Annotated[bool, typer.Option("--become", "-b", help="Run through sudo on the host.")] = False,
    command_timeout: Annotated[float, typer.Option("--command-timeout", metavar=SECONDS,
                                                   parser=number(float, 0.1, DEADLINE_MAX, "seconds"),
                                                   help="Seconds before the command is killed.")] = 60.0,
    opts: Common,
) -> None:
    """Run an ad-hoc command on many hosts: `rmmctl run 'acme:&linux' -- df -h /` (pattern default: all)."""
    remote = ctx.meta.get("rmmctl.remote_argv")
    if remote is not None and command:
        raise UsageError("give the command after `--` only: rmmctl run PATTERN -- COMMAND ARGS...")
    words = remote if remote is not None else command or []
    if cmd and shell:
        raise UsageError("--cmd and --shell exclude each other: --cmd is cmd.exe's command line on Windows hosts")
    line = _command_line(words, shell or cmd, "--cmd" if cmd else "--shell")
    argv = None if shell or cmd else tuple(words)  # quoted per host: sh for ssh/local, PowerShell for winrm
    report = run_call(opts, lambda inv, pat, settings, **kw: api.run_command(inv, pat, line, settings, argv=argv,
                                                                             cmd=cmd, **kw),
                      pattern, command_timeout=command_timeout, become=become)
    raise typer.Exit(show(report, opts, RUN_COLUMNS, table=render_outputs, title="run"))


def _command_line(argv: list[str], shell: bool, flag: str = "--shell") -> str:
    """Every argument is shell-quoted, unless --shell (or --cmd) asks for one verbatim command line."""
    if not argv:
        raise UsageError("run needs a command after the pattern, e.g. `rmmctl run all -- uptime`")
    if shell:
        example = "rmmctl run windows --cmd 'ipconfig /all'" if flag == "--cmd" else \
            "rmmctl run all --shell 'df -h | tail -1'"
        if len(argv) != 1:
            raise UsageError(f"{flag} takes the command line as ONE argument: {example}")
        if not argv[0].strip():
            raise UsageError(f"{flag} needs a command line, got an empty one: {example}")
        return argv[0]
    if not argv[0].strip():
        raise UsageError("the command is empty (its first word is ''): rmmctl run all -- uptime")
    return shlex.join(argv)


def register(app: typer.Typer) -> None:
    """Attach the host commands to the root app."""
    app.command("ping")(ping)
    app.command("run", cls=_RunCommand)(run)

