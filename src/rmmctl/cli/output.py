"""Streams for the CLI: data to stdout, everything else (progress, logs, errors) to stderr."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from rich.console import Console
from rich.logging import RichHandler
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from rmmctl.cli.options import Common
from rmmctl.errors import exit_code_for
from rmmctl.inventory.model import Host
from rmmctl.models import HostResult, RunReport
from rmmctl.render import emit
from rmmctl.render.data import Column, write_ndjson_host
from rmmctl.secrets import Redactor

PIPE_WIDTH = 160


def stdout_console(opts: Common) -> Console:
    """The console for results: stdout, never progress. Piped tables get a wide page, not 80 columns."""
    width = None if sys.stdout.isatty() else int(os.environ.get("COLUMNS") or PIPE_WIDTH)
    return Console(file=sys.stdout, no_color=not opts.color, highlight=False, soft_wrap=False, width=width)


def stderr_console(opts: Common) -> Console:
    """The console for humans: progress, warnings, errors."""
    return Console(file=sys.stderr, no_color=not opts.color, highlight=False, stderr=True)


class _RedactFilter(logging.Filter):
    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self._redact = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self._redact(record.getMessage())
        record.args = None
        return True


def setup_logging(opts: Common, redactor: Redactor) -> None:
    """Logs go to stderr only, redacted; rich formatting only on a terminal."""
    level = logging.DEBUG if opts.debug or opts.verbose >= 2 else logging.INFO if opts.verbose else logging.WARNING
    if opts.quiet:
        level = logging.ERROR
    if sys.stderr.isatty():
        handler: logging.Handler = RichHandler(console=stderr_console(opts), show_path=False)
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(_RedactFilter(redactor))
    root = logging.getLogger("rmmctl")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
    paramiko_log = logging.getLogger("paramiko")
    paramiko_log.handlers[:] = [h for h in paramiko_log.handlers if not getattr(h, "rmmctl", False)]
    paramiko_log.setLevel(logging.NOTSET)
    if opts.debug or opts.verbose >= 3:  # -vvv: paramiko's own log too
        handler.rmmctl = True  # type: ignore[attr-defined]
        paramiko_log.addHandler(handler)
        paramiko_log.setLevel(logging.DEBUG)


class ProgressObserver:
    """A rich progress bar on stderr (only when stderr is a terminal)."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._task = progress.add_task("hosts", total=None)

    def run_started(self, total: int) -> None:
        self._progress.update(self._task, total=total)

    def host_started(self, host: Host) -> None:
        self._progress.update(self._task, description=host.name)

    def host_finished(self, result: HostResult) -> None:
        self._progress.advance(self._task)


@contextmanager
def progress_for(opts: Common) -> Iterator[ProgressObserver | None]:
    """Yield an observer drawing progress on stderr, or None when stderr is not a terminal."""
    if opts.quiet or not sys.stderr.isatty():
        yield None
        return
    progress = Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=stderr_console(opts), transient=True,
    )
    with progress:
        yield ProgressObserver(progress)


def ndjson_streamer(opts: Common) -> Callable[[HostResult], None] | None:
    """For -o ndjson, a callback writing each host line as it finishes."""
    if opts.fmt != "ndjson":
        return None
    return lambda result: write_ndjson_host(result, sys.stdout)


def show(report: RunReport, opts: Common, columns: Sequence[Column], table: Callable[..., None] | None = None,
         title: str | None = None) -> int:
    """Render a finished run to stdout and return its exit code."""
    code = int(exit_code_for(report))
    emit(report, opts.fmt, stdout=sys.stdout, console=stdout_console(opts), columns=columns, exit_code=code,
         table=table, title=title)
    if report.interrupted:
        stderr_console(opts).print("[yellow]Interrupted:[/] hosts that had not finished are marked interrupted.")
    return code


def show_doc(opts: Common, command: str, payload: dict, table: Callable[[Console], None],
             rows: Sequence[dict] | None = None) -> None:
    """Render a document that is not a per-host run (inventory, history, hostkeys)."""
    from rmmctl.render.data import SCHEMA, write_csv_rows, write_json, write_yaml

    doc = {"schema": SCHEMA, "command": command, **payload}
    fmt = opts.fmt
    if fmt in ("json", "ndjson"):
        write_json(doc, sys.stdout)
    elif fmt == "yaml":
        write_yaml(doc, sys.stdout)
    elif fmt == "csv":
        write_csv_rows(list(rows or []), sys.stdout)
    else:
        table(stdout_console(opts))
