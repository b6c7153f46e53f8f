"""The executor against scripted hosts: concurrency, order, error mapping, deadlines, audit."""

from __future__ import annotations

import time

from rmmctl.api import command_job, ping_job
from rmmctl.errors import AuthError, ConnectError, HostKeyError
from rmmctl.executor import Executor
from rmmctl.inventory.model import Host
from rmmctl.models import Status
from rmmctl.secrets import Redactor
from rmmctl.transports import TransportOptions
from rmmctl.transports.fake import FakeHost, FakeResponse, fake_opener


def hosts(n: int) -> list[Host]:
    return [Host(f"h{i:02d}", f"127.0.0.{i + 1}") for i in range(n)]


def test_runs_hosts_concurrently_within_forks_and_keeps_inventory_order() -> None:
    hs = hosts(8)
    scripts = {h.name: FakeHost(responses=[("sleep", FakeResponse("x\n", delay_s=0.4 - i * 0.04))])
               for i, h in enumerate(hs)}
    ex = Executor(TransportOptions(), forks=8, opener=fake_opener(scripts))
    finished: list[str] = []
    started = time.monotonic()
    results = ex.run(hs, command_job("sleep"), on_result=lambda r: finished.append(r.name))
    elapsed = time.monotonic() - started
    assert elapsed < 1.5, elapsed  # in parallel: ~0.4 s; in series it would take 1.8 s
    assert [r.name for r in results] == [h.name for h in hs]
    assert finished != [h.name for h in hs]  # streamed as they finished (later hosts were quicker)
    assert all(r.status is Status.OK and r.data["stdout"] == "x\n" for r in results)


def test_forks_bound_concurrency() -> None:
    hs = hosts(4)
    scripts = {h.name: FakeHost(responses=[("", FakeResponse(delay_s=0.1))]) for h in hs}
    started = time.monotonic()
    Executor(TransportOptions(), forks=2, opener=fake_opener(scripts)).run(hs, command_job("true"))
    assert time.monotonic() - started >= 0.2  # two waves of two


def test_one_bad_host_never_stops_the_run_and_errors_map_to_statuses() -> None:
    hs = hosts(5)
    scripts = {
        "h00": FakeHost(responses=[("", FakeResponse("ok"))]),
        "h01": FakeHost(connect_error=ConnectError("h01: connection refused")),
        "h02": FakeHost(connect_error=AuthError("h02: authentication failed")),
        "h03": FakeHost(connect_error=HostKeyError("h03: host key changed")),
        "h04": FakeHost(responses=[("", FakeResponse(raises=None, exit_code=3, stderr="boom"))]),
    }
    results = Executor(TransportOptions(), opener=fake_opener(scripts)).run(hs, command_job("x"))
    assert [r.status for r in results] == [Status.OK, Status.UNREACHABLE, Status.AUTH_FAILED,
                                           Status.AUTH_FAILED, Status.FAILED]
    assert results[1].error is not None and results[1].error.kind == "connect"
    assert results[3].error is not None and results[3].error.kind == "host_key"
    assert results[4].data["exit_code"] == 3 and results[4].error is None


def test_host_deadline_gives_timeout() -> None:
    hs = hosts(1)
    scripts = {"h00": FakeHost(responses=[("", FakeResponse(delay_s=5))])}
    started = time.monotonic()
    [result] = Executor(TransportOptions(), host_timeout=0.3, opener=fake_opener(scripts)).run(hs, command_job("x"))
    assert result.status is Status.TIMEOUT
    assert time.monotonic() - started < 1.0


def test_a_bug_in_a_task_is_an_error_status_not_a_crash() -> None:
    def broken(ctx):
        raise ValueError("bad parse\nsecond line")

    [result] = Executor(TransportOptions(), opener=fake_opener({"h00": FakeHost()})).run(hosts(1), broken)
    assert result.status is Status.ERROR
    assert result.error is not None and result.error.kind == "internal"
    assert "\n" not in result.error.message and "--debug" in result.error.message


def test_audit_records_every_command_with_secrets_redacted() -> None:
    redactor = Redactor()
    redactor.add("hunter22")
    scripts = {"h00": FakeHost(responses=[("", FakeResponse("rmmctl-ping\nroot\nbox\n"))])}
    ex = Executor(TransportOptions(redactor=redactor), opener=fake_opener(scripts))
    [result] = ex.run(hosts(1), command_job("echo hunter22"))
    assert [a.detail for a in result.audit] == ["echo ********"]
    assert result.data["command"] == "echo ********"
    [pinged] = ex.run(hosts(1), ping_job)
    assert pinged.status is Status.OK and pinged.data["remote_hostname"] == "box"


def test_a_kept_executor_reuses_its_workers_and_streams_every_result_once() -> None:
    """keep=True: the second run starts no thread (a watch round on open connections), every host's result
    reaches on_result exactly once, and close() lets the workers go."""
    import threading

    hs = hosts(12)
    scripts = {h.name: FakeHost(responses=[("", FakeResponse("x\n", delay_s=0.01 * (i % 4)))] * 3)
               for i, h in enumerate(hs)}
    ex = Executor(TransportOptions(), forks=4, opener=fake_opener(scripts), keep=True)
    seen: list[str] = []
    assert all(r.status is Status.OK for r in ex.run(hs, command_job("true"), on_result=lambda r: seen.append(r.name)))
    workers = {t for t in threading.enumerate() if t.name.startswith("rmmctl_")}
    assert 0 < len(workers) <= 4
    seen.clear()
    results = ex.run(hs, command_job("true"), on_result=lambda r: seen.append(r.name))
    assert sorted(seen) == sorted(h.name for h in hs) and [r.name for r in results] == [h.name for h in hs]
    assert {t for t in threading.enumerate() if t.name.startswith("rmmctl_")} == workers  # the same threads
    ex.close()
    end = time.monotonic() + 5
    while any(t.is_alive() for t in workers) and time.monotonic() < end:
        time.sleep(0.01)
    assert not any(t.is_alive() for t in workers)
