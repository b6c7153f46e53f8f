"""rmmctl watch without hosts: the view's model (changed cells, events, backoff), the dashboard's
rendering, and the executor keeping transports across runs (scripted hosts)."""

from __future__ import annotations

import io

from rich.console import Console

from rmmctl.api import command_job
from rmmctl.errors import ConnectError
from rmmctl.executor import Executor
from rmmctl.inventory.model import Host
from rmmctl.models import Finding, HostError, HostResult, RunReport, Severity, Status
from rmmctl.render.watch import dashboard
from rmmctl.transports import TransportOptions
from rmmctl.transports.fake import FakeHost, FakeResponse, FakeTransport
from rmmctl.watch import Watch, WatchView, backoff

HOSTS = [Host("web-01", "192.0.2.1"), Host("web-02", "192.0.2.2")]
DISK = Finding("disk", Severity.WARNING, "/srv is 91% full")


def answered(name: str, mem: float, *findings: Finding, disk: float = 40.0) -> HostResult:
    summary = {"cpu_pct": 3.0, "mem_pct": mem, "worst_fs": {"mount": "/srv", "used_pct": disk}}
    status = Status.WARN if findings else Status.OK
    return HostResult(name, "", status, data={"summary": summary}, findings=tuple(findings))


def down(name: str) -> HostResult:
    return HostResult(name, "", Status.UNREACHABLE, HostError("connect", f"{name}: connection refused"))


def report(*results: HostResult) -> RunReport:
    return RunReport("watch", 0.0, 0.1, tuple(results))


def test_backoff_doubles_from_one_interval_up_to_the_cap() -> None:
    assert [backoff(n, 0.5, 30) for n in range(1, 9)] == [0.5, 1, 2, 4, 8, 16, 30, 30]
    assert backoff(1, 60, 30) == 60  # never shorter than the interval


def test_changed_cells_are_those_whose_text_moved_since_the_hosts_last_round() -> None:
    view = WatchView(HOSTS, interval=1, backoff_cap=30)
    view.update(report(answered("web-01", 40), answered("web-02", 50)), wall=100, now=1)
    assert view.rows["web-01"].changed == set()  # the first round sets values, it changes none
    assert view.rows["web-01"].cells == {"status": "ok", "cpu": "3%", "mem": "40%", "disk": "/srv 40%",
                                         "findings": "0"}
    view.update(report(answered("web-01", 73, DISK, disk=91), answered("web-02", 50)), wall=101, now=2)
    assert view.rows["web-01"].changed == {"status", "mem", "disk", "findings"}
    assert view.rows["web-02"].changed == set()
    assert [(e.host, e.kind, e.severity, e.text) for e in view.events] == [
        ("web-01", "new", "warning", "/srv is 91% full")]
    view.update(report(answered("web-01", 73)), wall=102, now=3)
    assert view.events[-1].kind == "resolved" and view.rows["web-01"].changed == {"status", "disk", "findings"}


def test_a_host_down_backs_off_sits_rounds_out_and_is_back_when_it_answers() -> None:
    view = WatchView(HOSTS, interval=1, backoff_cap=30)
    view.update(report(answered("web-01", 40), answered("web-02", 50)), wall=100, now=10)
    view.update(report(answered("web-01", 40), down("web-02")), wall=101, now=11)
    row = view.rows["web-02"]
    assert row.cells["status"] == "unreachable" and row.cells["mem"] == "50%"  # last values kept
    assert 11.9 <= row.next_try <= 12.0
    view.update(report(down("web-02")), wall=102, now=12)
    assert 13.8 <= row.next_try <= 14.0  # 2 intervals after the second failure
    assert [h.name for h in view.due(HOSTS, 13)] == ["web-01"]
    assert [e.kind for e in view.events] == ["down"]  # said once, not every round
    view.update(report(answered("web-02", 55)), wall=103, now=14)
    assert row.failures == 0 and row.cells["status"] == "ok" and view.events[-1].kind == "back"
    assert [h.name for h in view.due(HOSTS, 14)] == ["web-01", "web-02"]


def test_rounds_are_recorded_at_most_every_record_every_seconds() -> None:
    session = Watch(HOSTS, Executor(TransportOptions()), interval=1, record_every=300)
    assert session.should_record(0)
    session._recorded_at = 0
    assert not session.should_record(299) and session.should_record(300)
    assert not Watch(HOSTS, Executor(TransportOptions()), interval=1, record_every=None).should_record(0)


def render(view: WatchView, height: int) -> str:
    console = Console(file=io.StringIO(), width=100, color_system=None)
    console.print(dashboard(view, height=height, title="rmmctl watch all", footer="q quits", now=0))
    return console.file.getvalue()  # type: ignore[attr-defined]


def test_dashboard_shows_every_host_and_events_and_counts_what_does_not_fit() -> None:
    view = WatchView(HOSTS, interval=1, backoff_cap=30)
    view.update(report(answered("web-01", 40, DISK), down("web-02")), wall=100, now=-5)
    text = render(view, 24)
    assert "web-01" in text and "web-02" in text and "/srv 40%" in text and "unreachable (retry in" not in text
    assert "web-01 new warning: /srv is 91% full" in text and "web-02 down: unreachable: web-02: connection refused" in text
    assert "q quits" in text
    three = WatchView([*HOSTS, Host("web-03", "192.0.2.3")], interval=1, backoff_cap=30)
    small = render(three, 8)  # a terminal shrunk to 8 lines: one host row and a count of the rest
    assert "web-01" in small and "web-02" not in small and "2 more" in small and "Events" not in small


class Counting:
    """A fake opener that counts the transports it built."""

    def __init__(self, script: FakeHost) -> None:
        self.script = script
        self.built: list[FakeTransport] = []

    def __call__(self, host: Host, options: object, *, deadline: float | None = None) -> FakeTransport:
        self.built.append(FakeTransport(host, self.script, deadline=deadline))
        return self.built[-1]


def test_a_keeping_executor_reuses_each_hosts_transport_and_drops_a_failed_one() -> None:
    script = FakeHost(responses=[("true", FakeResponse("ok\n"))])
    opener = Counting(script)
    ex = Executor(TransportOptions(), opener=opener, keep=True)
    for _ in range(3):
        [result] = ex.run(HOSTS[:1], command_job("true"))
        assert result.status is Status.OK
    assert len(opener.built) == 1 and ex.opened == 1 and ex.kept == 1 and not opener.built[0].closed
    script.responses.insert(0, ("true", FakeResponse(raises=ConnectError("web-01: connection lost"))))
    [result] = ex.run(HOSTS[:1], command_job("true"))
    assert result.status is Status.UNREACHABLE and opener.built[0].closed and ex.kept == 0
    script.responses.pop(0)
    ex.run(HOSTS[:1], command_job("true"))
    assert len(opener.built) == 2 and ex.kept == 1
    ex.close()
    assert opener.built[1].closed and ex.kept == 0


def test_without_keep_every_run_opens_and_closes() -> None:
    opener = Counting(FakeHost(responses=[("true", FakeResponse("ok\n"))]))
    ex = Executor(TransportOptions(), opener=opener)
    ex.run(HOSTS[:1], command_job("true"))
    ex.run(HOSTS[:1], command_job("true"))
    assert len(opener.built) == 2 and all(t.closed for t in opener.built) and ex.kept == 0
