"""`rmmctl play PLAYBOOK [PATTERN]`: run a maintenance playbook (docs/playbooks.md)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from rmmctl import api
from rmmctl.cli.complete import complete_pattern, complete_playbook
from rmmctl.cli.context import prepare
from rmmctl.cli.options import Common, common
from rmmctl.cli.output import progress_for, show, show_doc, stderr_console
from rmmctl.errors import ConfigError, UsageError
from rmmctl.inventory.model import Inventory
from rmmctl.models import PLAY_RECAP as RECAP
from rmmctl.models import HostResult, RunReport
from rmmctl.models import play_recap as recap
from rmmctl.render.data import Column
from rmmctl.render.table import safe, status_text, summary_text
from rmmctl.store import HistoryStore


_STYLE = {"ok": "green", "changed": "yellow", "failed": "red", "skipped": "cyan"}



COLUMNS = [Column(k, (lambda key: lambda r: recap(r)[key])(k), justify="right") for k in RECAP]


def parse_extra_vars(items: list[str]) -> dict[str, Any]:
    """`-e key=value` (the value is a string) and `-e @vars.yaml` (a YAML mapping, types kept), repeatable,
    later wins; a bad item is a usage error (exit 2), a bad file a located ConfigError (exit 3)."""
    from rmmctl.playbooks import load_vars_file

    out: dict[str, Any] = {}
    for item in items:
        if item.startswith("@"):
            if not item[1:]:
                raise UsageError("-e @: name the vars file, e.g. -e @vars.yaml")
            out.update(load_vars_file(item[1:]))
            continue
        key, sep, value = item.partition("=")
        if not sep or not key.strip().isidentifier():
            raise UsageError(f"-e {item!r}: expected key=value with a variable name as key, e.g. -e days=14")
        out[key.strip()] = value
    return out


LAST_FAILED = "@last-failed"
_FAILED = ("failed", "error", "unreachable", "timeout", "auth_failed")


def last_failed(store: HistoryStore, inventory: Inventory, playbook: Path, err: Console) -> str | None:
    """`-l @last-failed`: the hosts that failed or were unreachable in the last run of this playbook (from
    the history), as a limit pattern; None when that run had none. ConfigError when it never ran."""
    runs = [r for r in store.runs(limit=50, command="play", playbook=str(playbook.resolve()))
            if r.get("status") != "running"][:1]  # not one still going (another terminal, a cron job)
    if not runs:
        raise ConfigError(f"-l {LAST_FAILED}: {playbook} has no earlier run in the history ({store.location}); "
                          "run it without -l first")
    run = store.run(int(runs[0]["id"])) or {"hosts": []}
    names = [h["host"] for h in run["hosts"] if h["status"] in _FAILED]
    known = [n for n in names if n in inventory.hosts]
    gone = [n for n in names if n not in inventory.hosts]
    if gone:
        err.print(f"-l {LAST_FAILED}: not in the inventory any more, left out: {safe(', '.join(gone))}",
                  markup=False, highlight=False, soft_wrap=True)
    if not known:
        err.print(f"-l {LAST_FAILED}: the last run of {safe(str(playbook))} (run {runs[0]['id']}) had no failed or "
                  "unreachable hosts: nothing to re-run", markup=False, highlight=False, soft_wrap=True)
        return None
    return ":".join(known)


def _tag_list(values: list[str] | None) -> list[str]:
    return [t.strip() for v in values or [] for t in v.split(",") if t.strip()]


def _error_note(host: HostResult) -> str:
    """`kind: message`; a host of a batch that did not run (serial + max_fail_percentage): its reason alone."""
    if host.error is None:
        return ""
    return host.error.message if host.error.kind == "not_run" else f"{host.error.kind}: {host.error.message}"


def _error_style(host: HostResult) -> str:
    return "cyan" if host.error is not None and host.error.kind == "not_run" else "red"


def render_play(console: Console, report: RunReport) -> None:
    """Per host its tasks (status and message, diffs under them), then the recap table."""
    for host in report.hosts:
        console.print(Text.assemble((safe(host.name), "bold"), " | ", status_text(host.status),
                                    f" | {host.duration_s:.2f}s"), soft_wrap=True)
        if host.error is not None:
            console.print(Text(safe(f"  {_error_note(host)}"), style=_error_style(host)), soft_wrap=True)
        elif (host.data or {}).get("skip_reason"):
            console.print(Text(safe(f"  skipped: {host.data['skip_reason']}"), style="cyan"), soft_wrap=True)
        for task in (host.data or {}).get("tasks") or []:
            word = "ignored" if task.get("ignored") else task["status"]
            label = task["name"] + (" (handler)" if task.get("handler") else "")
            console.print(Text.assemble("  ", (f"{word:<8}", _STYLE.get(task["status"], "")), " ",
                                        safe(label), (f"  {safe(task['message'])}" if task["message"] else "",
                                                      "dim")), soft_wrap=True)
            if task.get("diff"):
                for line in safe(task["diff"]).splitlines():
                    style = "green" if line.startswith("+") else "red" if line.startswith("-") else "dim"
                    console.print(Text("    " + line, style=style), soft_wrap=True)
    table = Table(title="recap", title_justify="left")
    table.add_column("Host")
    for key in RECAP:
        table.add_column(key, justify="right")
    table.add_column("Failed task / error")
    for host in report.hosts:
        counts = recap(host)
        failed = (host.data or {}).get("failed_task")
        note = f"{failed['name']}: {failed['message']}" if failed else _error_note(host)
        if not note and (host.data or {}).get("skip_reason"):
            note = f"skipped: {host.data['skip_reason']}"
        table.add_row(safe(host.name), *(Text(str(counts[k]), style=_STYLE.get(k, "red") if counts[k] else "dim")
                                         for k in RECAP), Text(safe(note), style="red" if failed else _error_style(host)
                                                               if host.error else "cyan"))
    console.print(table)
    console.print(summary_text(report))


def interactive() -> bool:
    """Consent can be asked: stdin and stderr are a terminal."""
    return sys.stdin.isatty() and sys.stderr.isatty()


def plan_lines(report: RunReport) -> list[Text]:
    """The check-mode plan, one line per host: what would change (task names), or why nothing can be said."""
    lines = []
    for host in report.hosts:
        data = host.data or {}
        tasks = data.get("tasks") or []
        changed = [t["name"] for t in tasks if t["status"] == "changed"]
        unknown = [t["name"] for t in tasks if t["status"] == "skipped" and "check mode" in (t.get("message") or "")]
        name = (safe(host.name), "bold")
        if host.error is not None:
            line = Text.assemble(name, (f"  {host.status.value}: {safe(host.error.message)}", "red"))
        elif data.get("skip_reason"):
            line = Text.assemble(name, (f"  skipped: {safe(data['skip_reason'])}", "cyan"))
        elif data.get("failed_task"):
            failed = data["failed_task"]
            line = Text.assemble(name, (f"  fails at {safe(failed['name'])}: {safe(failed['message'])}", "red"))
        elif changed:
            shown = ", ".join(changed[:6]) + (f" and {len(changed) - 6} more" if len(changed) > 6 else "")
            line = Text.assemble(name, (f"  would change {len(changed)} of {len(tasks)} task(s): {safe(shown)}",
                                        "yellow"))
        else:
            line = Text.assemble(name, ("  no change", "green"))
        if unknown:
            line.append(f"; not known before running: {safe(', '.join(unknown[:4]))}", "dim")
        lines.append(line)
    return lines


def ask_consent(opts: Common, p: Any, pattern: str, run_args: dict[str, Any]) -> None:
    """On a terminal: run the play in check mode (not recorded), show per host what would change, ask once."""
    err = stderr_console(opts)
    only = run_args["playbook"].plays[0]
    err.print(f"Play [bold]{safe(only.name)}[/]: checking what it would change first (a dry run, nothing changes)",
              soft_wrap=True, highlight=False)
    with progress_for(opts, view="play") as progress:
        plan = api.play(p.inventory, pattern, p.settings, check=True, processors=progress,
                        **{**run_args, "diff": False})
    if plan.interrupted:  # Ctrl-C during the dry run: no question, nothing changed
        err.print("Interrupted during the dry run; nothing was changed.", highlight=False)
        raise typer.Exit(143 if plan.interrupted_by == "SIGTERM" else 130)
    for line in plan_lines(plan):
        err.print(line, soft_wrap=True)
    would = sum(1 for h in plan.hosts if any(t["status"] == "changed" for t in (h.data or {}).get("tasks") or []))
    err.print(f"{len(plan.hosts)} host(s), {would} would change. `--check --diff` shows each change.",
              highlight=False, soft_wrap=True)
    if not typer.confirm(f"Run {only.name!r} on these {len(plan.hosts)} host(s)?", default=False, err=True):
        raise UsageError("not confirmed; nothing was changed (--check shows the plan)")


@common
def play(
    playbook: Annotated[str | None, typer.Argument(
        help="The playbook: a file (playbooks/motd.yaml) or a shipped playbook's name (disk-cleanup; "
             "`--list` shows them).", metavar="PLAYBOOK", autocompletion=complete_playbook)] = None,
    pattern: Annotated[str, typer.Argument(help="Narrows the play's `hosts` (default: all of them).",
                                           autocompletion=complete_pattern)] = "all",
    *,
    check: Annotated[bool, typer.Option("--check", "-C", help="Dry run: report what would change, change "
                                        "nothing.")] = False,
    diff: Annotated[bool, typer.Option("--diff", "-D", help="Show a unified diff of each file change.")] = False,
    extra_vars: Annotated[list[str] | None, typer.Option("--extra-vars", "-e", metavar="KEY=VALUE|@FILE",
                                                         help="A variable for the templates, or @vars.yaml (a YAML "
                                                              "mapping); repeatable, later wins; beats inventory and "
                                                              "play vars.")] = None,
    tags: Annotated[list[str] | None, typer.Option("--tags", "-t", metavar="TAG[,TAG]",
                                                   help="Run only the tasks with one of these tags (and `always` "
                                                        "ones); repeatable.")] = None,
    skip_tags: Annotated[list[str] | None, typer.Option("--skip-tags", metavar="TAG[,TAG]",
                                                        help="Leave out the tasks with one of these tags.")] = None,
    start_at_task: Annotated[str | None, typer.Option("--start-at-task", metavar="NAME",
                                                      help="Start at the first task of this name (a glob works: "
                                                           "'Banner*'); the tasks before it do not run.")] = None,
    ignore_window: Annotated[bool, typer.Option("--ignore-window", help="Run on hosts outside their "
                                                "`maintenance_window` too (they are skipped otherwise).")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Change hosts without asking (cron needs it: without a "
                                      "terminal a run that may change hosts refuses without --yes).")] = False,
    list_: Annotated[bool, typer.Option("--list", help="List the shipped playbooks with their description and "
                                        "vars, and run nothing.")] = False,
    opts: Common,
) -> None:
    """Run a maintenance playbook: `rmmctl play playbooks/motd.yaml web* --check --diff`."""
    from rmmctl.playbooks import load_playbook
    from rmmctl.playbooks.run import start_index
    from rmmctl.playbooks.shipped import resolve_playbook, shipped_path

    if list_:
        show_list(opts)
        return
    if playbook is None:
        raise UsageError("missing PLAYBOOK: a playbook file or a shipped name (`rmmctl play --list` shows them)")
    extra = parse_extra_vars(extra_vars or [])
    path = resolve_playbook(playbook)  # a path that exists, else a shipped name
    try:
        book = load_playbook(path)  # ConfigError (exit 3) before anything connects
    except ConfigError as exc:
        shadowed = shipped_path(playbook)
        if shadowed is None or shadowed == path:
            raise
        raise ConfigError(f"{exc} (the file {playbook} here is not the shipped playbook {playbook}: that one is "
                          f"{shadowed})") from None
    if start_at_task is not None:
        start_index(book, book.plays[0], start_at_task)  # an unknown name: exit 3, before asking or connecting
    if opts.limit and opts.limit.startswith("@") and opts.limit != LAST_FAILED:
        raise UsageError(f"-l {opts.limit}: the one @ form is -l {LAST_FAILED}; else give a host pattern")
    p = prepare(opts)
    if opts.limit == LAST_FAILED:
        try:
            p.settings.limit = last_failed(p.store, p.inventory, path, stderr_console(opts))
        except BaseException:
            p.store.close()
            raise
        if p.settings.limit is None:
            p.store.close()
            raise typer.Exit(0)
    run_args: dict[str, Any] = dict(playbook=book, extra_vars=extra, diff=diff, tags=_tag_list(tags),
                                    skip_tags=_tag_list(skip_tags), ignore_window=ignore_window,
                                    start_at_task=start_at_task)
    if not check and any(pl.changes for pl in book.plays) and not yes:
        if not interactive():
            raise UsageError(f"{playbook} may change hosts: pass --yes to run it without a terminal "
                             "(or --check for a dry run); nothing was changed")
        ask_consent(opts, p, pattern, run_args)
    report = p.call(opts, api.play, pattern, view="play", check=check, **run_args)
    raise typer.Exit(show(report, opts, COLUMNS, table=render_play, title="play"))


def _vars_text(values: dict[str, Any]) -> str:
    return ", ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in values.items())


def show_list(opts: Common) -> None:
    """`play --list`: the shipped playbooks, name, description and vars with their defaults."""
    from rmmctl.playbooks.shipped import shipped_playbooks

    rows = [p.to_dict() for p in shipped_playbooks()]

    def table(console: Console) -> None:
        t = Table("Playbook", "Description", "Vars (defaults)")
        for r in rows:
            t.add_row(safe(r["name"]), Text(safe(r["error"] or r["description"]), style="red" if r["error"] else ""),
                      safe(_vars_text(r["vars"])))
        console.print(t)
        console.print(f"{len(rows)} shipped playbook(s): `rmmctl play NAME [PATTERN] --check` dry-runs one",
                      markup=False, highlight=False)

    csv_rows = [{**r, "vars": _vars_text(r["vars"])} for r in rows]
    show_doc(opts, "play list", {"playbooks": rows}, table, csv_rows)


def register(app: typer.Typer) -> None:
    app.command("play")(play)
