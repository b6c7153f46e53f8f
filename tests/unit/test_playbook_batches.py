"""`serial` and `max_fail_percentage`: batch sizes as Ansible cuts them, the stop rule, load-time errors
(FILE:LINE, exit 3), and the executor running batches one after another in one run (scripted hosts)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from rmmctl.api import command_job
from rmmctl.errors import ConfigError, ConnectError, ExitCode, exit_code_for
from rmmctl.executor import Executor
from rmmctl.inventory.model import Host
from rmmctl.models import HostError, HostResult, RunReport, Status
from rmmctl.playbooks import load_playbook
from rmmctl.playbooks.batches import Batches, batch_sizes
from rmmctl.render.data import summary
from rmmctl.transports import TransportOptions
from rmmctl.transports.fake import FakeHost, FakeResponse, fake_opener


def hosts(n: int) -> list[Host]:
    return [Host(f"h{i:02d}", f"127.0.0.{i + 1}") for i in range(n)]


def result(name: str, status: Status) -> HostResult:
    return HostResult(name, "127.0.0.1", status)


@pytest.mark.parametrize(("serial", "total", "sizes"), [
    ((), 5, [5]),
    ((2,), 5, [2, 2, 1]),
    ((1, 5, "50%"), 20, [1, 5, 10, 4]),  # Ansible's example: the last size repeats
    (("25%",), 10, [2, 2, 2, 2, 2]),  # 25% of 10 is 2.5: rounded down, as Ansible does
    (("10%",), 3, [1, 1, 1]),  # never less than one host
    (("100%",), 4, [4]),
    ((10,), 3, [3]),
    ((2,), 0, []),
])
def test_batch_sizes_follow_ansible(serial: tuple[int | str, ...], total: int, sizes: list[int]) -> None:
    assert batch_sizes(serial, total) == sizes


def test_split_keeps_the_inventory_order() -> None:
    hs = hosts(5)
    assert [[h.name for h in b] for b in Batches((2,)).split(hs)] == [["h00", "h01"], ["h02", "h03"], ["h04"]]


def test_the_stop_rule_is_strictly_more_than_and_counts_unreachable_hosts() -> None:
    two = [result("a", Status.OK), result("b", Status.UNREACHABLE)]
    assert Batches((2,), 0).stop_reason(1, two) == \
        "batch 1 failed 1 of 2 hosts (50%) > max_fail_percentage 0 (failed: b)"
    assert Batches((2,), 50).stop_reason(1, two) is None  # 50% is not more than 50%
    assert Batches((2,), 49.5).stop_reason(1, two) is not None
    three = [result("a", Status.FAILED), result("b", Status.OK), result("c", Status.OK)]
    assert Batches((3,), 33).stop_reason(2, three) == \
        "batch 2 failed 1 of 3 hosts (33.3%) > max_fail_percentage 33 (failed: a)"
    for status in (Status.TIMEOUT, Status.AUTH_FAILED, Status.ERROR):
        assert Batches((1,), 0).stop_reason(1, [result("x", status)]) is not None
    for status in (Status.OK, Status.CHANGED, Status.SKIPPED):
        assert Batches((1,), 0).stop_reason(1, [result("x", status)]) is None


def test_a_batch_that_failed_entirely_stops_the_play_as_in_ansible() -> None:
    every = [result("a", Status.FAILED), result("b", Status.UNREACHABLE)]
    assert Batches((2,)).stop_reason(1, every) == \
        "batch 1 failed 2 of 2 hosts (100%): every host of the batch failed (failed: a, b)"
    assert Batches((2,), 100).stop_reason(1, every) is not None
    assert Batches().stop_reason(1, every) is None  # no serial, no max_fail_percentage: nothing to decide


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "play.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(("head", "serial", "max_fail"), [
    ("serial: 2", (2,), None),
    ("serial: '25%'", ("25%",), None),
    ("serial: ' 5 %'", ("5%",), None),
    ("serial: '3'", (3,), None),
    ("serial: [1, 5, '50%']", (1, 5, "50%"), None),
    ("max_fail_percentage: 0", (), 0.0),
    ("max_fail_percentage: 12.5\nserial: 4", (4,), 12.5),
    ("max_fail_percentage: '30%'", (), 30.0),
])
def test_serial_and_max_fail_percentage_load(tmp_path: Path, head: str, serial: tuple[int | str, ...],
                                             max_fail: float | None) -> None:
    play = load_playbook(write(tmp_path, f"hosts: all\n{head}\ntasks:\n  - command: uptime\n")).plays[0]
    assert (play.serial, play.max_fail_percentage) == (serial, max_fail)


@pytest.mark.parametrize(("head", "expected"), [
    ("serial: 0", "play.yaml:2: serial: got 0: a batch needs at least one host; expected a positive number of hosts"),
    ("serial: -1", "play.yaml:2: serial: got -1: a batch needs at least one host"),
    ("serial: '0%'", "play.yaml:2: serial: got '0%'; expected a positive number of hosts (2), a percentage"),
    ("serial: '101%'", "play.yaml:2: serial: got '101%'"),
    ("serial: '12.5%'", "play.yaml:2: serial: got '12.5%'"),
    ("serial: many", "play.yaml:2: serial: got 'many'"),
    ("serial: true", "play.yaml:2: serial: got True"),
    ("serial: 1.5", "play.yaml:2: serial: got 1.5"),
    ("serial: '{{ n }}'", "play.yaml:2: serial: got '{{ n }}'"),
    ("serial: []", "play.yaml:2: serial: got an empty list; expected"),
    ("serial:\n  - 1\n  - x", "play.yaml:4: serial[1]: got 'x'"),
    ("serial: {a: 1}", "play.yaml:2: serial: got {'a': 1}"),
    ("max_fail_percentage: 101",
     "play.yaml:2: max_fail_percentage: got 101; expected a percentage from 0 to 100 (0: any failed host stops"),
    ("max_fail_percentage: -1", "play.yaml:2: max_fail_percentage: got -1; expected a percentage from 0 to 100"),
    ("max_fail_percentage: yes", "play.yaml:2: max_fail_percentage: got True"),
    ("max_fail_percentage: lots", "play.yaml:2: max_fail_percentage: got 'lots'"),
    ("max_fail_percentage: [1]", "play.yaml:2: max_fail_percentage: got [1]"),
    ("max_fail_percentage: ~", "play.yaml:2: max_fail_percentage: got None"),
])
def test_bad_serial_or_max_fail_percentage_is_one_located_line(tmp_path: Path, head: str, expected: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_playbook(write(tmp_path, f"hosts: all\n{head}\ntasks:\n  - command: uptime\n"))
    assert expected in str(err.value)
    assert len(str(err.value).splitlines()) == 1


def test_executor_runs_batches_one_after_another_in_one_run() -> None:
    hs = hosts(5)
    running: set[str] = set()
    seen: list[set[str]] = []
    lock = threading.Lock()

    def on_start(host: Host) -> None:
        with lock:
            running.add(host.name)
            seen.append(set(running))

    def on_result(r: HostResult) -> None:
        with lock:
            running.discard(r.name)

    scripts = {h.name: FakeHost(responses=[("", FakeResponse("x", delay_s=0.05))]) for h in hs}
    ex = Executor(TransportOptions(), forks=10, opener=fake_opener(scripts))
    results = ex.run(hs, command_job("x"), on_result=on_result, on_start=on_start, batching=Batches((2,)))
    assert [r.status for r in results] == [Status.OK] * 5
    assert max(len(s) for s in seen) <= 2  # never more than a batch at once, though forks allows 10
    assert ex.batches == 3 and ex.stopped_after_batch is None and ex.stop_reason == ""


def test_a_failed_batch_stops_the_later_ones_and_they_are_reported_skipped() -> None:
    hs = hosts(5)
    scripts = {h.name: FakeHost(responses=[("", FakeResponse("x"))]) for h in hs}
    scripts["h01"] = FakeHost(connect_error=ConnectError("h01: connection refused"))
    ex = Executor(TransportOptions(), opener=fake_opener(scripts))
    streamed: list[str] = []
    results = ex.run(hs, command_job("x"), on_result=lambda r: streamed.append(r.name),
                     batching=Batches((2,), 0))
    assert [r.status for r in results] == [Status.OK, Status.UNREACHABLE] + [Status.SKIPPED] * 3
    assert sorted(streamed) == sorted(h.name for h in hs)  # the processors see every host
    reason = "batch 1 failed 1 of 2 hosts (50%) > max_fail_percentage 0 (failed: h01)"
    assert ex.stopped_after_batch == 1 and ex.stop_reason == reason
    assert all(r.error == HostError("not_run", f"not run: {reason}") and r.data == {} for r in results[2:])


def test_without_serial_max_fail_percentage_judges_the_whole_play_as_one_batch() -> None:
    hs = hosts(3)
    scripts = {h.name: FakeHost(responses=[("", FakeResponse("x", exit_code=1 if h.name == "h00" else 0))])
               for h in hs}
    ex = Executor(TransportOptions(), opener=fake_opener(scripts))
    results = ex.run(hs, command_job("x"), batching=Batches((), 0))
    assert [r.status for r in results] == [Status.FAILED, Status.OK, Status.OK]  # every host ran to its end
    assert ex.batches == 1 and ex.stopped_after_batch is None
    assert ex.stop_reason.startswith("batch 1 failed 1 of 3 hosts (33.3%) > max_fail_percentage 0")


def test_ctrl_c_in_a_batch_marks_the_later_batches_interrupted() -> None:
    hs = hosts(4)
    scripts = {h.name: FakeHost(responses=[("", FakeResponse("x", delay_s=0.01))]) for h in hs}

    def on_result(r: HostResult) -> None:
        if r.name == "h01":
            raise KeyboardInterrupt

    ex = Executor(TransportOptions(), opener=fake_opener(scripts))
    started = time.monotonic()
    results = ex.run(hs, command_job("x"), on_result=on_result, batching=Batches((2,)))
    assert time.monotonic() - started < 2
    assert ex.interrupted and ex.interrupted_by == "SIGINT"
    assert [r.status for r in results[2:]] == [Status.INTERRUPTED, Status.INTERRUPTED]
    assert results[3].error == HostError("interrupted", "interrupted before this host's batch started")
    assert results[1].status is Status.OK  # what finished is kept


def report(*statuses: Status, stopped: int | None = None) -> RunReport:
    return RunReport("play", 0.0, 0.1, tuple(result(f"h{i}", s) for i, s in enumerate(statuses)), batches=2,
                     stopped_after_batch=stopped, stop_reason="why" if stopped else "")


def test_a_stopped_play_never_exits_0_and_its_summary_says_so() -> None:
    assert exit_code_for(report(Status.OK, Status.UNREACHABLE, Status.SKIPPED, stopped=1)) is ExitCode.UNREACHABLE
    assert exit_code_for(report(Status.FAILED, Status.SKIPPED, stopped=1)) is ExitCode.CRIT
    assert exit_code_for(report(Status.OK, Status.SKIPPED, stopped=1)) is ExitCode.CRIT  # even if oddly built
    assert exit_code_for(report(Status.OK, Status.SKIPPED)) is ExitCode.OK
    out = summary(report(Status.FAILED, Status.SKIPPED, stopped=1), 5)
    assert (out["batches"], out["stopped_after_batch"], out["stop_reason"]) == (2, 1, "why")
    assert "batches" not in summary(RunReport("run", 0.0, 0.1, ()), 0)  # not a batched run: keys unchanged
