"""`rmmctl doctor ssh|winrm HOST`: one host's connection diagnosed step by step (rmmctl.doctor,
rmmctl.doctor_winrm). A command group: each transport has its own doctor, with the same rows.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from rmmctl.cli.complete import complete_host
from rmmctl.cli.context import run_call
from rmmctl.cli.options import Common, common
from rmmctl.cli.output import show
from rmmctl.doctor import doctor_ssh
from rmmctl.doctor_winrm import doctor_winrm
from rmmctl.models import RunReport
from rmmctl.render.data import Column
from rmmctl.render.table import safe

app = typer.Typer(help="Diagnose one host's connection step by step: where it breaks, what to change.",
                  no_args_is_help=True)

_STYLE = {"ok": "green", "fail": "bold red", "skip": "dim"}


@app.callback()
@common
def _group(*, opts: Common) -> None:
    """Diagnose one host's connection step by step. Common options may also come before `doctor`."""


def _failed(r: object) -> str | None:
    return (getattr(r, "data", None) or {}).get("failed_step")


COLUMNS = [Column("Failed step", _failed, key="failed_step")]


def render_steps(console: Console, report: RunReport) -> None:
    """The rows of every step: status, detail and, where something is to change, the fix."""
    for result in report.hosts:
        steps = (result.data or {}).get("steps", [])
        transport = (result.data or {}).get("transport") or report.command.removeprefix("doctor ")
        table = Table(title=f"doctor {transport} {result.name}: {result.status.value}", title_justify="left")
        table.add_column("Step", no_wrap=True)
        table.add_column("", no_wrap=True)
        table.add_column("Detail")
        for row in steps:
            table.add_row(safe(row["step"]), Text(row["status"], style=_STYLE.get(row["status"], "")),
                          safe(row["detail"]))
            if row.get("fix"):
                table.add_row("", "", Text.assemble(("fix: ", "bold yellow"), safe(row["fix"])))
        if not steps and result.error:  # the job itself failed (a bad proxy_jump, an internal error)
            table.add_row("doctor", Text("fail", style="bold red"), safe(result.error.message))
        console.print(table)


@app.command("ssh")
@common
def ssh(
    host: Annotated[str, typer.Argument(help="One ssh host of the inventory (a name, or a short name).",
                                        autocompletion=complete_host)],
    *,
    become: Annotated[bool, typer.Option("--become", help="Check sudo too, even if the host does not set "
                                         "become.")] = False,
    opts: Common,
) -> None:
    """Resolve, TCP, SSH banner, host key, auth, a session, the shell, sudo and the probe, in that order;
    stops at the first failure and says what to change. Exit 0 when all is ok, else the code the
    failure gives in any command (6 unreachable, 7 auth or host key, 5 a failed command or probe)."""
    report = run_call(opts, doctor_ssh, host, become=become)
    raise typer.Exit(show(report, opts, COLUMNS, table=render_steps, title="doctor ssh"))


@app.command("winrm")
@common
def winrm(
    host: Annotated[str, typer.Argument(help="One winrm host of the inventory (a name, or a short name).",
                                        autocompletion=complete_host)],
    *,
    opts: Common,
) -> None:
    """TCP, TLS and certificate, WS-Man Identify, the auth methods offered, auth, encryption, a shell and a
    PowerShell command (version, execution policy), in that order; stops at the first failure and says
    what to change on the host. Exit 0 when all is ok, else the code the failure gives in any command
    (6 unreachable, 7 auth, 5 a failed command)."""
    report = run_call(opts, doctor_winrm, host)
    raise typer.Exit(show(report, opts, COLUMNS, table=render_steps, title="doctor winrm"))
