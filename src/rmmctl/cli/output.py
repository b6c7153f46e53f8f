"""Streams for the CLI: data to stdout, everything else (progress, logs, errors) to stderr."""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from logging.handlers import RotatingFileHandler
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.logging import RichHandler
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

from rmmctl.cli.options import Common
from rmmctl.errors import OutputError, exit_code_for
from rmmctl.inventory.model import Host
from rmmctl.models import HostResult, RunReport
from rmmctl.processors import NdjsonStreamer, Processor, RunInfo
from rmmctl.render import emit
from rmmctl.render.data import Column
from rmmctl.render.table import safe
from rmmctl.secrets import Redactor

PIPE_WIDTH = 160


class _StdoutConsole(Console):
    """rich's Console exits 1 on a closed pipe (SystemExit(1)); rmmctl's rule is 141, said by the CLI."""

    def on_broken_pipe(self) -> None:
        self.quiet = True
        raise BrokenPipeError(32, "Broken pipe")


def stdout_console(opts: Common) -> Console:
    """The console for results: stdout, never progress. Piped tables get a wide page, not 80 columns."""
    width = None if sys.stdout.isatty() else int(os.environ.get("COLUMNS") or PIPE_WIDTH)
    return _StdoutConsole(file=sys.stdout, no_color=not opts.color, highlight=False, soft_wrap=False, width=width)


@contextmanager
def writing_stdout() -> Iterator[None]:
    """Around every write of results: a closed pipe stays BrokenPipeError (exit 141), any other OSError on
    stdout (disk full, EIO) becomes an OutputError (exit 9, one line)."""
    try:
        yield
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise OutputError(f"could not write the output to stdout: {exc.strerror or exc}") from None


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


LOG_FILE_MAX_BYTES = 5 * 1024 * 1024  # --log-file rotates at 5 MB ...
LOG_FILE_BACKUPS = 3  # ... keeping PATH.1 .. PATH.3
_FILE_FORMAT = "%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"


def _log_file_handler(path: Path, redactor: Redactor) -> logging.Handler:
    """--log-file: the -v lines (timestamped, with the pid), rotated by size; RMMCTL_LOG_MAX_BYTES overrides
    the size (tests, small disks). A file that cannot be opened is a ConfigError naming it."""
    from rmmctl.errors import ConfigError

    raw = os.environ.get("RMMCTL_LOG_MAX_BYTES", "").strip()
    size = int(raw) if raw.isascii() and raw.isdigit() and int(raw) > 0 else LOG_FILE_MAX_BYTES
    try:
        path.expanduser().parent.mkdir(parents=True, exist_ok=True)
        handler = RotatingFileHandler(path.expanduser(), maxBytes=size, backupCount=LOG_FILE_BACKUPS,
                                      encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"--log-file {path}: cannot open it: {exc.strerror or exc}; give a writable path") from None
    handler.setFormatter(logging.Formatter(_FILE_FORMAT))
    handler.addFilter(_RedactFilter(redactor))
    handler.rmmctl = True  # type: ignore[attr-defined]
    return handler


def setup_logging(opts: Common, redactor: Redactor) -> None:
    """Logs go to stderr, redacted; rich formatting only on a terminal. With --log-file also to that file, at
    least at the -v level (the same lines as -v, whatever -q or -v say for stderr)."""
    level = logging.DEBUG if opts.debug or opts.verbose >= 2 else logging.INFO if opts.verbose else logging.WARNING
    if opts.quiet:
        level = logging.ERROR
    if sys.stderr.isatty():
        handler: logging.Handler = RichHandler(console=stderr_console(opts), show_path=False)
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(_RedactFilter(redactor))
    handler.setLevel(level)
    handlers = [handler]
    root = logging.getLogger("rmmctl")
    for old in root.handlers:  # a file from an earlier setup in this process (tests)
        old.close()
    if opts.log_file is not None:
        file_handler = _log_file_handler(opts.log_file, redactor)
        file_handler.setLevel(logging.DEBUG if opts.debug or opts.verbose >= 2 else logging.INFO)
        handlers.append(file_handler)
    root.handlers[:] = handlers
    root.setLevel(min(h.level for h in handlers))
    root.propagate = False
    paramiko_log = logging.getLogger("paramiko")
    paramiko_log.handlers[:] = [h for h in paramiko_log.handlers if not getattr(h, "rmmctl", False)]
    paramiko_log.setLevel(logging.NOTSET)
    if opts.debug or opts.verbose >= 3:  # -vvv: paramiko's own log too
        handler.rmmctl = True  # type: ignore[attr-defined]
        for h in handlers:
            paramiko_log.addHandler(h)
        paramiko_log.setLevel(logging.DEBUG)


class ProgressDisplay(Processor):
    """The run processor drawing a rich progress bar on stderr (only when stderr is a terminal)."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._bar = progress.add_task("hosts", total=None)

    def run_started(self, run: RunInfo) -> None:
        self._progress.update(self._bar, total=len(run.hosts), completed=0)  # a new run (diagnose --fix has phases)

    def host_started(self, run: RunInfo, host: Host) -> None:
        self._progress.update(self._bar, description=host.name)

    def host_finished(self, run: RunInfo, result: HostResult) -> None:
        self._progress.advance(self._bar)

    def stop(self) -> None:
        """Take the bar off the terminal (before a question); `start` shows it again."""
        self._progress.stop()

    def start(self) -> None:
        self._progress.start()


_LIVE_ROWS = 20  # running hosts shown at once; the rest are counted in the header


class PlayLiveView(Processor):
    """`play` on a terminal: a rich live view on stderr, host x current task with a spinner and the ok,
    changed, failed counts, fed by the task events (task_finished, on worker threads: state under a lock;
    rich redraws from its own thread). Gone when the run ends (transient): the recap follows on stdout."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._lock = threading.Lock()
        self._total = 0
        self._hosts: dict[str, dict[str, Any]] = {}  # name -> state, last task, counts
        self._done: dict[str, int] = {}
        self._spinner = Spinner("dots")

    def run_started(self, run: RunInfo) -> None:
        with self._lock:
            self._total = len(run.hosts)

    def host_started(self, run: RunInfo, host: Host) -> None:
        with self._lock:
            self._hosts[host.name] = {"state": "running", "tasks": 0, "last": "connecting",
                                      "counts": dict.fromkeys(("ok", "changed", "failed", "skipped"), 0)}

    def _row(self, host: str) -> dict[str, Any]:
        return self._hosts.setdefault(host, {"state": "running", "tasks": 0, "last": "", "now": "",
                                             "counts": dict.fromkeys(("ok", "changed", "failed", "skipped"), 0)})

    def task_started(self, run: RunInfo, event: Mapping[str, Any]) -> None:
        with self._lock:
            self._row(str(event.get("host")))["now"] = str(event.get("name"))

    def task_finished(self, run: RunInfo, event: Mapping[str, Any]) -> None:
        with self._lock:
            row = self._row(str(event.get("host")))
            row["now"] = ""
            status = "ok" if event.get("ignored") else str(event.get("status"))
            row["counts"][status] = row["counts"].get(status, 0) + 1
            row["tasks"] += 1
            row["last"] = f"{event.get('name')} ({status})"

    def host_finished(self, run: RunInfo, result: HostResult) -> None:
        with self._lock:
            self._hosts.pop(result.name, None)
            self._done[result.status.value] = self._done.get(result.status.value, 0) + 1

    def __rich__(self) -> Table:
        with self._lock:
            running = list(self._hosts.items())
            done = sum(self._done.values())
            summary = ", ".join(f"{n} {k}" for k, n in sorted(self._done.items()))
            tasks = {k: sum(r["counts"].get(k, 0) for _, r in running) for k in ("ok", "changed", "failed")}
        table = Table(box=None, title_justify="left", show_edge=False, pad_edge=False,
                      title=f"play: {done}/{self._total} hosts done{f' ({summary})' if summary else ''}, "
                            f"{len(running)} running")
        table.add_column("", width=2)
        for header in ("Host", "Tasks", "ok", "changed", "failed", "Task"):
            table.add_column(header, justify="right" if header in ("Tasks", "ok", "changed", "failed") else "left",
                             no_wrap=True, overflow="ellipsis")
        for name, row in running[:_LIVE_ROWS]:
            counts = row["counts"]
            table.add_row(self._spinner, safe(name), str(row["tasks"]), str(counts["ok"]),
                          Text(str(counts["changed"]), style="yellow" if counts["changed"] else ""),
                          Text(str(counts["failed"]), style="red" if counts["failed"] else ""),
                          safe(f"{row['now']} (running)" if row["now"] else row["last"]))
        if len(running) > _LIVE_ROWS:
            table.add_row("", f"... and {len(running) - _LIVE_ROWS} more running", "", "", "", "", "")
        table.caption = f"running hosts' tasks: {tasks['ok']} ok, {tasks['changed']} changed, {tasks['failed']} failed"
        return table


@contextmanager
def progress_for(opts: Common, *, view: str = "bar") -> Iterator[list[Processor]]:
    """Yield the progress processor to add to a run ([] when stderr is not a terminal, or with -q): a
    progress bar, or for `view="play"` the live task view (PlayLiveView)."""
    if opts.quiet or not sys.stderr.isatty():
        yield []
        return
    if view == "play":
        live_view = PlayLiveView(stderr_console(opts))
        with Live(live_view, console=live_view.console, transient=True, refresh_per_second=8,
                  vertical_overflow="ellipsis"):
            yield [live_view]
        return
    progress = Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=stderr_console(opts), transient=True,
    )
    with progress:
        yield [ProgressDisplay(progress)]


def ndjson_streamer(opts: Common) -> list[Processor]:
    """For -o ndjson, the processor writing each host line as it finishes ([] for other formats)."""
    return [NdjsonStreamer()] if opts.fmt == "ndjson" else []


def show(report: RunReport, opts: Common, columns: Sequence[Column], table: Callable[..., None] | None = None,
         title: str | None = None, *, fail_on: str = "warning") -> int:
    """Render a finished run to stdout, say on stderr what went wrong beside it, and return its exit code.
    With --quiet a table is not drawn: nothing on success, the problem lines on stderr otherwise."""
    code = int(exit_code_for(report, fail_on=fail_on))
    quiet_table = opts.quiet and opts.fmt == "table"
    if report.interrupted_by not in ("EPIPE", "EIO") and not quiet_table:  # stdout is gone: nothing more to write
        with writing_stdout():
            emit(report, opts.fmt, stdout=sys.stdout, console=stdout_console(opts), columns=columns,
                 exit_code=code, table=table, title=title)
    if opts.quiet and code:
        say_summary(report, code, opts)
    say_trouble(report, opts)
    return code


_SEVERITY_RANK = {"critical": 0, "warning": 1}


def _worst_findings(host: HostResult) -> str:
    """`: disk.space: / is 97% full (+2 more)`: the worst finding of a warn/crit host, for --quiet's lines."""
    findings = [f for f in (host.data or {}).get("findings", []) if isinstance(f, dict) and
                f.get("severity") in _SEVERITY_RANK]
    if not findings:
        return ""
    worst = min(findings, key=lambda f: _SEVERITY_RANK[f["severity"]])
    more = f" (+{len(findings) - 1} more)" if len(findings) > 1 else ""
    return f": {worst.get('check_id')}: {' '.join(str(worst.get('title', '')).split())}{more}"


def say_summary(report: RunReport, code: int, opts: Common) -> None:
    """--quiet on trouble: one line per host that is not ok (`web01: unreachable: connection refused`),
    then the summary line with the exit code: what a cron mail should say."""
    from rmmctl.render.table import summary_text

    err = stderr_console(opts)
    for host in report.hosts:
        if host.status.value in ("ok", "changed", "skipped"):
            continue
        rc = (host.data or {}).get("exit_code")
        why = (f": {' '.join(host.error.message.split())}" if host.error is not None and host.error.message
               else f": rc={rc}" if isinstance(rc, int) and not isinstance(rc, bool) else _worst_findings(host))
        err.print(f"rmmctl: {host.name}: {host.status.value}{why}", markup=False, highlight=False, soft_wrap=True)
    err.print(f"rmmctl: {report.command}: {summary_text(report).plain} (exit {code})", markup=False,
              highlight=False, soft_wrap=True)


def say_trouble(report: RunReport, opts: Common) -> None:
    """One stderr line each for an early stop and a history that could not be written."""
    err = stderr_console(opts)
    if report.interrupted_by == "EIO":
        err.print("rmmctl: error: could not write the output to stdout (disk full or I/O error); the run "
                  "stopped, finished hosts are recorded in the history", markup=False, highlight=False, soft_wrap=True)
    elif report.interrupted and report.interrupted_by != "EPIPE":
        why = "Terminated (SIGTERM)" if report.interrupted_by == "SIGTERM" else "Interrupted"
        err.print(f"[yellow]{why}:[/] hosts that had not finished are marked interrupted.", highlight=False,
                  soft_wrap=True)
    if report.store_error:
        err.print(f"rmmctl: history: could not record run: {report.store_error}; results printed, not stored",
                  markup=False, highlight=False, soft_wrap=True)
    if report.alert_error:
        err.print(f"rmmctl: alerts: could not send: {report.alert_error}; kept, sent again on the next run",
                  markup=False, highlight=False, soft_wrap=True)


def show_doc(opts: Common, command: str, payload: dict, table: Callable[[Console], None],
             rows: Sequence[dict] | None = None) -> None:
    """Render a document that is not a per-host run (inventory, history, hostkeys)."""
    from rmmctl.render.data import SCHEMA, write_csv_rows, write_json, write_yaml

    doc = {"schema": SCHEMA, "command": command, **payload}
    fmt = opts.fmt
    with writing_stdout():
        if fmt in ("json", "ndjson"):
            write_json(doc, sys.stdout)
        elif fmt == "yaml":
            write_yaml(doc, sys.stdout)
        elif fmt == "csv":
            write_csv_rows(list(rows or []), sys.stdout)
        else:
            table(stdout_console(opts))
