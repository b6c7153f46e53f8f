"""`rmmctl shell HOST`: an interactive terminal to one ssh or winrm host (rmmctl.shell does the work)."""

from __future__ import annotations

from typing import Annotated

import typer

from rmmctl.cli.complete import complete_host
from rmmctl.cli.context import prepare
from rmmctl.cli.options import Common, common
from rmmctl.cli.output import say_trouble
from rmmctl.errors import exit_code_for
from rmmctl.processors import StoreRecorder
from rmmctl.shell import shell as open_shell

WINRM_COMMAND_TIMEOUT_S = 3600.0  # a WinRM line may run this long unless --timeout says otherwise


@common
def shell(
    host: Annotated[str, typer.Argument(help="One ssh or winrm host of the inventory (a name, or a short name).",
                                        autocompletion=complete_host)],
    *,
    become: Annotated[bool, typer.Option("--become", help="SSH: start `sudo -i` in the pty instead of the login "
                                         "shell (sudo asks for its password there if it needs one).")] = False,
    opts: Common,
) -> None:
    """An interactive terminal to one host: over SSH a pty (window size, Ctrl-C and the exit code pass
    through), over WinRM a PowerShell prompt (each line a command in one kept shell; `exit` leaves). Exit
    code: the remote shell's, else the run's (6 unreachable, 7 auth or host key). The start, end and exit
    code are in `rmmctl history audit`; what is typed never is. Needs a terminal over SSH; over WinRM
    lines may come from stdin (`echo Get-Service | rmmctl shell HOST`). See docs/shell.md."""
    p = prepare(opts, command_timeout=opts.timeout or WINRM_COMMAND_TIMEOUT_S)
    with p.store:
        report = open_shell(p.inventory, host, p.settings, [StoreRecorder(p.store)], become=become)
    [result] = report.hosts
    if result.error is not None and result.status.value != "interrupted":
        typer.echo(f"rmmctl: error: {result.error.message}", err=True)
    say_trouble(report, opts)
    remote = (result.data or {}).get("exit_code")
    if remote is not None and not report.store_error and not report.interrupted:
        raise typer.Exit(int(remote) & 0xFF)
    raise typer.Exit(int(exit_code_for(report)))


def register(app: typer.Typer) -> None:
    """Attach `shell` to the root app."""
    app.command("shell")(shell)
