"""`rmmctl diagnose --fix`: consent, the plan, the plays and the before/after table (the work: rmmctl.fix)."""

from __future__ import annotations

import sys
from collections.abc import Sequence

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from rmmctl import api
from rmmctl.cli.context import prepare
from rmmctl.cli.options import Common
from rmmctl.cli.output import progress_for, say_summary, say_trouble, stderr_console, stdout_console, writing_stdout
from rmmctl.errors import UsageError
from rmmctl.fix import FixReport, comparison, document, planned_changes, recap
from rmmctl.render.data import write_json, write_yaml
from rmmctl.render.table import safe, status_text, summary_text

FORMATS = ("table", "json", "yaml")
_SEV_STYLE = {"critical": "bold red", "warning": "yellow", "info": "dim"}


def check_fix_options(opts: Common, *, fix: bool, yes: bool, dry_run: bool, nagios: bool) -> None:
    """The option rules of --fix, before anything connects; consent without a terminal is `play`'s rule."""
    if not fix:
        if yes or dry_run:
            raise UsageError(f"{'--yes' if yes else '--dry-run'} goes with --fix: `rmmctl diagnose PATTERN --fix "
                             f"{'--yes' if yes else '--dry-run'}`")
        return
    if nagios:
        raise UsageError("--fix and --nagios do not go together: a monitoring check never changes hosts")
    if opts.fmt not in FORMATS:
        raise UsageError(f"-o {opts.fmt} is not supported with --fix; use -o table, json or yaml")
    if not dry_run and not yes and not (sys.stdin.isatty() and sys.stderr.isatty()):
        raise UsageError("diagnose --fix may change hosts: pass --yes to run it without a terminal "
                         "(or --dry-run for the plan); nothing was changed")


def run(opts: Common, pattern: str, checks: Sequence[str], *, fail_on: str, yes: bool, dry_run: bool,
        command_timeout: float) -> int:
    """Diagnose, plan, ask (unless --yes), fix, re-diagnose; render; return the exit code."""
    p = prepare(opts, command_timeout=command_timeout)
    with p.store, progress_for(opts) as progress:

        def confirm(fix: FixReport) -> bool:
            err = stderr_console(opts)
            for shown in progress:
                shown.stop()  # type: ignore[attr-defined]
            render_plan(err, fix)
            hosts = {h for s in fix.steps for h in s.hosts}
            ok = typer.confirm(f"Run {sum(bool(s.hosts) for s in fix.steps)} playbook(s) on {len(hosts)} "
                               f"host(s)?", default=False, err=True)
            for shown in progress:
                shown.start()  # type: ignore[attr-defined]
            return ok

        fix = api.fix(p.inventory, pattern, p.settings, checks=checks, fail_on=fail_on, check=dry_run,
                      confirm=None if yes else confirm, store=p.store, processors=progress)
    if fix.declined:
        raise UsageError("not confirmed; nothing was changed (`--fix --dry-run` shows the plan)")
    with writing_stdout():
        if opts.fmt == "json":
            write_json(document(fix), sys.stdout)
        elif opts.fmt == "yaml":
            write_yaml(document(fix), sys.stdout)
        elif not opts.quiet:  # --quiet: no table; on trouble the problem hosts and the summary, on stderr
            render_fix(stdout_console(opts), fix)
    assert fix.final is not None
    if opts.quiet and fix.exit_code:
        say_summary(fix.final, fix.exit_code, opts)
    say_trouble(fix.final, opts)
    return fix.exit_code


def render_plan(console: Console, fix: FixReport) -> None:
    """Per playbook its hosts and what would change on each (check mode); then what no playbook fixes."""
    if not any(s.target.hosts for s in fix.steps):
        console.print("Nothing to fix: no finding names an installed playbook.", style="green")
    for step in fix.steps:
        console.print(Text.assemble("playbook ", (step.target.playbook, "bold cyan"), f" on {len(step.hosts)} "
                                    f"host(s) (check mode):"), soft_wrap=True)
        plan = {h.name: h for h in (step.plan.hosts if step.plan else ())}
        for name in step.target.hosts:
            host = plan.get(name)
            if name in step.excluded:
                line = Text(safe(step.excluded[name]), style="dim")
            elif host is None:
                line = Text("not planned (the run stopped)", style="yellow")
            elif host.error is not None or host.status.value == "failed":
                failed = (host.data or {}).get("failed_task") or {}
                why = f"{host.error.kind}: {host.error.message}" if host.error else \
                    f"{failed.get('name')}: {failed.get('message')}"
                line = Text.assemble(status_text(host.status), " ", (safe(why), "red"))
            else:
                changes = planned_changes(host)
                line = Text("nothing to change", style="dim") if not changes else Text(
                    "; ".join(safe(f"{c['name']}: {c['message']}") for c in changes), style="yellow")
            console.print(Text.assemble("  ", (safe(name), "bold"), ": ", line), soft_wrap=True)
    if fix.unfixable:
        console.print("Not fixed by a playbook:")
        for u in fix.unfixable:
            console.print(Text.assemble("  ", (safe(u["host"]), "bold"), " ", (u["check_id"], "cyan"), "  ",
                                        safe(u["title"]), (f"  ({safe(u['reason'])})", "dim")), soft_wrap=True)


def render_fix(console: Console, fix: FixReport) -> None:
    """The plan (under --dry-run), or each play's per-host result; then the before/after table."""
    assert fix.final is not None
    ran = [s for s in fix.steps if s.run is not None]
    if not ran:
        render_plan(console, fix)
    for step in ran:
        console.print(Text.assemble("playbook ", (step.target.playbook, "bold cyan"), ":"), soft_wrap=True)
        for host in step.run.hosts:  # type: ignore[union-attr]
            counts = recap(host)
            failed = (host.data or {}).get("failed_task")
            note = f"  {failed['name']}: {failed['message']}" if failed else (
                f"  {host.error.kind}: {host.error.message}" if host.error else "")
            console.print(Text.assemble("  ", (safe(host.name), "bold"), " ", status_text(host.status), " (",
                                        ", ".join(f"{k} {v}" for k, v in counts.items() if v) or "no tasks",
                                        ")", (safe(note), "red")), soft_wrap=True)
        for name, why in step.excluded.items():
            console.print(Text.assemble("  ", (safe(name), "bold"), " ", (safe(why), "dim")), soft_wrap=True)
    rows = comparison(fix)
    if rows:
        heads = ["Host", "Check", "Finding", "Playbook", "Before", "After"] if ran else \
            ["Host", "Check", "Finding", "Playbook", "Severity"]
        table = Table(*heads, title="findings", title_justify="left", header_style="bold")
        missing = {(u["host"], u["check_id"], u["title"]) for u in fix.unfixable if u["playbook"]}
        for r in rows:
            book = Text("no playbook fixes this", style="dim") if not r["playbook"] else Text(safe(r["playbook"]))
            if (r["host"], r["check_id"], r["title"]) in missing:
                book.append(" (not installed)", style="yellow")
            cells = [safe(r["host"]), r["check_id"], safe(r["title"]), book, _severity(r["before"], "-")]
            if ran:
                cells.append(_severity(r["after"], "gone").append("" if r["rediagnosed"] else " (nothing ran)",
                                                                   style="dim"))
            table.add_row(*cells)
        console.print(table)
    console.print(summary_text(fix.final))


def _severity(value: str | None, none: str) -> Text:
    if value is None:
        return Text(none, style="green" if none == "gone" else "dim")
    return Text(value, style=_SEV_STYLE.get(value, ""))
