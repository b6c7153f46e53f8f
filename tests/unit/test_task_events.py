"""Task events (HostContext.emit -> processors.task_finished, on worker threads): ndjson task lines, a
failing stdout stopping the run from the main thread, a failing processor never failing a host."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from rmmctl import api
from rmmctl.errors import OutputStopped
from rmmctl.inventory.load import parse_inventory
from rmmctl.models import HostResult, Status
from rmmctl.playbooks import load_playbook
from rmmctl.processors import NdjsonStreamer, Processor, RunInfo
from rmmctl.transports.fake import FakeHost, FakeResponse, FakeTransport

EVENT = {"type": "task", "host": "h", "index": 0, "name": "t", "module": "command", "status": "ok",
         "message": "", "changed": False, "duration_s": 0.1}


class Broken(io.StringIO):
    def write(self, text: str) -> int:
        raise OSError(28, "No space left on device")


def test_ndjson_task_lines_then_the_host_line() -> None:
    out = io.StringIO()
    streamer = NdjsonStreamer(out)
    run = RunInfo("play", (), (), 0.0)
    streamer.task_finished(run, EVENT)
    streamer.host_finished(run, HostResult("h", "192.0.2.1", Status.OK))
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [x["type"] for x in lines] == ["task", "host"] and lines[0] == EVENT


def test_a_failed_task_line_stops_the_run_at_the_next_host_line_once() -> None:
    streamer = NdjsonStreamer(Broken())
    run = RunInfo("play", (), (), 0.0)
    streamer.task_finished(run, EVENT)  # on a worker thread: never raises there
    assert streamer.error is not None
    with pytest.raises(OutputStopped):
        streamer.host_finished(run, HostResult("h", "192.0.2.1", Status.OK))
    streamer.host_finished(run, HostResult("h2", "192.0.2.2", Status.OK))  # already stopping: quiet


class Exploding(Processor):
    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []

    def task_finished(self, run: RunInfo, event: Any) -> None:
        self.seen.append(dict(event))
        raise RuntimeError("display bug")


def test_a_processor_failing_on_task_events_never_fails_the_host(tmp_path: Path) -> None:
    book = tmp_path / "play.yaml"
    book.write_text("hosts: all\ntasks:\n  - command: echo a\n  - command: echo b\n")
    inv = parse_inventory("hosts:\n  h: {address: 127.0.0.2}\n", tmp_path / "inv.yaml")
    probe = Exploding()
    report = api.play(inv, "all", api.RunSettings(), playbook=load_playbook(book), processors=[probe],
                      opener=lambda host, options, deadline=None: FakeTransport(
                          host, FakeHost(responses=[(".", FakeResponse("x\n"))]), deadline=deadline))
    assert report.hosts[0].status is Status.CHANGED
    assert [(e["host"], e["index"], e["module"]) for e in probe.seen] == [("h", 0, "command"), ("h", 1, "command")]


def test_the_live_view_shows_running_hosts_with_their_task_counts() -> None:
    from rich.console import Console

    from rmmctl.cli.output import PlayLiveView
    from rmmctl.inventory.model import Host

    out = io.StringIO()
    view = PlayLiveView(Console(file=out, width=120, color_system=None))
    hosts = tuple(Host(name=f"web{i}", address=f"192.0.2.{i}") for i in (1, 2, 3))
    run = RunInfo("play", (), hosts, 0.0)
    view.run_started(run)
    for host in hosts:
        view.host_started(run, host)
    view.task_finished(run, {**EVENT, "host": "web1", "name": "Banner text", "status": "changed"})
    view.task_finished(run, {**EVENT, "host": "web1", "name": "Show it", "status": "ok"})
    view.task_finished(run, {**EVENT, "host": "web2", "name": "Banner text", "status": "failed"})
    view.host_finished(run, HostResult("web3", "192.0.2.3", Status.UNREACHABLE))
    view.console.print(view)
    text = out.getvalue()
    assert "play: 1/3 hosts done (1 unreachable), 2 running" in text
    web1 = next(line for line in text.splitlines() if "web1" in line)
    assert "Show it (ok)" in web1 and web1.split()[2:6] == ["2", "1", "1", "0"]
    assert "web3" not in text and "Banner text (failed)" in text
    view.task_started(run, {"type": "task_start", "host": "web2", "index": 1, "name": "Restart it", "module": "service"})
    out.truncate(0)
    view.console.print(view)
    web2 = next(line for line in out.getvalue().splitlines() if "web2" in line)
    assert "Restart it (running)" in web2  # the task running now, until it ends


class Watcher(Processor):
    def __init__(self) -> None:
        self.seen: list[tuple[str, str, int]] = []

    def task_started(self, run: RunInfo, event: Any) -> None:
        self.seen.append(("start", event["name"], event["index"]))

    def task_finished(self, run: RunInfo, event: Any) -> None:
        self.seen.append((event["status"], event["name"], event["index"]))


def test_each_task_is_announced_before_it_runs_and_reported_after(tmp_path: Path) -> None:
    book = tmp_path / "play.yaml"
    book.write_text("hosts: all\ntasks:\n  - {name: a, command: echo a}\n  - {name: b, command: echo b}\n")
    inv = parse_inventory("hosts:\n  h: {address: 127.0.0.2}\n", tmp_path / "inv.yaml")
    watcher = Watcher()
    api.play(inv, "all", api.RunSettings(), playbook=load_playbook(book), processors=[watcher],
             opener=lambda host, options, deadline=None: FakeTransport(
                 host, FakeHost(responses=[(".", FakeResponse("x\n"))]), deadline=deadline))
    assert watcher.seen == [("start", "a", 0), ("changed", "a", 0), ("start", "b", 1), ("changed", "b", 1)]
