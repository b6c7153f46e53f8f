"""`rmmctl watch`'s round job: the slow sections (host, os, reboot, updates) come from the host's last full
probe while it is young, the rest are probed every round, in one exec either way."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from test_windows_probe import probe

from rmmctl import probes
from rmmctl.executor import HostContext
from rmmctl.facts import Facts
from rmmctl.health import SLOW_SECTIONS, STATUS_SECTIONS, status_job, watch_job
from rmmctl.inventory.model import Host
from rmmctl.transports import TransportOptions
from rmmctl.transports.fake import FakeHost, FakeTransport


class Recording:
    """The Windows prober answered from the healthy fixtures, recording the sections of each call."""

    platform = "windows"
    sections = STATUS_SECTIONS

    def __init__(self) -> None:
        self.calls: list[tuple[str, ...]] = []

    def collect(self, ctx: HostContext, sections: Sequence[str], params: Mapping[str, Any] | None = None,
                **options: Any) -> Facts:
        self.calls.append(tuple(sections))
        return probe(list(sections), {"*": "healthy"})[0]


@pytest.fixture
def prober() -> Any:
    rec = Recording()
    probes.register(rec)
    yield rec
    probes.unregister("windows")


def steady(data: Mapping[str, Any]) -> dict[str, Any]:
    """The round's data without the clock skew, which moves between any two probes."""
    return {**data, "summary": {k: v for k, v in data["summary"].items() if k != "skew_s"}}


def ctx() -> HostContext:
    host = Host("win01", "127.0.0.1", connection="winrm")
    return HostContext(host, FakeTransport(host, FakeHost()), None, TransportOptions().redactor)


def test_slow_sections_are_probed_once_then_every_slow_every_s(prober: Recording) -> None:
    now = [1000.0]
    job = watch_job(slow_every_s=600, clock=lambda: now[0])
    first = job(ctx())
    assert prober.calls[-1] == STATUS_SECTIONS
    now[0] += 30
    second = job(ctx())
    assert set(prober.calls[-1]) == set(STATUS_SECTIONS) - set(SLOW_SECTIONS)
    assert steady(second.data) == steady(first.data)  # the OS, name, updates, reboot: from the cache
    assert second.data["summary"]["os_short"] == "Windows 10 22H2" and second.data["summary"]["updates"] == 0
    assert second.status == first.status and second.data["findings"] == first.data["findings"]
    now[0] += 600
    job(ctx())
    assert prober.calls[-1] == STATUS_SECTIONS  # old enough: everything again


def test_a_round_judges_like_status(prober: Recording) -> None:
    job = watch_job()
    job(ctx())
    later = job(ctx())
    plain = status_job(ctx())
    assert steady(later.data) == steady(plain.data) and later.status == plain.status
