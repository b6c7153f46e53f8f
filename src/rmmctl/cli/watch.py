"""`rmmctl watch`: the live fleet dashboard (rich Live on the alternate screen) over kept connections.

The rounds and the view's model are rmmctl.watch; this module owns the terminal: it refuses to run
without one (exit 2), reads keys in cbreak mode on a thread (`q` quits; Ctrl-C still raises SIGINT),
redraws at the terminal's current size four times a second between rounds (so a resize is the next
frame), and always restores the terminal and closes every connection on the way out (exit 0 for `q`
and Ctrl-C, 143 for SIGTERM).
"""

from __future__ import annotations

import logging
import os
import select
import signal
import sys
import termios
import threading
import time
import tty
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.console import Console
from rich.live import Live

from rmmctl import api
from rmmctl.cli.context import Prepared, prepare
from rmmctl.cli.health import PatternArg
from rmmctl.cli.options import DEADLINE_MAX, SECONDS, Common, Output, common, number
from rmmctl.errors import ExitCode, Terminated, UsageError
from rmmctl.executor import Job
from rmmctl.health import watch_job
from rmmctl.inventory.model import Host
from rmmctl.models import RunReport
from rmmctl.processors import StoreRecorder
from rmmctl.render.watch import dashboard
from rmmctl.watch import Watch

NO_TTY = ("watch draws a live dashboard and needs a terminal (stdout is not one); "
          "use status -o ndjson in a loop instead")
LOG_KEPT = 200  # log lines the pane keeps (it shows the newest that fit)
FRAME_S = 0.25  # redraw period between rounds: countdowns move and a resized terminal is redrawn


@common
def watch(
    pattern: PatternArg = "all",
    *,
    interval: Annotated[float, typer.Option("--interval", parser=number(float, 0.1, DEADLINE_MAX, "seconds"),
                                            metavar=SECONDS, help="Seconds from one round's start to the next.")]
    = 30.0,
    record_every: Annotated[float, typer.Option(
        "--record-every", parser=number(float, 0, DEADLINE_MAX, "seconds"), metavar=SECONDS,
        help="Record a round in the history (like a status run, command 'watch') at most this often; "
             "0: every round.")] = 300.0,
    no_record: Annotated[bool, typer.Option("--no-record", help="Record no round in the history.")] = False,
    opts: Common,
) -> None:
    """Live dashboard: status of every host round after round over connections kept open (q quits)."""
    if not sys.stdout.isatty():
        raise UsageError(NO_TTY)
    if opts.fmt != Output.table.value:
        raise UsageError(f"watch draws a live table, not -o {opts.fmt}; use status -o {opts.fmt} in a loop instead")
    p = prepare(opts, command_timeout=min(max(15.0, 3 * interval), 120.0))
    hosts = [p.settings.pin(h) for h in api.resolve_hosts(p.inventory, pattern, p.settings.limit)]
    executor = api.make_executor(p.inventory, p.settings, keep=True)
    session = Watch(hosts, executor, interval=interval, record_every=None if no_record else record_every)
    code = ExitCode.OK
    with p.store:
        try:
            _loop(session, p, opts, pattern)
        except Terminated:
            code = ExitCode.TERMINATED
        except KeyboardInterrupt:  # Ctrl-C (or q during a round): a clean stop
            pass
        finally:
            if threading.current_thread() is threading.main_thread():
                signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the closing short
            session.close()
    raise typer.Exit(int(code))


def _loop(session: Watch, p: Prepared, opts: Common, pattern: str) -> None:
    console = Console(file=sys.stdout, no_color=not opts.color, highlight=False)
    quit_ = threading.Event()
    rounding = threading.Event()  # a round runs on the main thread: `q` stops it (executor.stop)

    def on_quit() -> None:
        quit_.set()
        if rounding.is_set():
            session.executor.stop()  # the round's hosts end now (interrupted), their commands stopped

    def frame() -> object:
        _fit(console)
        view = session.view
        last = f"last round {view.last_round_s:.2f} s" if view.last_round_s is not None else "first round..."
        footer = (f"round {view.rounds} every {session.interval:g} s, {last}, connections: {session.executor.kept} "
                  f"open, {session.executor.opened} opened | q quits")
        return dashboard(view, height=console.size.height, title=f"rmmctl watch {pattern}  {time.strftime('%H:%M:%S')}",
                         footer=footer, log=log)

    def run(hosts: Sequence[Host], job: Job, record: bool) -> RunReport:
        processors = [StoreRecorder(p.store)] if record else []
        return api.execute_on("watch", hosts, job, p.settings, session.executor, processors)

    job = watch_job()  # host, os, reboot, updates: the first round, then every 10 minutes (health.SLOW_EVERY_S)
    log: deque[str] = deque(maxlen=LOG_KEPT)
    with _keys(on_quit), _logs_into(log), Live(console=console, screen=True, auto_refresh=False, get_renderable=frame,
                              redirect_stdout=False, redirect_stderr=False) as live:
        live.refresh()  # the hosts (waiting) at once: the first round connects, which takes a while
        while not quit_.is_set():
            started = time.monotonic()
            rounding.set()
            try:
                report = session.round(run, job)
            finally:
                rounding.clear()
            if quit_.is_set() or (report is not None and report.interrupted):
                return
            live.refresh()
            while not quit_.wait(min(FRAME_S, session.next_round_in(started))):
                live.refresh()
                if session.next_round_in(started) <= 0:
                    break


class _PaneHandler(logging.Handler):
    """Log records as one-line strings into the dashboard's log pane (a bounded deque)."""

    def __init__(self, lines: deque[str], level: int) -> None:
        super().__init__(level)
        self.lines = lines
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
        except Exception:  # noqa: BLE001 - a bad record never stops the dashboard
            return
        self.lines.extend(line for line in text.splitlines() if line.strip())


@contextmanager
def _logs_into(lines: deque[str]) -> Iterator[None]:
    """While the dashboard owns the terminal, what would go to stderr there (-v, warnings) goes to its log
    pane instead: written to the screen it would be drawn over and garble the frame. The handlers keep
    their level and filters (the redaction); a --log-file gets every line as usual; a stderr redirected
    away from the terminal (`2>watch.log`) keeps its lines."""
    if not sys.stderr.isatty():
        yield
        return
    swapped: list[tuple[logging.Logger, logging.Handler, logging.Handler]] = []
    for name in ("rmmctl", "paramiko"):
        logger = logging.getLogger(name)
        for old in list(logger.handlers):
            if isinstance(old, logging.FileHandler) or not _writes_stderr(old):
                continue
            pane = _PaneHandler(lines, old.level)
            for f in old.filters:
                pane.addFilter(f)
            logger.handlers[logger.handlers.index(old)] = pane
            swapped.append((logger, old, pane))
    try:
        yield
    finally:
        for logger, old, pane in swapped:
            if pane in logger.handlers:
                logger.handlers[logger.handlers.index(pane)] = old


def _writes_stderr(handler: logging.Handler) -> bool:
    """A handler writing to this process's stderr (a StreamHandler on it, or rich's handler on a console
    writing there)."""
    stream = getattr(handler, "stream", None) or getattr(getattr(handler, "console", None), "file", None)
    return stream is sys.stderr or stream is sys.__stderr__


def _fit(console: Console) -> None:
    """The console sized to the terminal now (a resize since the last frame included)."""
    try:
        console.size = os.get_terminal_size(console.file.fileno())  # type: ignore[assignment]
    except (OSError, ValueError):
        pass


@contextmanager
def _keys(on_quit: object) -> Iterator[None]:
    """Keys from the terminal on stdin in cbreak mode (no echo, no line buffering; Ctrl-C still signals),
    read by a thread; `q` calls `on_quit()`. The terminal's mode is restored on the way out."""
    fd = sys.stdin.fileno() if sys.stdin and sys.stdin.isatty() else None
    if fd is None:
        yield
        return
    saved = termios.tcgetattr(fd)
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            ready, _, _ = select.select([fd], [], [], 0.1)
            if not ready:
                continue
            try:
                data = os.read(fd, 64)
            except OSError:
                return
            if not data or b"q" in data.lower():
                on_quit()  # type: ignore[operator]
                return

    tty.setcbreak(fd, termios.TCSANOW)
    reader = threading.Thread(target=read, daemon=True, name="rmmctl-keys")
    reader.start()
    try:
        yield
    finally:
        stop.set()
        reader.join(1.0)
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def register(app: typer.Typer) -> None:
    """Attach `watch` to the root app."""
    app.command("watch")(watch)
